//! Reading the user's input files (scenarios, genomes, tables) and preparing the output
//! folders they name, with errors that say what is wrong and how to fix it. It lives in the library, below both the CLI and the
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

/// Create an output folder (and its parents), or explain why it cannot be one: a path
/// that names an existing file is bad input (exit code 2), not an I/O failure.
pub fn output_dir(path: &Path) -> Result<(), InputError> {
    if path.exists() && !path.is_dir() {
        return Err(InputError::file(path, "is a file, not a folder", "choose a folder for the output (--out DIR)"));
    }
    std::fs::create_dir_all(path).map_err(|e| {
        InputError::file(path, format!("cannot create this folder: {e}"), "choose a writable folder (--out DIR)")
    })
}
