//! Unix signals as async events: [`ctrl_c`] and a [`Signal`] stream for a chosen signal.
//!
//! # How a signal reaches a task
//!
//! Each [`Signal`] owns a connected pair of Unix sockets. Its handler, installed through
//! `signal-hook-registry` (which chains handlers that were already installed), writes one
//! byte to the write end: `write(2)` on a non-blocking socket is async-signal-safe, and a full
//! buffer just drops the byte (the read end is readable anyway). The read end is registered
//! with the runtime's reactor like any socket, so the task awaiting the signal is woken by the
//! driver, on its own domain. A receive drains every byte queued, then reports one delivery:
//! signals that arrive close together may be reported once (the kernel coalesces them too).
//!
//! Dropping the `Signal` unregisters its handler before closing the sockets. As with every
//! library built on `signal-hook-registry`, the process's original disposition is not
//! restored: once a `Signal` for `SIGINT` existed, Ctrl-C no longer terminates the process by
//! default.

use std::io::{self, Read};
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use signal_hook_registry::SigId;

use crate::io::{Interest, Registered};

/// A Unix signal number, with constructors for the common ones.
///
/// # Example
///
/// ```
/// let term = trellis::signal::SignalKind::terminate();
/// assert_eq!(term.as_raw(), libc::SIGTERM);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SignalKind(libc::c_int);

impl SignalKind {
    /// `SIGINT`: Ctrl-C in a terminal.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(trellis::signal::SignalKind::interrupt().as_raw(), libc::SIGINT);
    /// ```
    pub const fn interrupt() -> SignalKind {
        SignalKind(libc::SIGINT)
    }

    /// `SIGTERM`: the polite request to stop (`kill`, service managers).
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(trellis::signal::SignalKind::terminate().as_raw(), libc::SIGTERM);
    /// ```
    pub const fn terminate() -> SignalKind {
        SignalKind(libc::SIGTERM)
    }

    /// `SIGHUP`: the terminal went away; daemons take it as "reload".
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(trellis::signal::SignalKind::hangup().as_raw(), libc::SIGHUP);
    /// ```
    pub const fn hangup() -> SignalKind {
        SignalKind(libc::SIGHUP)
    }

    /// `SIGQUIT`.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(trellis::signal::SignalKind::quit().as_raw(), libc::SIGQUIT);
    /// ```
    pub const fn quit() -> SignalKind {
        SignalKind(libc::SIGQUIT)
    }

    /// `SIGUSR1`.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(trellis::signal::SignalKind::user_defined1().as_raw(), libc::SIGUSR1);
    /// ```
    pub const fn user_defined1() -> SignalKind {
        SignalKind(libc::SIGUSR1)
    }

    /// `SIGUSR2`.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(trellis::signal::SignalKind::user_defined2().as_raw(), libc::SIGUSR2);
    /// ```
    pub const fn user_defined2() -> SignalKind {
        SignalKind(libc::SIGUSR2)
    }

    /// `SIGWINCH`: the terminal was resized.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(trellis::signal::SignalKind::window_change().as_raw(), libc::SIGWINCH);
    /// ```
    pub const fn window_change() -> SignalKind {
        SignalKind(libc::SIGWINCH)
    }

    /// Any signal by number ([`signal`] refuses the ones that cannot be handled).
    ///
    /// # Example
    ///
    /// ```
    /// let usr1 = trellis::signal::SignalKind::from_raw(libc::SIGUSR1);
    /// assert_eq!(usr1, trellis::signal::SignalKind::user_defined1());
    /// ```
    pub const fn from_raw(signum: libc::c_int) -> SignalKind {
        SignalKind(signum)
    }

    /// The signal's number.
    ///
    /// # Example
    ///
    /// See [`from_raw`](Self::from_raw).
    pub const fn as_raw(self) -> libc::c_int {
        self.0
    }
}

/// Deliveries of one signal to this process, as a stream (see the module doc).
///
/// # Example
///
/// ```
/// use trellis::signal::{SignalKind, signal};
///
/// # trellis::run(async {
/// let mut usr1 = signal(SignalKind::user_defined1()).unwrap();
/// unsafe { libc::kill(libc::getpid(), libc::SIGUSR1) };
/// usr1.recv().await;
/// # });
/// ```
#[derive(Debug)]
#[must_use = "a signal is only seen by awaiting `recv` (dropping it unregisters the handler)"]
pub struct Signal {
    // Field order: the handler is unregistered (Drop) before the sockets close.
    read: Registered<UnixStream>,
    _write: UnixStream,
    id: SigId,
    kind: SignalKind,
}

/// Starts listening for `kind`: deliveries from now on are reported by [`Signal::recv`].
///
/// # Errors
///
/// `InvalidInput` for a signal that cannot be handled (`SIGKILL`, `SIGSTOP`, `SIGSEGV`, `SIGILL`,
/// `SIGFPE`) or is not a signal; the socket pair's error otherwise.
///
/// # Panics
///
/// Outside a Trellis runtime.
///
/// # Example
///
/// See [`Signal`].
pub fn signal(kind: SignalKind) -> io::Result<Signal> {
    let signum = kind.as_raw();
    if signal_hook_registry::FORBIDDEN.contains(&signum) || !(1..64).contains(&signum) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`trellis::signal::signal`: signal {signum} cannot be handled"),
        ));
    }
    let (read, write) = UnixStream::pair()?;
    read.set_nonblocking(true)?;
    write.set_nonblocking(true)?;
    let read = Registered::new(read, "trellis::signal::signal")?;
    let handler_end = write.try_clone()?;
    // SAFETY: the action only calls `write(2)` on a non-blocking socket it owns: no allocation,
    // no lock, no panic (the result is ignored), so it is async-signal-safe, as `register`
    // requires.
    let id = unsafe {
        signal_hook_registry::register(signum, move || {
            let _ = (&handler_end).write_byte();
        })
    }
    .map_err(|e| io::Error::new(e.kind(), format!("`trellis::signal::signal`: {e}")))?;
    Ok(Signal {
        read,
        _write: write,
        id,
        kind,
    })
}

/// `write(2)` of one byte, for the signal handler.
trait WriteByte {
    fn write_byte(self) -> io::Result<usize>;
}

impl WriteByte for &UnixStream {
    fn write_byte(self) -> io::Result<usize> {
        io::Write::write(&mut &*self, &[1])
    }
}

impl Signal {
    /// Waits for the next delivery (or reports one that arrived since the last call). `None`
    /// only once the runtime the signal was created in has shut down.
    ///
    /// # Cancellation
    ///
    /// A checkpoint. A cancelled `recv` consumed no delivery: the next call reports it.
    ///
    /// # Example
    ///
    /// See [`Signal`].
    pub async fn recv(&mut self) -> Option<()> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// `recv` in poll form.
    ///
    /// # Example
    ///
    /// ```
    /// use futures_lite::StreamExt;
    /// # trellis::run(async {
    /// let mut usr2 = trellis::signal::signal(trellis::signal::SignalKind::user_defined2()).unwrap();
    /// unsafe { libc::kill(libc::getpid(), libc::SIGUSR2) };
    /// assert_eq!(usr2.next().await, Some(()));
    /// # });
    /// ```
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
        let mut buf = [0u8; 64];
        let drained = ready!(self.read.poll_io(cx, Interest::Read, |s| {
            // Drain everything queued: one report for all of it.
            let mut total = 0;
            loop {
                match (&mut &*s).read(&mut buf) {
                    Ok(0) => return Ok(total),
                    Ok(n) => total += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock && total > 0 => {
                        return Ok(total);
                    }
                    Err(e) => return Err(e),
                }
            }
        }));
        Poll::Ready(drained.ok().map(drop))
    }

    /// The signal this stream reports.
    ///
    /// # Example
    ///
    /// ```
    /// use trellis::signal::{SignalKind, signal};
    /// # trellis::run(async {
    /// assert_eq!(signal(SignalKind::hangup()).unwrap().kind(), SignalKind::hangup());
    /// # });
    /// ```
    pub fn kind(&self) -> SignalKind {
        self.kind
    }
}

impl futures_core::Stream for Signal {
    type Item = ();

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        self.get_mut().poll_recv(cx)
    }
}

impl Drop for Signal {
    fn drop(&mut self) {
        signal_hook_registry::unregister(self.id);
    }
}

/// Waits for Ctrl-C (`SIGINT`). Listening starts at the first poll.
///
/// # Errors
///
/// If the handler cannot be installed (see [`signal`]).
///
/// # Panics
///
/// Outside a Trellis runtime.
///
/// # Cancellation
///
/// A checkpoint. Cancelled, it stops listening; a Ctrl-C before the next call is not seen by
/// it (keep a [`Signal`] to see every delivery).
///
/// # Example
///
/// A program that stops its work on Ctrl-C, then drains for at most a second:
///
/// ```no_run
/// use std::time::Duration;
///
/// trellis::run(async {
///     let outcome = trellis::nursery(async |n| {
///         let stop = n.handle();
///         n.start_soon(async move {
///             trellis::signal::ctrl_c().await.unwrap();
///             stop.cancel(); // cancels every child, on every domain
///         });
///         n.start_soon(async {
///             loop {
///                 trellis::time::sleep(Duration::from_millis(100)).await; // the real work
///             }
///         });
///     })
///     .await;
///     // Cleanup that must not be cut short by the cancellation, bounded by a deadline.
///     trellis::shielded(trellis::move_on_after(Duration::from_secs(1), async { /* drain */ })).await;
///     outcome.unwrap();
/// });
/// ```
pub async fn ctrl_c() -> io::Result<()> {
    signal(SignalKind::interrupt())?.recv().await;
    Ok(())
}
