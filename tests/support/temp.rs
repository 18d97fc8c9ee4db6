//! A directory of a test's own under the system's temp directory.

use std::path::{Path, PathBuf};

/// A new directory under the system's temp directory, with a unique name,
/// removed with everything in it when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new, empty directory.
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "sessionkit-test-{}-{}",
            std::process::id(),
            sessionkit::SessionId::generate()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// A database file in it (not created).
    pub fn db(&self) -> PathBuf {
        self.0.join("sessions.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
