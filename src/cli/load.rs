//! Loading user files into library types, turning every problem into an `InputError`.

use std::path::Path;

use crate::diagnostic::InputError;
use crate::genome::library::{library_names_hint, library_source};
use crate::genome::{Genome, Limits, load};

pub use crate::input::read_text;

/// Load and check a genome from a file path, or from the seed library as `lib:NAME`.
pub fn load_genome(spec: &str, limits: &Limits) -> Result<(Genome, String), InputError> {
    let (path, text) = match spec.strip_prefix("lib:") {
        Some(name) => match library_source(name) {
            Some(t) => (format!("<library>/{name}.mech"), t.into_owned()),
            None => {
                return Err(InputError::usage(format!("no library mechanism named `{name}`"), library_names_hint()));
            }
        },
        None => (spec.to_string(), crate::input::read_text_limited(Path::new(spec), crate::input::MAX_GENOME_BYTES)?),
    };
    match load(&text, limits) {
        Ok(g) => Ok((g, text)),
        Err(diagnostics) => Err(InputError::Source { path: path.into(), text, diagnostics }),
    }
}
