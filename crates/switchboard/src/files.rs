//! Files only this service's user may read: the data directory (0700), the SQLite
//! database (0600; SQLite gives its `-wal` and `-shm` files the database's mode) and
//! the secret key file.

use std::path::Path;

/// Creates `dir` and any missing parents, new ones readable by the owner only. An
/// existing directory keeps its mode (the operator chose it).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Creates an empty `path` readable and writable by the owner only, unless it exists.
pub fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path).map(drop)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn new_dirs_and_files_are_private() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let root = std::env::temp_dir().join(format!("sbfiles-{}-{nanos}", std::process::id()));
        let dir = root.join("a/b");
        create_private_dir(&dir).expect("dir");
        let file = dir.join("x.db");
        create_private_file(&file).expect("file");
        create_private_file(&file).expect("again, untouched");
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&file), 0o600);
        let _ = std::fs::remove_dir_all(&root);
    }
}
