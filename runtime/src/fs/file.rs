//! An open file whose reads, writes and seeks run as blocking jobs.
//!
//! # The state machine
//!
//! The file is `Idle` (holding a buffer, maybe with read-ahead bytes) or `Busy` (one job on
//! the pool owns the buffer). A read copies out read-ahead bytes, or starts a job that reads
//! up to [`CHUNK`] bytes into the buffer. A write copies up to `CHUNK` bytes into the buffer
//! and starts a job that writes them all, reporting them written at once (as a buffered writer
//! does); its error, if any, comes back from the next operation (`flush` and `close` wait for
//! it). Any operation that finds the file `Busy` first waits for that job. Because the job's
//! outcome lands in the file, not in the future that started it, a cancelled operation loses
//! nothing: its job's bytes or error are picked up by the next call.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use futures_io::{AsyncRead, AsyncSeek, AsyncWrite};

use crate::JoinHandle;
use crate::scheduler::coop;

/// The most one job reads or writes.
const CHUNK: usize = 64 * 1024;

/// A file on the blocking pool, with futures-io's `AsyncRead`, `AsyncWrite` and `AsyncSeek`
/// (see the [module documentation](crate::fs)).
///
/// Writes are buffered: call `flush()` or `close()` (futures-lite's `AsyncWriteExt`) to learn
/// whether the last one succeeded; dropping the file lets a pending write finish in the
/// background.
///
/// # Example
///
/// ```
/// use futures_lite::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
/// use std::io::SeekFrom;
///
/// # trellis::run(async {
/// let path = std::env::temp_dir().join(format!("trellis-doc-file-{}", std::process::id()));
/// let mut file = trellis::fs::File::create(&path).await.unwrap();
/// file.write_all(b"hello, file").await.unwrap();
/// file.seek(SeekFrom::Start(7)).await.unwrap();
/// let mut tail = String::new();
/// file.read_to_string(&mut tail).await.unwrap();
/// assert_eq!(tail, "file");
/// file.close().await.unwrap();
/// # trellis::fs::remove_file(&path).await.unwrap();
/// # });
/// ```
#[derive(Debug)]
pub struct File {
    std: Arc<std::fs::File>,
    state: State,
}

#[derive(Debug)]
enum State {
    Idle(Buf),
    Busy(JoinHandle<(Done, Buf)>),
}

/// The buffer: read-ahead bytes are `data[pos..]`.
#[derive(Debug, Default)]
struct Buf {
    data: Vec<u8>,
    pos: usize,
}

impl Buf {
    fn unread(&self) -> usize {
        self.data.len() - self.pos
    }
}

/// What `poll_job` found.
#[derive(Debug, PartialEq)]
enum Finished {
    /// No job, or a write that succeeded.
    Nothing,
    /// A read (its bytes, if any, are in the buffer; none means end of file).
    Read,
    /// A seek, to this position.
    Seek(u64),
}

/// What a finished job did.
#[derive(Debug)]
enum Done {
    Read(io::Result<()>),
    Write(io::Result<()>),
    Seek(io::Result<u64>),
}

impl File {
    /// Opens the file at `path` for reading.
    ///
    /// # Errors
    ///
    /// The open error (`NotFound`, ...).
    ///
    /// # Panics
    ///
    /// Outside a Trellis runtime.
    ///
    /// # Cancellation
    ///
    /// A checkpoint; the open finishes in the background and the file is closed again.
    ///
    /// # Example
    ///
    /// ```
    /// # trellis::run(async {
    /// assert!(trellis::fs::File::open("/nonexistent/trellis").await.is_err());
    /// # });
    /// ```
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref().to_owned();
        Ok(File::from_std(
            super::blocking(move || std::fs::File::open(path)).await?,
        ))
    }

    /// Creates (or truncates) the file at `path` for writing (and reading).
    ///
    /// # Errors
    ///
    /// The open error.
    ///
    /// # Panics
    ///
    /// Outside a Trellis runtime.
    ///
    /// # Cancellation
    ///
    /// A checkpoint; the file may have been created.
    ///
    /// # Example
    ///
    /// See [`File`].
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref().to_owned();
        let open = move || {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(path)
        };
        Ok(File::from_std(super::blocking(open).await?))
    }

    /// Wraps an open std file.
    ///
    /// # Example
    ///
    /// ```
    /// # trellis::run(async {
    /// let std = std::fs::File::open(".").unwrap();
    /// let _file = trellis::fs::File::from_std(std);
    /// # });
    /// ```
    pub fn from_std(file: std::fs::File) -> File {
        File {
            std: Arc::new(file),
            state: State::Idle(Buf::default()),
        }
    }

    /// Waits for a pending write, then flushes the file's data and metadata to the disk
    /// (`fsync`).
    ///
    /// # Errors
    ///
    /// The pending write's error, or the `fsync` error.
    ///
    /// # Cancellation
    ///
    /// A checkpoint; the sync runs on in the background.
    ///
    /// # Example
    ///
    /// ```
    /// use futures_lite::AsyncWriteExt;
    /// # trellis::run(async {
    /// # let path = std::env::temp_dir().join(format!("trellis-doc-sync-{}", std::process::id()));
    /// let mut file = trellis::fs::File::create(&path).await.unwrap();
    /// file.write_all(b"durable").await.unwrap();
    /// file.sync_all().await.unwrap();
    /// # trellis::fs::remove_file(&path).await.unwrap();
    /// # });
    /// ```
    pub async fn sync_all(&mut self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_idle(cx)).await?;
        let std = self.std.clone();
        super::blocking(move || std.sync_all()).await
    }

    /// The file's metadata.
    ///
    /// # Errors
    ///
    /// The `fstat` error.
    ///
    /// # Cancellation
    ///
    /// A checkpoint.
    ///
    /// # Example
    ///
    /// ```
    /// # trellis::run(async {
    /// let file = trellis::fs::File::open(".").await.unwrap();
    /// assert!(file.metadata().await.unwrap().is_dir());
    /// # });
    /// ```
    pub async fn metadata(&self) -> io::Result<std::fs::Metadata> {
        let std = self.std.clone();
        super::blocking(move || std.metadata()).await
    }

    /// Waits until no job runs; returns what the finished job did, or its error (a failed
    /// write, say).
    fn poll_job(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Finished>> {
        let State::Busy(job) = &mut self.state else {
            return Poll::Ready(Ok(Finished::Nothing));
        };
        let (done, buf) = match ready!(Pin::new(job).poll(cx)) {
            Ok(finished) => finished,
            Err(e) => (Done::Write(Err(io::Error::other(e))), Buf::default()),
        };
        self.state = State::Idle(buf);
        Poll::Ready(match done {
            Done::Read(r) => r.map(|()| Finished::Read),
            Done::Write(r) => r.map(|()| Finished::Nothing),
            Done::Seek(r) => r.map(Finished::Seek),
        })
    }

    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_job(cx))?;
        Poll::Ready(Ok(()))
    }

    fn start(&mut self, job: impl FnOnce(&std::fs::File, Buf) -> (Done, Buf) + Send + 'static) {
        let State::Idle(buf) = std::mem::replace(&mut self.state, State::Idle(Buf::default()))
        else {
            unreachable!("jobs start only when idle");
        };
        let std = self.std.clone();
        self.state = State::Busy(crate::spawn_blocking(move || job(&std, buf)));
    }

    fn buf(&mut self) -> &mut Buf {
        match &mut self.state {
            State::Idle(buf) => buf,
            State::Busy(_) => unreachable!("the buffer is the job's while it runs"),
        }
    }
}

use std::future::Future as _;

impl AsyncRead for File {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        dst: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // A checkpoint before anything starts; the job's own wait is another.
        drop(ready!(coop::poll_proceed(cx)));
        loop {
            let finished = ready!(this.poll_job(cx))?;
            let buf = this.buf();
            if buf.unread() > 0 || dst.is_empty() || finished == Finished::Read {
                let n = buf.unread().min(dst.len());
                dst[..n].copy_from_slice(&buf.data[buf.pos..buf.pos + n]);
                buf.pos += n;
                return Poll::Ready(Ok(n));
            }
            let want = dst.len().min(CHUNK);
            this.start(move |file, mut buf| {
                buf.data.resize(want, 0);
                buf.pos = 0;
                let read = loop {
                    match (&mut &*file).read(&mut buf.data) {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        other => break other,
                    }
                };
                buf.data.truncate(*read.as_ref().unwrap_or(&0));
                (Done::Read(read.map(drop)), buf)
            });
            // Loop: the job may already be done; if not, `poll_idle` registers the waker.
        }
    }
}

impl AsyncWrite for File {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        src: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        drop(ready!(coop::poll_proceed(cx)));
        ready!(this.poll_idle(cx))?;
        let buf = this.buf();
        // Read-ahead bytes were not consumed: the write goes where the reader stands.
        let rewind = buf.unread() as i64;
        let n = src.len().min(CHUNK);
        buf.data.clear();
        buf.pos = 0;
        buf.data.extend_from_slice(&src[..n]);
        this.start(move |file, mut buf| {
            let mut file = file;
            let written = (|| {
                if rewind > 0 {
                    file.seek(SeekFrom::Current(-rewind))?;
                }
                file.write_all(&buf.data)
            })();
            buf.data.clear();
            (Done::Write(written), buf)
        });
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_idle(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_idle(cx)
    }
}

impl AsyncSeek for File {
    fn poll_seek(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        pos: SeekFrom,
    ) -> Poll<io::Result<u64>> {
        let this = self.get_mut();
        drop(ready!(coop::poll_proceed(cx)));
        loop {
            if let Finished::Seek(at) = ready!(this.poll_job(cx))? {
                return Poll::Ready(Ok(at));
            }
            let buf = this.buf();
            // The OS position is past the read-ahead bytes; a relative seek counts from the
            // reader's position.
            let pos = match pos {
                SeekFrom::Current(off) => SeekFrom::Current(off - buf.unread() as i64),
                other => other,
            };
            buf.data.clear();
            buf.pos = 0;
            this.start(move |file, buf| {
                let mut file = file;
                (Done::Seek(file.seek(pos)), buf)
            });
        }
    }
}
