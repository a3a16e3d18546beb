//! UDP: datagram sockets on the runtime's reactor.

use std::io;
use std::net::SocketAddr;

use super::addr::{ToSocketAddrs, each_addr, resolve};
use crate::io::{Interest, Registered};

/// A UDP socket. Every operation takes `&self`, and any number of tasks may send and receive
/// on one socket at once (share it in an `Arc`).
///
/// # Example
///
/// ```
/// use trellis::net::UdpSocket;
///
/// # trellis::run(async {
/// let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
/// let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
/// a.send_to(b"ping", b.local_addr().unwrap()).await.unwrap();
/// let mut buf = [0; 16];
/// let (n, from) = b.recv_from(&mut buf).await.unwrap();
/// assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr().unwrap()));
/// # });
/// ```
#[derive(Debug)]
pub struct UdpSocket {
    pub(super) io: Registered<std::net::UdpSocket>,
}

impl UdpSocket {
    /// Binds a socket to `addr` (port 0 picks a free port).
    ///
    /// # Errors
    ///
    /// The bind's error, or the lookup's.
    ///
    /// # Panics
    ///
    /// Outside a Trellis runtime.
    ///
    /// # Cancellation
    ///
    /// Only a host-name lookup waits; a cancelled `bind` has bound nothing.
    ///
    /// # Example
    ///
    /// See [`UdpSocket`].
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        each_addr(&addr, "UdpSocket::bind", |addr| async move {
            UdpSocket::from_std(std::net::UdpSocket::bind(addr)?)
        })
        .await
    }

    /// Wraps a bound std socket (made non-blocking here).
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
    /// let std = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let socket = trellis::net::UdpSocket::from_std(std).unwrap();
    /// # drop(socket);
    /// # });
    /// ```
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        Ok(UdpSocket {
            io: Registered::new(socket, "UdpSocket::from_std")?,
        })
    }

    /// The address it is bound to.
    ///
    /// # Errors
    ///
    /// The `getsockname` error.
    ///
    /// # Example
    ///
    /// See [`UdpSocket`].
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().local_addr()
    }

    /// The address it is connected to.
    ///
    /// # Errors
    ///
    /// `NotConnected` if [`connect`](Self::connect) was not called.
    ///
    /// # Example
    ///
    /// See [`connect`](Self::connect).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().peer_addr()
    }

    /// Sets the default destination of [`send`](Self::send) and the only source
    /// [`recv`](Self::recv) accepts. An ICMP "port unreachable" for a datagram sent to it comes
    /// back as `ConnectionRefused` from a later `send` or `recv`.
    ///
    /// # Errors
    ///
    /// The `connect` error, or the lookup's.
    ///
    /// # Cancellation
    ///
    /// Only a host-name lookup waits; a cancelled `connect` changed nothing.
    ///
    /// # Example
    ///
    /// ```
    /// # trellis::run(async {
    /// let a = trellis::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    /// let b = trellis::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    /// a.connect(b.local_addr().unwrap()).await.unwrap();
    /// assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
    /// a.send(b"to b").await.unwrap();
    /// let mut buf = [0; 8];
    /// assert_eq!(b.recv(&mut buf).await.unwrap(), 4);
    /// # });
    /// ```
    pub async fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        let socket = self.io.get();
        each_addr(&addr, "UdpSocket::connect", |addr| async move {
            socket.connect(addr)
        })
        .await
    }

    /// Sends `buf` as one datagram to `target` (the first address it resolves to).
    ///
    /// # Errors
    ///
    /// The `sendto` error, or the lookup's.
    ///
    /// # Cancellation
    ///
    /// A checkpoint. A cancelled `send_to` sent nothing.
    ///
    /// # Example
    ///
    /// See [`UdpSocket`].
    pub async fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], target: A) -> io::Result<usize> {
        let Some(&target) = resolve(&target).await?.first() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "`UdpSocket::send_to`: the address resolved to no socket address",
            ));
        };
        self.io
            .op(Interest::Write, |s| s.send_to(buf, target))
            .await
    }

    /// Receives one datagram into `buf` (the rest of a longer one is discarded) and its
    /// sender's address.
    ///
    /// # Errors
    ///
    /// The `recvfrom` error.
    ///
    /// # Cancellation
    ///
    /// A checkpoint. A cancelled `recv_from` received nothing: the datagram stays queued.
    ///
    /// # Example
    ///
    /// See [`UdpSocket`].
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.op(Interest::Read, |s| s.recv_from(buf)).await
    }

    /// Like [`recv_from`](Self::recv_from), but leaves the datagram queued.
    ///
    /// # Errors
    ///
    /// The `recvfrom` error.
    ///
    /// # Cancellation
    ///
    /// A checkpoint; nothing is consumed either way.
    ///
    /// # Example
    ///
    /// ```
    /// # trellis::run(async {
    /// # let a = trellis::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    /// # let b = trellis::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    /// a.send_to(b"x", b.local_addr().unwrap()).await.unwrap();
    /// let mut buf = [0; 4];
    /// let (n, _) = b.peek_from(&mut buf).await.unwrap();
    /// assert_eq!(b.recv_from(&mut buf).await.unwrap().0, n);
    /// # });
    /// ```
    pub async fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.op(Interest::Read, |s| s.peek_from(buf)).await
    }

    /// Sends `buf` to the connected peer.
    ///
    /// # Errors
    ///
    /// `NotConnected` without [`connect`](Self::connect); `ConnectionRefused` after an
    /// earlier datagram to the peer was refused; the `send` error.
    ///
    /// # Cancellation
    ///
    /// A checkpoint. A cancelled `send` sent nothing.
    ///
    /// # Example
    ///
    /// See [`connect`](Self::connect).
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.op(Interest::Write, |s| s.send(buf)).await
    }

    /// Receives one datagram from the connected peer.
    ///
    /// # Errors
    ///
    /// `ConnectionRefused` after a datagram to the peer was refused; the `recv` error.
    ///
    /// # Cancellation
    ///
    /// A checkpoint. A cancelled `recv` received nothing.
    ///
    /// # Example
    ///
    /// See [`connect`](Self::connect).
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.op(Interest::Read, |s| s.recv(buf)).await
    }

    /// Like [`recv`](Self::recv), but leaves the datagram queued.
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
    /// # trellis::run(async {
    /// # let a = trellis::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    /// # let b = trellis::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    /// b.connect(a.local_addr().unwrap()).await.unwrap();
    /// a.send_to(b"x", b.local_addr().unwrap()).await.unwrap();
    /// let mut buf = [0; 4];
    /// assert_eq!(b.peek(&mut buf).await.unwrap(), 1);
    /// assert_eq!(b.recv(&mut buf).await.unwrap(), 1);
    /// # });
    /// ```
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.op(Interest::Read, |s| s.peek(buf)).await
    }

    /// Sets `SO_BROADCAST`.
    ///
    /// # Errors
    ///
    /// The `setsockopt` error.
    ///
    /// # Example
    ///
    /// ```
    /// # trellis::run(async {
    /// let s = trellis::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    /// s.set_broadcast(true).unwrap();
    /// # });
    /// ```
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.io.get().set_broadcast(on)
    }
}
