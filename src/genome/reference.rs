//! The language reference, generated from the primitive table so that it never drifts
//! from the language: one row per primitive with its signature and documentation,
//! grouped by what it produces. `outerloop mech prims` prints it and
//! `scenarios/mechanisms/README.md` carries it word for word (a test compares them).

use super::check::signature;
use super::prim::{Prim, Type};

/// The groups of the reference, in order: a heading and the result type it collects
/// (`None` collects the polymorphic `if`).
const GROUPS: [(&str, Option<Type>); 6] = [
    ("Points (`point`)", Some(Type::Point)),
    ("Models (`model`)", Some(Type::Model)),
    ("Numbers (`real`)", Some(Type::Real)),
    ("Truth values (`bool`)", Some(Type::Bool)),
    ("Actions (`action`, the `update` hook)", Some(Type::Action)),
    ("Either type", None),
];

/// The reference as Markdown: a table per group, a row per primitive.
pub fn markdown() -> String {
    let mut out = String::new();
    for (heading, ty) in GROUPS {
        out.push_str(&format!("#### {heading}\n\n| Primitive | Signature | Meaning |\n| --- | --- | --- |\n"));
        for p in Prim::ALL.iter().filter(|p| p.result() == ty) {
            let doc = p.doc().lines().map(str::trim).collect::<Vec<_>>().join(" ");
            out.push_str(&format!("| `{}` | {} | {} |\n", p.name(), signature(*p), doc.replace('|', "\\|")));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_primitive_appears_once() {
        let text = markdown();
        for p in Prim::ALL {
            assert_eq!(text.matches(&format!("| `{}` |", p.name())).count(), 1, "{}", p.name());
        }
    }

    #[test]
    fn the_mechanisms_readme_carries_the_reference() {
        let readme = include_str!("../../scenarios/mechanisms/README.md");
        assert!(
            readme.contains(&markdown()),
            "scenarios/mechanisms/README.md is out of date: replace its primitive tables with `outerloop mech prims`"
        );
    }
}
