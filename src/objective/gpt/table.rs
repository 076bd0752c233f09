//! Tabulated real trials and the `gpt-table` objective.
