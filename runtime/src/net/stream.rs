//! What every byte-stream socket shares: the futures-io impls, written once over
//! `Registered`'s operation loop, for the socket and for a shared reference to it.

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::os::fd::AsFd;
use std::task::{Context, Poll};

use crate::io::{Interest, Registered};

/// A std stream socket that reads and writes through `&self` and shuts down one direction.
pub(crate) trait StdStream: AsFd
where
    for<'a> &'a Self: Read + Write,
{
    fn shutdown_std(&self, how: Shutdown) -> io::Result<()>;
}

impl StdStream for std::net::TcpStream {
    fn shutdown_std(&self, how: Shutdown) -> io::Result<()> {
        self.shutdown(how)
    }
}

impl StdStream for std::os::unix::net::UnixStream {
    fn shutdown_std(&self, how: Shutdown) -> io::Result<()> {
        self.shutdown(how)
    }
}

pub(crate) fn poll_read<T: StdStream>(
    io: &Registered<T>,
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<io::Result<usize>>
where
    for<'a> &'a T: Read + Write,
{
    // A short read may have taken the last bytes before a FIN that is already queued: its
    // drained clear is safe only where the reactor reports the FIN (`EPOLLRDHUP`), which
    // keeps the read direction `CLOSED` (`io/readiness.rs`); elsewhere it would wait for an
    // edge that never comes.
    if crate::io::REPORTS_READ_HANGUP {
        let len = buf.len();
        io.poll_transfer(cx, Interest::Read, len, |s| Read::read(&mut &*s, buf))
    } else {
        io.poll_io(cx, Interest::Read, |s| Read::read(&mut &*s, buf))
    }
}

pub(crate) fn poll_read_vectored<T: StdStream>(
    io: &Registered<T>,
    cx: &mut Context<'_>,
    bufs: &mut [IoSliceMut<'_>],
) -> Poll<io::Result<usize>>
where
    for<'a> &'a T: Read + Write,
{
    io.poll_io(cx, Interest::Read, |s| Read::read_vectored(&mut &*s, bufs))
}

pub(crate) fn poll_write<T: StdStream>(
    io: &Registered<T>,
    cx: &mut Context<'_>,
    buf: &[u8],
) -> Poll<io::Result<usize>>
where
    for<'a> &'a T: Read + Write,
{
    io.poll_transfer(cx, Interest::Write, buf.len(), |s| {
        Write::write(&mut &*s, buf)
    })
}

pub(crate) fn poll_write_vectored<T: StdStream>(
    io: &Registered<T>,
    cx: &mut Context<'_>,
    bufs: &[IoSlice<'_>],
) -> Poll<io::Result<usize>>
where
    for<'a> &'a T: Read + Write,
{
    io.poll_io(cx, Interest::Write, |s| {
        Write::write_vectored(&mut &*s, bufs)
    })
}

/// `poll_close`: shuts the write half down (the peer reads EOF; reading still works). A
/// socket whose peer is gone already counts as closed.
pub(crate) fn close_write<T: StdStream>(io: &Registered<T>) -> Poll<io::Result<()>>
where
    for<'a> &'a T: Read + Write,
{
    match io.get().shutdown_std(Shutdown::Write) {
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Poll::Ready(Ok(())),
        result => Poll::Ready(result),
    }
}

/// Implements futures-io's `AsyncRead` and `AsyncWrite` for a stream type (whose `io` field is
/// a `Registered`) and for a shared reference to it.
macro_rules! stream_io {
    ($ty:ty, $($field:tt)+) => {
        stream_io!(@impl [] $ty, $($field)+);
        stream_io!(@impl ['a] &'a $ty, $($field)+);
    };
    (@impl [$($lt:lifetime)?] $ty:ty, $($field:tt)+) => {
        impl<$($lt)?> futures_io::AsyncRead for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::net::stream::poll_read(&self.$($field)+, cx, buf)
            }

            fn poll_read_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::net::stream::poll_read_vectored(&self.$($field)+, cx, bufs)
            }
        }

        impl<$($lt)?> futures_io::AsyncWrite for $ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::net::stream::poll_write(&self.$($field)+, cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::net::stream::poll_write_vectored(&self.$($field)+, cx, bufs)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                // Writes go straight to the kernel: nothing is buffered here.
                std::task::Poll::Ready(Ok(()))
            }

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                $crate::net::stream::close_write(&self.$($field)+)
            }
        }
    };
}

pub(crate) use stream_io;
