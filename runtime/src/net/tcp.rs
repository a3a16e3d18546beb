//! TCP: a listener and a stream on the runtime's reactor.

use std::io;
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use super::addr::{ToSocketAddrs, each_addr};
use super::split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use super::stream::stream_io;
use crate::io::{Interest, Registered};
use crate::time::{Sleep, sleep};

/// A TCP socket listening for connections.
///
/// # Example
///
/// ```
/// use futures_lite::{AsyncReadExt, AsyncWriteExt};
/// use trellis::net::{TcpListener, TcpStream};
///
/// # trellis::run(async {
/// let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
/// let addr = listener.local_addr().unwrap();
/// let server = trellis::spawn(async move {
///     let (mut conn, _peer) = listener.accept().await.unwrap();
///     let mut buf = [0; 5];
///     conn.read_exact(&mut buf).await.unwrap();
///     conn.write_all(&buf).await.unwrap();
/// });
/// let mut client = TcpStream::connect(addr).await.unwrap();
/// client.write_all(b"hello").await.unwrap();
/// let mut echo = [0; 5];
/// client.read_exact(&mut echo).await.unwrap();
/// assert_eq!(&echo, b"hello");
/// server.await.unwrap();
/// # });
/// ```
#[derive(Debug)]
pub struct TcpListener {
    pub(super) io: Registered<std::net::TcpListener>,
}

impl TcpListener {
    /// Binds a listener to `addr` (the first address that binds, if it resolves to several).
    /// `SO_REUSEADDR` is set, as std does on Unix; port 0 picks a free port
    /// ([`local_addr`](Self::local_addr) tells which).
    ///
    /// # Errors
    ///
    /// The bind's error (`AddrInUse`, ...), or the lookup's.
    ///
    /// # Panics
    ///
    /// Outside a Trellis runtime.
    ///
    /// # Cancellation
    ///
    /// Binding itself does not wait; only a host-name lookup does (on the blocking pool). A
    /// cancelled `bind` has bound nothing.
    ///
    /// # Example
    ///
    /// ```
    /// # trellis::run(async {
    /// let listener = trellis::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// assert_ne!(listener.local_addr().unwrap().port(), 0);
    /// # });
    /// ```
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        each_addr(&addr, "TcpListener::bind", |addr| async move {
            TcpListener::from_std(std::net::TcpListener::bind(addr)?)
        })
        .await
    }

    /// Wraps a bound std listener (made non-blocking here).
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
    /// let std = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let listener = trellis::net::TcpListener::from_std(std).unwrap();
    /// # drop(listener);
    /// # });
    /// ```
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        Ok(TcpListener {
            io: Registered::new(listener, "TcpListener::from_std")?,
        })
    }

    /// Waits for a connection and accepts it.
    ///
    /// # Errors
    ///
    /// The accept's error. `EMFILE` / `ENFILE` (out of file descriptors) leave the connection
    /// queued and the listener readable, so a loop that retries at once spins: back off, or use
    /// [`incoming`](Self::incoming), which does.
    ///
    /// # Cancellation
    ///
    /// A checkpoint. A cancelled `accept` accepted nothing: the connection stays queued for the
    /// next call.
    ///
    /// # Example
    ///
    /// See [`TcpListener`].
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, peer) = self.io.op(Interest::Read, |l| l.accept()).await?;
        Ok((TcpStream::from_std(stream)?, peer))
    }

    /// `accept` in poll form (one task at a time), for [`Incoming`].
    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<TcpStream>> {
        let (stream, _) = ready!(self.io.poll_io(cx, Interest::Read, |l| l.accept()))?;
        Poll::Ready(TcpStream::from_std(stream))
    }

    /// The connections as a [`Stream`](futures_core::Stream) that never ends. An error is
    /// yielded and the loop goes on; after running out of file descriptors (or memory) the
    /// stream waits [`Incoming::BACKOFF`] before it tries again, so an accept loop survives
    /// `EMFILE` without spinning.
    ///
    /// # Cancellation
    ///
    /// Each `next()` is a checkpoint; a cancelled one accepted nothing.
    ///
    /// # Example
    ///
    /// ```
    /// use futures_lite::StreamExt;
    /// # trellis::run(async {
    /// let listener = trellis::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// let addr = listener.local_addr().unwrap();
    /// let client = trellis::spawn(async move { trellis::net::TcpStream::connect(addr).await });
    /// let mut incoming = listener.incoming();
    /// let conn = incoming.next().await.unwrap().unwrap();
    /// assert_eq!(conn.local_addr().unwrap(), addr);
    /// client.await.unwrap().unwrap();
    /// # });
    /// ```
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming {
            listener: self,
            backoff: None,
        }
    }

    /// The address it is bound to.
    ///
    /// # Errors
    ///
    /// The `getsockname` error.
    ///
    /// # Example
    ///
    /// See [`bind`](Self::bind).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().local_addr()
    }
}

/// The connections of a [`TcpListener`], as a stream (see [`TcpListener::incoming`]).
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
    backoff: Option<Pin<Box<Sleep>>>,
}

impl Incoming<'_> {
    /// How long the stream waits after an error that retrying at once would repeat (out of
    /// file descriptors or memory).
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(trellis::net::Incoming::BACKOFF, std::time::Duration::from_millis(50));
    /// ```
    pub const BACKOFF: Duration = Duration::from_millis(50);
}

/// Errors after which the connection is still queued: retrying at once would spin.
fn is_resource_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

impl futures_core::Stream for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(backoff) = &mut self.backoff {
            ready!(backoff.as_mut().poll(cx));
            self.backoff = None;
        }
        let result = ready!(self.listener.poll_accept(cx));
        if let Err(e) = &result {
            if is_resource_exhaustion(e) {
                self.backoff = Some(Box::pin(sleep(Self::BACKOFF)));
            }
        }
        Poll::Ready(Some(result))
    }
}

use std::future::Future as _;

/// A TCP connection.
///
/// Reading and writing go through futures-io's `AsyncRead` / `AsyncWrite` (on the stream and on
/// `&TcpStream`, so one task may read while another writes through a shared reference; or
/// [`split`](Self::split) / [`into_split`](Self::into_split) it). One task at a time may read,
/// and one may write: a second reader replaces the first one's wake-up. `poll_close` (`close()`)
/// shuts the write direction down, so the peer reads EOF.
///
/// # Example
///
/// See [`TcpListener`].
#[derive(Debug)]
pub struct TcpStream {
    pub(super) io: Registered<std::net::TcpStream>,
}

stream_io!(TcpStream, io);

impl TcpStream {
    /// Connects to `addr` (each resolved address in turn until one accepts).
    ///
    /// The socket connects without blocking; the connection's outcome is read with `SO_ERROR`
    /// once the socket turns writable, so a refused or unreachable connect fails as soon as
    /// the kernel knows.
    ///
    /// # Errors
    ///
    /// The last address's error (`ConnectionRefused`, ...), or the lookup's.
    ///
    /// # Panics
    ///
    /// Outside a Trellis runtime.
    ///
    /// # Cancellation
    ///
    /// A checkpoint. A cancelled connect closes its half-open socket; no connection is made
    /// (the peer may have seen a SYN and a reset).
    ///
    /// # Example
    ///
    /// See [`TcpListener`].
    pub async fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        each_addr(&addr, "TcpStream::connect", connect_one).await
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
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let std = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// let stream = trellis::net::TcpStream::from_std(std).unwrap();
    /// # drop(stream);
    /// # });
    /// ```
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        Ok(TcpStream {
            io: Registered::new(stream, "TcpStream::from_std")?,
        })
    }

    /// The remote address.
    ///
    /// # Errors
    ///
    /// `NotConnected` once the peer is gone, or the `getpeername` error.
    ///
    /// # Example
    ///
    /// ```
    /// # trellis::run(async {
    /// let listener = trellis::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// let addr = listener.local_addr().unwrap();
    /// let stream = trellis::net::TcpStream::connect(addr).await.unwrap();
    /// assert_eq!(stream.peer_addr().unwrap(), addr);
    /// # });
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().peer_addr()
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// The `getsockname` error.
    ///
    /// # Example
    ///
    /// See [`TcpListener::incoming`].
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().local_addr()
    }

    /// Sets `TCP_NODELAY`: small writes go out at once instead of waiting for earlier data's
    /// acknowledgment (Nagle's algorithm); request/response protocols want it.
    ///
    /// # Errors
    ///
    /// The `setsockopt` error.
    ///
    /// # Example
    ///
    /// ```
    /// # trellis::run(async {
    /// # let listener = trellis::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// # let addr = listener.local_addr().unwrap();
    /// let stream = trellis::net::TcpStream::connect(addr).await.unwrap();
    /// stream.set_nodelay(true).unwrap();
    /// assert!(stream.nodelay().unwrap());
    /// # });
    /// ```
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.get().set_nodelay(nodelay)
    }

    /// Is `TCP_NODELAY` set?
    ///
    /// # Errors
    ///
    /// The `getsockopt` error.
    ///
    /// # Example
    ///
    /// See [`set_nodelay`](Self::set_nodelay).
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.get().nodelay()
    }

    /// Shuts down the read, write or both directions (see [`Shutdown`]). After
    /// `Shutdown::Write` the peer reads EOF, and this side can still read.
    ///
    /// # Errors
    ///
    /// The `shutdown` error (`NotConnected` if the peer is gone).
    ///
    /// # Example
    ///
    /// ```
    /// use futures_lite::AsyncReadExt;
    /// # trellis::run(async {
    /// # let listener = trellis::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// # let addr = listener.local_addr().unwrap();
    /// let client = trellis::net::TcpStream::connect(addr).await.unwrap();
    /// let (mut server, _) = listener.accept().await.unwrap();
    /// client.shutdown(std::net::Shutdown::Write).unwrap();
    /// let mut buf = Vec::new();
    /// assert_eq!(server.read_to_end(&mut buf).await.unwrap(), 0); // EOF
    /// # });
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get().shutdown(how)
    }

    /// Reads into `buf` without consuming: the next read returns the same bytes.
    ///
    /// # Errors
    ///
    /// The `recv` error.
    ///
    /// # Cancellation
    ///
    /// A checkpoint; nothing is consumed either way.
    ///
    /// # Example
    ///
    /// ```
    /// use futures_lite::{AsyncReadExt, AsyncWriteExt};
    /// # trellis::run(async {
    /// # let listener = trellis::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// # let addr = listener.local_addr().unwrap();
    /// let mut client = trellis::net::TcpStream::connect(addr).await.unwrap();
    /// let (mut server, _) = listener.accept().await.unwrap();
    /// client.write_all(b"hi").await.unwrap();
    /// let mut buf = [0; 2];
    /// let n = server.peek(&mut buf).await.unwrap();
    /// server.read_exact(&mut buf[..n]).await.unwrap();
    /// # });
    /// ```
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.op(Interest::Read, |s| s.peek(buf)).await
    }

    /// Borrows the stream as a read half and a write half, usable at once (for example in
    /// two branches of a `join`).
    ///
    /// # Example
    ///
    /// See [`ReadHalf`].
    pub fn split(&mut self) -> (ReadHalf<'_, TcpStream>, WriteHalf<'_, TcpStream>) {
        (ReadHalf(self), WriteHalf(self))
    }

    /// Splits the stream into owned halves that can move into separate tasks;
    /// [`OwnedReadHalf::reunite`] puts them back together.
    ///
    /// # Example
    ///
    /// See [`OwnedReadHalf`].
    pub fn into_split(self) -> (OwnedReadHalf<TcpStream>, OwnedWriteHalf<TcpStream>) {
        let shared = Arc::new(self);
        (OwnedReadHalf(shared.clone()), OwnedWriteHalf(shared))
    }
}

async fn connect_one(addr: SocketAddr) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    let io = Registered::new(std::net::TcpStream::from(socket), "TcpStream::connect")?;
    io.op(Interest::Write, |s| {
        if let Some(e) = s.take_error()? {
            return Err(e);
        }
        // Writable without an error but not connected: a spurious wake; wait again.
        match s.peer_addr() {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                Err(io::ErrorKind::WouldBlock.into())
            }
            Err(e) => Err(e),
        }
    })
    .await?;
    Ok(TcpStream { io })
}
