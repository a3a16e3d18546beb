//! hyper 1.x on Trellis (cargo feature `hyper` of `trellis`): the three things hyper needs from a runtime,
//! in one place.
//!
//! - [`HyperIo`]: hyper's `rt::Read` / `rt::Write` over any futures-io stream
//!   ([`trellis::net::TcpStream`](crate::net::TcpStream), a `UnixStream`, a TLS stream...).
//! - [`HyperExecutor`] (detached tasks) and [`NurseryExecutor`] (children of a nursery, so
//!   hyper's background tasks never outlive it): hyper's `rt::Executor`, needed by HTTP/2.
//! - [`HyperTimer`]: hyper's `rt::Timer` on Trellis's timers, needed for
//!   `header_read_timeout` and keep-alive timeouts.
//!
//! # Example
//!
//! An HTTP/1.1 server answering one request (see `examples/http_hello.rs` for a full server
//! with graceful shutdown on Ctrl-C):
//!
//! ```
//! use http_body_util::Full;
//! use hyper::body::Bytes;
//! use trellis::hyper::{HyperIo, HyperTimer};
//! use trellis::net::{TcpListener, TcpStream};
//!
//! # trellis::run(async {
//! let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
//! let addr = listener.local_addr().unwrap();
//! let server = trellis::spawn(async move {
//!     let (stream, _) = listener.accept().await.unwrap();
//!     let service = hyper::service::service_fn(|_req| async {
//!         Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from("hi"))))
//!     });
//!     hyper::server::conn::http1::Builder::new()
//!         .timer(HyperTimer)
//!         .serve_connection(HyperIo::new(stream), service)
//!         .await
//!         .unwrap();
//! });
//! let stream = TcpStream::connect(addr).await.unwrap();
//! let (mut sender, conn) = hyper::client::conn::http1::handshake(HyperIo::new(stream)).await.unwrap();
//! let conn = trellis::spawn(conn);
//! let req = hyper::Request::get("/").header("host", "x").body(Full::new(Bytes::new())).unwrap();
//! sender.ready().await.unwrap(); // hyper takes a request once the previous one is done
//! let resp = sender.send_request(req).await.unwrap();
//! assert_eq!(resp.status(), 200);
//! drop(sender);
//! conn.await.unwrap().unwrap();
//! server.await.unwrap();
//! # });
//! ```

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use ::hyper::rt::ReadBufCursor;
use futures_io::{AsyncRead, AsyncWrite};

use crate::NurseryHandle;

/// A futures-io stream seen through hyper's I/O traits.
///
/// # Example
///
/// See the [module documentation](self).
#[derive(Debug)]
pub struct HyperIo<T> {
    inner: T,
    scratch: Vec<u8>,
}

impl<T> HyperIo<T> {
    /// Wraps `inner`.
    ///
    /// # Example
    ///
    /// ```
    /// # trellis::run(async {
    /// let (a, _b) = trellis::net::UnixStream::pair().unwrap();
    /// let io = trellis::hyper::HyperIo::new(a);
    /// let _a: trellis::net::UnixStream = io.into_inner();
    /// # });
    /// ```
    pub fn new(inner: T) -> HyperIo<T> {
        HyperIo {
            inner,
            scratch: Vec::new(),
        }
    }

    /// The wrapped stream.
    ///
    /// # Example
    ///
    /// See [`new`](Self::new).
    pub fn into_inner(self) -> T {
        self.inner
    }

    /// A reference to the wrapped stream.
    ///
    /// # Example
    ///
    /// ```
    /// # trellis::run(async {
    /// let (a, _b) = trellis::net::UnixStream::pair().unwrap();
    /// let io = trellis::hyper::HyperIo::new(a);
    /// assert!(io.get_ref().peer_addr().is_ok());
    /// # });
    /// ```
    pub fn get_ref(&self) -> &T {
        &self.inner
    }
}

/// How much one read takes at most (hyper's read buffers start at 8 KiB and grow).
const READ_CHUNK: usize = 16 * 1024;

impl<T: AsyncRead + Unpin> ::hyper::rt::Read for HyperIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        // futures-io reads into initialized memory, and hyper hands out an uninitialized
        // cursor: read into this stream's own scratch buffer (zeroed once, when it grows)
        // and copy the bytes read. Zeroing hyper's cursor instead would cost a memset of the
        // whole cursor on every call, including every call that ends in `WouldBlock`.
        let this = self.get_mut();
        let len = buf.remaining().min(READ_CHUNK);
        if this.scratch.len() < len {
            this.scratch.resize(len, 0);
        }
        let n = ready!(Pin::new(&mut this.inner).poll_read(cx, &mut this.scratch[..len]))?;
        buf.put_slice(&this.scratch[..n]);
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> ::hyper::rt::Write for HyperIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
}

/// hyper's executor as detached Trellis tasks ([`trellis::spawn`](crate::spawn)); they run on
/// until done or until the runtime shuts down. Prefer [`NurseryExecutor`] to keep them inside
/// a nursery.
///
/// # Example
///
/// ```
/// use ::hyper::rt::Executor;
/// # trellis::run(async {
/// trellis::hyper::HyperExecutor.execute(async { /* a connection's background work */ });
/// # });
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct HyperExecutor;

impl<F> ::hyper::rt::Executor<F> for HyperExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        drop(crate::spawn(future));
    }
}

/// hyper's executor as children of a nursery: hyper's background tasks (HTTP/2 streams, say)
/// are cancelled with the nursery and never outlive it. A task handed over after the nursery
/// closed is dropped.
///
/// # Example
///
/// ```
/// use ::hyper::rt::Executor;
/// # trellis::run(async {
/// trellis::nursery(async |n| {
///     let exec = trellis::hyper::NurseryExecutor::new(n.handle());
///     exec.execute(async { /* runs as a child of `n` */ });
/// })
/// .await
/// .unwrap();
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct NurseryExecutor {
    nursery: NurseryHandle,
}

impl NurseryExecutor {
    /// Spawns into `nursery`.
    ///
    /// # Example
    ///
    /// See [`NurseryExecutor`].
    pub fn new(nursery: NurseryHandle) -> NurseryExecutor {
        NurseryExecutor { nursery }
    }
}

impl<F> ::hyper::rt::Executor<F> for NurseryExecutor
where
    F: Future + Send + 'static,
{
    fn execute(&self, future: F) {
        let _ = self.nursery.start_soon(async move {
            future.await;
        });
    }
}

/// hyper's timer on Trellis's timers (and clock).
///
/// # Example
///
/// See the [module documentation](self).
#[derive(Clone, Copy, Debug, Default)]
pub struct HyperTimer;

impl ::hyper::rt::Timer for HyperTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn ::hyper::rt::Sleep>> {
        Box::pin(HyperSleep(crate::time::sleep(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn ::hyper::rt::Sleep>> {
        Box::pin(HyperSleep(crate::time::sleep_until(deadline.into())))
    }

    fn now(&self) -> Instant {
        crate::time::Instant::now().into_std()
    }
}

/// A Trellis [`Sleep`](crate::time::Sleep) as hyper's `rt::Sleep`.
struct HyperSleep(crate::time::Sleep);

impl Future for HyperSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.get_mut().0).poll(cx)
    }
}

impl ::hyper::rt::Sleep for HyperSleep {}
