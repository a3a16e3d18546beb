//! Networking on the runtime's reactor: TCP, UDP and Unix-domain sockets.
//!
//! Streams implement futures-io's `AsyncRead` / `AsyncWrite`, so the futures ecosystem
//! (`futures-lite`'s `AsyncReadExt`, async-tungstenite, hyper through an adapter) works on them;
//! `close()` shuts the write direction down. Errors are `std::io::Error`s. Host names are
//! looked up on the blocking pool, never on a worker.
//!
//! # Cancellation
//!
//! Every operation that waits is a checkpoint, and does its syscall only in the poll that
//! returns the result: a cancelled read consumed nothing, a cancelled write wrote nothing, a
//! cancelled accept accepted nothing, a cancelled datagram send sent nothing. (Compound
//! helpers such as `read_exact` or `write_all` keep what earlier steps did: cancelling one
//! halfway loses that progress, as in every runtime.)
//!
//! # Domains
//!
//! A socket may be used from any task on any domain; its readiness wakes the waiting task on
//! the task's own domain, so a socket used by a pinned task stays at home.
//!
//! # Example
//!
//! ```
//! use futures_lite::{AsyncReadExt, AsyncWriteExt};
//!
//! # trellis::run(async {
//! let listener = trellis::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//! let addr = listener.local_addr().unwrap();
//! trellis::nursery(async |n| {
//!     n.start_soon(async move {
//!         let (mut conn, _) = listener.accept().await?;
//!         let mut line = String::new();
//!         conn.read_to_string(&mut line).await?;
//!         assert_eq!(line, "hello");
//!         Ok::<_, std::io::Error>(())
//!     });
//!     n.start_soon(async move {
//!         let mut conn = trellis::net::TcpStream::connect(addr).await?;
//!         conn.write_all(b"hello").await?;
//!         conn.close().await
//!     });
//! })
//! .await
//! .unwrap();
//! # });
//! ```

mod addr;
mod split;
pub(crate) mod stream;
mod tcp;
mod udp;
mod unix;

pub use addr::ToSocketAddrs;
pub use split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, WriteHalf};
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixStream};

/// `AsFd` / `AsRawFd` for the socket types (for `setsockopt` through socket2, and the like;
/// closing or re-registering the fd behind the runtime's back is not allowed).
macro_rules! fd_impls {
    ($($ty:ty),*) => {$(
        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.io.get().as_fd()
            }
        }

        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.io.get().as_raw_fd()
            }
        }
    )*};
}

fd_impls!(TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream);
