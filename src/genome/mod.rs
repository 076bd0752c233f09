//! The mechanism language: syntax, checker, interpreter and genetic operators.
//!
//! A genome is data: parsing and checking return diagnostics instead of failing, and
//! the interpreter only runs checked programs, each hook call under a fuel limit.

pub mod ast;
pub mod check;
pub mod constants;
pub mod hash;
pub mod interp;
pub mod library;
pub mod mvn;
pub mod ops;
pub mod prim;
pub mod reference;
pub mod rungs;
pub mod simplify;
pub mod structural;
pub mod surrogate;
pub mod syntax;

pub use ast::Genome;
pub use check::Limits;
pub use interp::Program;

use crate::diagnostic::Diagnostic;

/// Parse and check a genome text: the genome, or every problem found.
pub fn load(text: &str, limits: &Limits) -> Result<Genome, Vec<Diagnostic>> {
    if text.len() > limits.max_source_bytes {
        return Err(vec![
            Diagnostic::new(
                format!("the genome text has {} bytes, more than the limit of {}", text.len(), limits.max_source_bytes),
                0..0,
            )
            .with_hint("a genome within the node limit is a few KB; pass the intended file"),
        ]);
    }
    let parsed = syntax::parse(text);
    match parsed.genome {
        Some(g) if parsed.diagnostics.is_empty() => {
            let diags = check::check(&g, limits);
            if diags.is_empty() { Ok(g) } else { Err(diags) }
        }
        _ => Err(parsed.diagnostics),
    }
}
