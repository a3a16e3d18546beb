//! Unix-domain stream sockets on the runtime's reactor.

use std::io;
use std::net::Shutdown;
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use socket2::{Domain, SockAddr, Socket, Type};

use super::split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use super::stream::stream_io;
use crate::io::{Interest, Registered};

/// A Unix-domain socket listening for connections.
///
/// # Example
///
/// ```
/// use futures_lite::{AsyncReadExt, AsyncWriteExt};
/// use trellis::net::{UnixListener, UnixStream};
///
/// # trellis::run(async {
/// let path = std::env::temp_dir().join(format!("trellis-doc-{}.sock", std::process::id()));
/// let _ = std::fs::remove_file(&path);
/// let listener = UnixListener::bind(&path).unwrap();
/// let mut client = UnixStream::connect(&path).await.unwrap();
/// let (mut conn, _) = listener.accept().await.unwrap();
/// client.write_all(b"hi").await.unwrap();
/// let mut buf = [0; 2];
/// conn.read_exact(&mut buf).await.unwrap();
/// assert_eq!(&buf, b"hi");
/// std::fs::remove_file(&path).unwrap();
/// # });
/// ```
#[derive(Debug)]
pub struct UnixListener {
    pub(super) io: Registered<std::os::unix::net::UnixListener>,
}

impl UnixListener {
    /// Binds a listener to the socket file `path`. Binding fails with `AddrInUse` while the
    /// file exists (a previous run's, say): remove it first.
    ///
    /// # Errors
    ///
    /// The bind's error.
    ///
    /// # Panics
    ///
    /// Outside a Trellis runtime.
    ///
    /// # Example
    ///
    /// See [`UnixListener`].
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let listener = std::os::unix::net::UnixListener::bind(path)?;
        listener.set_nonblocking(true)?;
        Ok(UnixListener {
            io: Registered::new(listener, "UnixListener::bind")?,
        })
    }

    /// Waits for a connection and accepts it.
    ///
    /// # Errors
    ///
    /// The accept's error (see [`TcpListener::accept`](super::TcpListener::accept) on
    /// `EMFILE`).
    ///
    /// # Cancellation
    ///
    /// A checkpoint. A cancelled `accept` accepted nothing.
    ///
    /// # Example
    ///
    /// See [`UnixListener`].
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (stream, peer) = self.io.op(Interest::Read, |l| l.accept()).await?;
        Ok((UnixStream::from_std(stream)?, peer))
    }

    /// The address it is bound to.
    ///
    /// # Errors
    ///
    /// The `getsockname` error.
    ///
    /// # Example
    ///
    /// ```
    /// # trellis::run(async {
    /// let path = std::env::temp_dir().join(format!("trellis-doc-la-{}.sock", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let listener = trellis::net::UnixListener::bind(&path).unwrap();
    /// assert_eq!(listener.local_addr().unwrap().as_pathname(), Some(path.as_path()));
    /// # std::fs::remove_file(&path).unwrap();
    /// # });
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().local_addr()
    }
}

/// A Unix-domain stream connection: futures-io `AsyncRead` / `AsyncWrite`, halves and
/// `close()` as [`TcpStream`](super::TcpStream).
///
/// # Example
///
/// See [`UnixListener`].
#[derive(Debug)]
pub struct UnixStream {
    pub(super) io: Registered<std::os::unix::net::UnixStream>,
}

stream_io!(UnixStream, io);

impl UnixStream {
    /// Connects to the socket file `path`, without blocking the worker.
    ///
    /// # Errors
    ///
    /// The connect's error (`NotFound`, `ConnectionRefused`, ...).
    ///
    /// # Panics
    ///
    /// Outside a Trellis runtime.
    ///
    /// # Cancellation
    ///
    /// A checkpoint. A cancelled connect made no connection.
    ///
    /// # Example
    ///
    /// See [`UnixListener`].
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        socket.set_nonblocking(true)?;
        match socket.connect(&SockAddr::unix(path)?) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(e),
        }
        let io = Registered::new(
            std::os::unix::net::UnixStream::from(std::os::fd::OwnedFd::from(socket)),
            "UnixStream::connect",
        )?;
        io.op(Interest::Write, |s| match s.take_error()? {
            Some(e) => Err(e),
            None => Ok(()),
        })
        .await?;
        Ok(UnixStream { io })
    }

    /// A connected pair of sockets.
    ///
    /// # Errors
    ///
    /// The `socketpair` error.
    ///
    /// # Panics
    ///
    /// Outside a Trellis runtime.
    ///
    /// # Example
    ///
    /// See [`ReadHalf`](super::ReadHalf).
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        Ok((UnixStream::from_std(a)?, UnixStream::from_std(b)?))
    }

    /// Wraps a connected std stream (made non-blocking here).
    ///
    /// # Errors
    ///
    /// If it cannot be made non-blocking or registered.
    ///
    /// # Panics
    ///
    /// Outside a Trellis runtime.
    ///
    /// # Example
    ///
    /// ```
    /// # trellis::run(async {
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let a = trellis::net::UnixStream::from_std(a).unwrap();
    /// # drop(a);
    /// # });
    /// ```
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        stream.set_nonblocking(true)?;
        Ok(UnixStream {
            io: Registered::new(stream, "UnixStream::from_std")?,
        })
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// The `getsockname` error.
    ///
    /// # Example
    ///
    /// ```
    /// # trellis::run(async {
    /// let (a, _b) = trellis::net::UnixStream::pair().unwrap();
    /// assert!(a.local_addr().unwrap().is_unnamed());
    /// # });
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().local_addr()
    }

    /// The peer's address.
    ///
    /// # Errors
    ///
    /// The `getpeername` error.
    ///
    /// # Example
    ///
    /// ```
    /// # trellis::run(async {
    /// let (a, _b) = trellis::net::UnixStream::pair().unwrap();
    /// assert!(a.peer_addr().unwrap().is_unnamed());
    /// # });
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().peer_addr()
    }

    /// Shuts down the read, write or both directions.
    ///
    /// # Errors
    ///
    /// The `shutdown` error.
    ///
    /// # Example
    ///
    /// ```
    /// # trellis::run(async {
    /// let (a, _b) = trellis::net::UnixStream::pair().unwrap();
    /// a.shutdown(std::net::Shutdown::Write).unwrap();
    /// # });
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get().shutdown(how)
    }

    /// Borrows the stream as a read half and a write half.
    ///
    /// # Example
    ///
    /// See [`ReadHalf`](super::ReadHalf).
    pub fn split(&mut self) -> (ReadHalf<'_, UnixStream>, WriteHalf<'_, UnixStream>) {
        (ReadHalf(self), WriteHalf(self))
    }

    /// Splits the stream into owned halves that can move into separate tasks.
    ///
    /// # Example
    ///
    /// See [`OwnedReadHalf`](super::OwnedReadHalf).
    pub fn into_split(self) -> (OwnedReadHalf<UnixStream>, OwnedWriteHalf<UnixStream>) {
        let shared = Arc::new(self);
        (OwnedReadHalf(shared.clone()), OwnedWriteHalf(shared))
    }
}
