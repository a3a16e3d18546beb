//! Read and write halves of a stream socket, so a reader and a writer can be separate tasks
//! (one mechanism for [`TcpStream`](super::TcpStream) and [`UnixStream`](super::UnixStream)).
//!
//! Each direction keeps its own waker (`io/readiness.rs`), so a task blocked reading never
//! delays one writing, and the halves need no lock.

use std::io::{self, IoSlice, IoSliceMut};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

/// The read half of a borrowed stream (`TcpStream::split`).
///
/// # Example
///
/// ```
/// use futures_lite::{AsyncReadExt, AsyncWriteExt};
/// # trellis::run(async {
/// let (mut a, mut b) = trellis::net::UnixStream::pair().unwrap();
/// let (mut read, mut write) = a.split();
/// write.write_all(b"ping").await.unwrap();
/// let mut buf = [0; 4];
/// b.read_exact(&mut buf).await.unwrap();
/// b.write_all(&buf).await.unwrap();
/// read.read_exact(&mut buf).await.unwrap();
/// assert_eq!(&buf, b"ping");
/// # });
/// ```
#[derive(Debug)]
pub struct ReadHalf<'a, S>(pub(crate) &'a S);

/// The write half of a borrowed stream (`TcpStream::split`); see [`ReadHalf`].
#[derive(Debug)]
pub struct WriteHalf<'a, S>(pub(crate) &'a S);

/// The read half of a stream, owned (`TcpStream::into_split`): it can move into another task.
///
/// # Example
///
/// ```
/// use futures_lite::{AsyncReadExt, AsyncWriteExt};
/// # trellis::run(async {
/// let (a, mut b) = trellis::net::UnixStream::pair().unwrap();
/// let (mut read, write) = a.into_split();
/// let reader = trellis::spawn(async move {
///     let mut buf = Vec::new();
///     read.read_to_end(&mut buf).await.unwrap();
///     buf
/// });
/// b.write_all(b"bytes").await.unwrap();
/// b.close().await.unwrap(); // the reader sees EOF
/// assert_eq!(reader.await.unwrap(), b"bytes");
/// # drop(write);
/// # });
/// ```
#[derive(Debug)]
pub struct OwnedReadHalf<S>(pub(crate) Arc<S>);

/// The write half of a stream, owned (`TcpStream::into_split`); see [`OwnedReadHalf`].
/// `close()` shuts the write direction down; the socket closes when both halves are dropped.
#[derive(Debug)]
pub struct OwnedWriteHalf<S>(pub(crate) Arc<S>);

/// The halves given to [`reunite`](OwnedReadHalf::reunite) came from different streams.
#[derive(Debug)]
pub struct ReuniteError<S>(pub OwnedReadHalf<S>, pub OwnedWriteHalf<S>);

impl<S> std::fmt::Display for ReuniteError<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("`OwnedReadHalf::reunite`: the halves belong to different streams")
    }
}

impl<S: std::fmt::Debug> std::error::Error for ReuniteError<S> {}

impl<S> OwnedReadHalf<S> {
    /// Puts the stream back together from its two halves.
    ///
    /// # Errors
    ///
    /// [`ReuniteError`] (holding both halves) if they came from different streams.
    ///
    /// # Example
    ///
    /// ```
    /// # trellis::run(async {
    /// let (a, _b) = trellis::net::UnixStream::pair().unwrap();
    /// let (read, write) = a.into_split();
    /// let _a: trellis::net::UnixStream = read.reunite(write).unwrap();
    /// # });
    /// ```
    pub fn reunite(self, write: OwnedWriteHalf<S>) -> Result<S, ReuniteError<S>> {
        if !Arc::ptr_eq(&self.0, &write.0) {
            return Err(ReuniteError(self, write));
        }
        drop(write);
        Ok(Arc::into_inner(self.0).expect("the two halves held the only references"))
    }
}

fn read<S>(s: &S, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>
where
    for<'a> &'a S: AsyncRead,
{
    Pin::new(&mut &*s).poll_read(cx, buf)
}

fn read_vectored<S>(
    s: &S,
    cx: &mut Context<'_>,
    bufs: &mut [IoSliceMut<'_>],
) -> Poll<io::Result<usize>>
where
    for<'a> &'a S: AsyncRead,
{
    Pin::new(&mut &*s).poll_read_vectored(cx, bufs)
}

macro_rules! read_half {
    ($($half:ident $(<$lt:lifetime>)?),*) => {$(
        impl<$($lt,)? S> AsyncRead for $half<$($lt,)? S>
        where
            for<'b> &'b S: AsyncRead,
        {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                read(&*self.0, cx, buf)
            }

            fn poll_read_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &mut [IoSliceMut<'_>],
            ) -> Poll<io::Result<usize>> {
                read_vectored(&*self.0, cx, bufs)
            }
        }
    )*};
}

macro_rules! write_half {
    ($($half:ident $(<$lt:lifetime>)?),*) => {$(
        impl<$($lt,)? S> AsyncWrite for $half<$($lt,)? S>
        where
            for<'b> &'b S: AsyncWrite,
        {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut &*self.0).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut &*self.0).poll_write_vectored(cx, bufs)
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Pin::new(&mut &*self.0).poll_flush(cx)
            }

            fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Pin::new(&mut &*self.0).poll_close(cx)
            }
        }
    )*};
}

read_half!(ReadHalf<'a>, OwnedReadHalf);
write_half!(WriteHalf<'a>, OwnedWriteHalf);
