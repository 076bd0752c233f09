//! The GPT task suite: the shipped tables by name, named suites with a declared
//! train/held-out split, and live-trial task names.
//!
//! Tables (all real trials, see `scenarios/tables/README.md`):
//!
//! | name | corpus | budget (GFLOP) | context | split |
//! |---|---|---|---|---|
//! | `synthetic` | synthetic skills | 20 | 32 | quickstart (the 648-config grid) |
//! | `synthetic-s` | synthetic skills | 20 | 32 | train |
//! | `synthetic-l` | synthetic skills | 80 | 64 | train |
//! | `shakespeare-s` | tinyshakespeare | 20 | 32 | train |
//! | `shakespeare-l` | tinyshakespeare | 80 | 64 | held-out |
//! | `records-s` | generated records | 20 | 32 | held-out |
//! | `records-l` | generated records | 80 | 64 | held-out |
//! | `shakespeare-xl` | tinyshakespeare | 160 | 64 | held-out, extra-large |
//! | `records-xl` | generated records | 160 | 64 | held-out, extra-large |
//!
//! The held-out split holds out a whole corpus (records, at both scales) and a scale of a
//! training corpus (shakespeare at 80 GFLOP), so "held-out" means tasks never seen during
//! evolution, not fresh seeds of a seen task. The extra-large tables are scored from 1/32
//! of the budget up: there a config's rank at the cheapest fidelity is a poor guide to its
//! final rank, so "always run the cheapest fidelity" is not a winning strategy (their own
//! suite, `suite:gpt-heldout-xl`, so the first held-out suite keeps its numbers).

use std::path::Path;

use super::table::{GptTable, Table, TableError};

/// Which side of the split a table is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// The quickstart's embedded grid, in no suite.
    Quickstart,
    /// Seen during evolution.
    Train,
    /// Used only for evaluation.
    HeldOut,
    /// Used only for evaluation: the extra-large tables whose cheap fidelities mislead.
    HeldOutXl,
}

/// A table shipped in the repository and embedded in the binary.
#[derive(Debug, Clone, Copy)]
pub struct ShippedTable {
    /// Name in `gpt-table:<name>`.
    pub name: &'static str,
    /// The file's text.
    pub text: &'static str,
    /// Its side of the split.
    pub split: Split,
}

/// Every shipped table.
pub const SHIPPED: &[ShippedTable] = &[
    ShippedTable {
        name: "synthetic",
        text: include_str!("../../../scenarios/tables/gpt-synthetic.tsv"),
        split: Split::Quickstart,
    },
    ShippedTable {
        name: "synthetic-s",
        text: include_str!("../../../scenarios/tables/synthetic-s.tsv"),
        split: Split::Train,
    },
    ShippedTable {
        name: "synthetic-l",
        text: include_str!("../../../scenarios/tables/synthetic-l.tsv"),
        split: Split::Train,
    },
    ShippedTable {
        name: "shakespeare-s",
        text: include_str!("../../../scenarios/tables/shakespeare-s.tsv"),
        split: Split::Train,
    },
    ShippedTable {
        name: "shakespeare-l",
        text: include_str!("../../../scenarios/tables/shakespeare-l.tsv"),
        split: Split::HeldOut,
    },
    ShippedTable {
        name: "records-s",
        text: include_str!("../../../scenarios/tables/records-s.tsv"),
        split: Split::HeldOut,
    },
    ShippedTable {
        name: "records-l",
        text: include_str!("../../../scenarios/tables/records-l.tsv"),
        split: Split::HeldOut,
    },
    ShippedTable {
        name: "shakespeare-xl",
        text: include_str!("../../../scenarios/tables/shakespeare-xl.tsv"),
        split: Split::HeldOutXl,
    },
    ShippedTable {
        name: "records-xl",
        text: include_str!("../../../scenarios/tables/records-xl.tsv"),
        split: Split::HeldOutXl,
    },
];

/// The shipped table `name`, loaded as an objective named `gpt-table:<name>`.
pub fn shipped_table(name: &str) -> Result<GptTable, TableError> {
    let shipped = SHIPPED.iter().find(|t| t.name == name).ok_or_else(|| TableError::Format {
        path: name.into(),
        line: 0,
        message: format!("no shipped table `{name}` (tables: {})", shipped_names()),
    })?;
    let path = format!("<shipped table {name}>");
    let table = Table::parse(Path::new(&path), shipped.text)?;
    if table.rows.is_empty() {
        return Err(TableError::Format {
            path: path.into(),
            line: 0,
            message: "the table holds no trials yet (build it: see scenarios/tables/README.md)".into(),
        });
    }
    Ok(GptTable::new(&format!("gpt-table:{name}"), table))
}

/// The shipped tables' names, comma-separated.
pub fn shipped_names() -> String {
    SHIPPED.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
}
