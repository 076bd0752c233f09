//! Atomic file replacement: write a temporary file beside the target, fsync it, rename
//! it over the target, fsync the directory. A crash leaves either the old file or the
//! new one, never a torn mix (and at worst a stale `.NAME.tmp-PID-HOST-N` file, which
//! [`remove_stale_temps`] clears when the folder is next opened for writing).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use super::crashpoint::{self, step};

/// Atomically replace `path` with `bytes`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    // Unique per write: several processes, on several machines sharing a file system
    // (Slurm workers writing the trial cache), may replace the same file at once.
    let tmp = dir.join(format!(".{}{TEMP_MARK}{}", name.to_string_lossy(), crate::input::unique_writer_tag()));
    let result = (|| {
        step()?;
        let mut f = File::create(&tmp)?;
        step()?;
        f.write_all(bytes)?;
        step()?;
        f.sync_all()?;
        step()?;
        fs::rename(&tmp, path)?;
        step()?;
        if let Ok(d) = File::open(dir) {
            // Not every platform can fsync a directory; the rename is done either way.
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() && !crashpoint::crashed() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Append `bytes` to `path` (created if missing) and fsync it.
pub fn append_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    step()?;
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    step()?;
    file.write_all(bytes)?;
    step()?;
    file.sync_all()
}

/// Cut `path` back to `len` bytes and fsync it.
pub fn truncate_synced(path: &Path, len: u64) -> io::Result<()> {
    step()?;
    let file = OpenOptions::new().write(true).open(path)?;
    file.set_len(len)?;
    step()?;
    file.sync_all()
}

/// What marks a temporary file of [`write_atomic`]: `.NAME.tmp-PID-HOST-N`.
const TEMP_MARK: &str = ".tmp-";

/// Remove the temporary files an interrupted [`write_atomic`] left in `dir`. Call it only
/// while holding the folder's lock: another writer's temporary file is not stale.
pub fn remove_stale_temps(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.contains(TEMP_MARK) && entry.file_type()?.is_file() {
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_contents_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.txt");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_crash_before_the_rename_leaves_the_old_file_and_a_stale_temp_that_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.txt");
        write_atomic(&p, b"old").unwrap();
        crashpoint::arm(4); // create, write, fsync pass; the rename is where it dies
        assert!(write_atomic(&p, b"new").is_err());
        crashpoint::disarm();
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2, "the temp file stays, as after a kill");
        remove_stale_temps(dir.path()).unwrap();
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
