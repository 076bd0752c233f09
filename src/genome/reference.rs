//! The language reference, generated from the primitive table so that it never drifts
//! from the language: one row per primitive with its signature and documentation,
//! grouped by what it produces. `outerloop mech prims` prints it and
//! `scenarios/mechanisms/README.md` carries it word for word (a test compares them).

use super::check::signature;
use super::prim::{Prim, Type};

/// The hooks and types of the language (`scenarios/mechanisms/README.md` carries it word
/// for word; the language-model proposer's prompt quotes it with [`markdown`]).
pub const HOOKS: &str = r#"| Hook | Type | Called | Default |
| --- | --- | --- | --- |
| `(init N POINT)` | point | for the first `N` proposals (the initial design) | `(init 0 (uniform))` |
| `(propose POINT)` | point | for every later proposal | required |
| `(filter BOOL)` | bool | on each candidate before it costs anything; false asks `propose` again (at most 16 times) | `(filter true)` |
| `(fidelity REAL)` | real | on the accepted candidate: the fraction of a full trial to run, snapped up to the task's levels (0.125, 0.25, 0.5, 1) | `(fidelity 1)` |
| `(update ACTION ...)` | action | after every trial, in order | none |

`(state (NAME VALUE) ...)` declares real state variables read with `(get NAME)` and
written with `(set NAME VALUE)`; `(recommend mean)` hands in the config with the best
mean over its repeats instead of the best single draw. Types are `real`, `bool`,
`point` (a point of the unit cube; knobs are decoded from it), `action` and `model` (a
surrogate fitted to the history). Every value stays finite: division by zero gives 0,
NaN becomes 0, points are reflected into the cube.

"The candidate" is the point under review: the candidate of `filter` and `fidelity`, each
candidate `best-of` scores, and elsewhere the last evaluated point.
"#;

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
        assert!(readme.contains(HOOKS), "scenarios/mechanisms/README.md's hooks section differs from `HOOKS`");
    }
}
