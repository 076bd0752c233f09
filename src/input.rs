//! Reading the user's input files (scenarios, genomes, tables), with errors that say
//! what is wrong and how to fix it. It lives in the library, below both the CLI and the
//! loaders that need it (`scenario`, `swarm`), so no library module reaches up into `cli`.

use std::path::Path;

use crate::diagnostic::InputError;

/// Read a text file, or explain why it cannot be read.
pub fn read_text(path: &Path) -> Result<String, InputError> {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|e| {
            InputError::file(
                path,
                format!("not valid UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
                "save the file as UTF-8",
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(InputError::file(path, "no such file", "check the path (library mechanisms are named `lib:NAME`)"))
        }
        Err(e) => Err(InputError::file(path, format!("cannot be read: {e}"), "check the path and its permissions")),
    }
}
