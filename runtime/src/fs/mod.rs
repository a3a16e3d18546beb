//! Files, on the blocking pool: the calls users reach first ([`read`], [`read_to_string`],
//! [`write`], ...) and a [`File`] with futures-io's `AsyncRead` / `AsyncWrite` / `AsyncSeek`.
//!
//! Regular files have no readiness (they are always "ready" to `epoll`, and a read may still
//! block on the disk), so every operation runs as a blocking job (`spawn_blocking`) on the
//! runtime's blocking pool, never on a worker.
//!
//! # Cancellation
//!
//! Each call is a checkpoint. A job that has started runs to completion on its pool thread:
//! cancelling a free function such as [`write`] drops its result, but the file may have been
//! written. A [`File`] keeps its job across a cancelled `read` or `write`, so nothing is lost:
//! the next call on the file picks up that job's bytes or waits for its write.

mod file;

use std::io;
use std::path::{Path, PathBuf};

pub use file::File;

/// Runs `f` on the blocking pool and returns its result.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    crate::spawn_blocking(f).await.map_err(io::Error::other)?
}

/// Reads the whole file at `path`.
///
/// # Errors
///
/// The open or read error (`NotFound`, ...).
///
/// # Panics
///
/// Outside a Trellis runtime.
///
/// # Cancellation
///
/// See the [module documentation](self): a checkpoint; the read runs on in the background.
///
/// # Example
///
/// ```
/// # trellis::run(async {
/// let path = std::env::temp_dir().join(format!("trellis-doc-read-{}", std::process::id()));
/// trellis::fs::write(&path, b"bytes").await.unwrap();
/// assert_eq!(trellis::fs::read(&path).await.unwrap(), b"bytes");
/// # trellis::fs::remove_file(&path).await.unwrap();
/// # });
/// ```
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let path = path.as_ref().to_owned();
    blocking(move || std::fs::read(path)).await
}

/// Reads the whole file at `path` as UTF-8.
///
/// # Errors
///
/// The open or read error, or `InvalidData` if it is not UTF-8.
///
/// # Panics
///
/// Outside a Trellis runtime.
///
/// # Cancellation
///
/// See the [module documentation](self).
///
/// # Example
///
/// ```
/// # trellis::run(async {
/// let path = std::env::temp_dir().join(format!("trellis-doc-rts-{}", std::process::id()));
/// trellis::fs::write(&path, "text").await.unwrap();
/// assert_eq!(trellis::fs::read_to_string(&path).await.unwrap(), "text");
/// # trellis::fs::remove_file(&path).await.unwrap();
/// # });
/// ```
pub async fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    let path = path.as_ref().to_owned();
    blocking(move || std::fs::read_to_string(path)).await
}

/// Creates or truncates the file at `path` and writes `contents`.
///
/// # Errors
///
/// The open or write error.
///
/// # Panics
///
/// Outside a Trellis runtime.
///
/// # Cancellation
///
/// See the [module documentation](self): a cancelled `write` may still write the file.
///
/// # Example
///
/// See [`read`].
pub async fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let (path, contents) = (path.as_ref().to_owned(), contents.as_ref().to_owned());
    blocking(move || std::fs::write(path, contents)).await
}

/// Removes the file at `path`.
///
/// # Errors
///
/// The unlink error (`NotFound`, ...).
///
/// # Panics
///
/// Outside a Trellis runtime.
///
/// # Cancellation
///
/// See the [module documentation](self).
///
/// # Example
///
/// ```
/// # trellis::run(async {
/// let path = std::env::temp_dir().join(format!("trellis-doc-rm-{}", std::process::id()));
/// trellis::fs::write(&path, "x").await.unwrap();
/// trellis::fs::remove_file(&path).await.unwrap();
/// assert!(trellis::fs::metadata(&path).await.is_err());
/// # });
/// ```
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    blocking(move || std::fs::remove_file(path)).await
}

/// The metadata of the file at `path` (following symlinks).
///
/// # Errors
///
/// The `stat` error.
///
/// # Panics
///
/// Outside a Trellis runtime.
///
/// # Cancellation
///
/// See the [module documentation](self).
///
/// # Example
///
/// ```
/// # trellis::run(async {
/// assert!(trellis::fs::metadata(".").await.unwrap().is_dir());
/// # });
/// ```
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<std::fs::Metadata> {
    let path = path.as_ref().to_owned();
    blocking(move || std::fs::metadata(path)).await
}

/// Creates a directory and its missing parents.
///
/// # Errors
///
/// The `mkdir` error.
///
/// # Panics
///
/// Outside a Trellis runtime.
///
/// # Cancellation
///
/// See the [module documentation](self).
///
/// # Example
///
/// ```
/// # trellis::run(async {
/// let dir = std::env::temp_dir().join(format!("trellis-doc-mkdir-{}/a/b", std::process::id()));
/// trellis::fs::create_dir_all(&dir).await.unwrap();
/// assert!(trellis::fs::metadata(&dir).await.unwrap().is_dir());
/// # });
/// ```
pub async fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path: PathBuf = path.as_ref().to_owned();
    blocking(move || std::fs::create_dir_all(path)).await
}
