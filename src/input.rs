//! Reading the user's input files (scenarios, genomes, tables) and preparing the output
//! folders they name, with errors that say what is wrong and how to fix it. It lives in the library, below both the CLI and the
//! loaders that need it (`scenario`, `swarm`), so no library module reaches up into `cli`.

use std::io::Read;
use std::path::Path;

use crate::diagnostic::InputError;

/// The largest text file read (scenarios, tables, specs): far above any real one, far
/// below what would exhaust memory.
pub const MAX_TEXT_BYTES: u64 = 64 << 20;
/// The largest genome file read (the node limit keeps real genomes a few KB long).
pub const MAX_GENOME_BYTES: u64 = 64 << 10;
/// The largest binary file read (checkpoints, lessons).
pub const MAX_BINARY_BYTES: u64 = 1 << 30;
/// The largest corpus read.
pub const MAX_CORPUS_BYTES: u64 = 256 << 20;

/// Read at most `max` bytes of `path`. A longer file, or an endless one such as
/// `/dev/zero`, fails with [`std::io::ErrorKind::FileTooLarge`] after reading `max + 1`
/// bytes, so no input can exhaust memory.
pub fn read_bytes(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    if file.metadata()?.is_dir() {
        return Err(std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a folder, not a file"));
    }
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!("larger than the limit of {max} bytes"),
        ));
    }
    Ok(bytes)
}

/// The largest file hashed for an identity (a command objective's program and the
/// files it names): streamed, never held whole, so a large binary costs no memory.
pub const MAX_HASHED_BYTES: u64 = 64 << 30;

/// Hand every byte of `path` to `each`, in order, in chunks (never the whole file in
/// memory), after its length; a file longer than `max` fails like [`read_bytes`].
/// Returns the length.
pub fn stream_bytes(path: &Path, max: u64, mut each: impl FnMut(&[u8])) -> std::io::Result<u64> {
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if meta.is_dir() {
        return Err(std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a folder, not a file"));
    }
    if meta.len() > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!("larger than the limit of {max} bytes"),
        ));
    }
    let mut reader = file.take(max + 1);
    let mut chunk = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > max {
            return Err(std::io::Error::new(
                std::io::ErrorKind::FileTooLarge,
                format!("larger than the limit of {max} bytes"),
            ));
        }
        each(&chunk[..n]);
    }
    Ok(total)
}

/// Read a text file, or explain why it cannot be read.
pub fn read_text(path: &Path) -> Result<String, InputError> {
    read_text_limited(path, MAX_TEXT_BYTES)
}

/// Read a text file of at most `max` bytes, or explain why it cannot be read.
pub fn read_text_limited(path: &Path, max: u64) -> Result<String, InputError> {
    match read_bytes(path, max) {
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
        Err(e) if e.kind() == std::io::ErrorKind::FileTooLarge => Err(InputError::file(
            path,
            format!("too large: {e}"),
            "pass the intended file; inputs this large are refused",
        )),
        Err(e) if e.kind() == std::io::ErrorKind::IsADirectory => {
            Err(InputError::file(path, "is a folder, not a file", "pass a file"))
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

/// A name part no other writer shares, in this process or another on any machine on a
/// shared file system: `PID-HOST-N`. Temporary files that are renamed over their
/// target carry it, so concurrent writers never write into each other's file.
pub fn unique_writer_tag() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host: String = host.trim().chars().filter(char::is_ascii_alphanumeric).take(32).collect();
    format!("{}-{host}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}
