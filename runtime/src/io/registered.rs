//! An I/O object registered with the runtime's reactor, and the loop every operation runs.
//!
//! # The operation loop
//!
//! ```text
//! checkpoint (cooperative budget; Pending in a cancelled scope)
//! loop {
//!     snapshot = poll_ready(direction)?     // Pending: the waker is registered
//!     match syscall() {
//!         WouldBlock => clear(snapshot)     // then loop: fails if an event came meanwhile
//!         result     => return result       // data, EOF or an error: readiness untouched
//!     }                                     // (a short stream write clears it too)
//! }
//! ```
//!
//! The syscall runs only inside a poll that then returns its result, so an operation that is
//! cancelled (dropped while `Pending`) did nothing: a cancelled read consumed no byte, a
//! cancelled write wrote none, a cancelled `accept` accepted no connection. The checkpoint
//! comes first, so an operation in a cancelled scope does nothing either, even when the
//! socket is ready (Trio's rule: every I/O operation is a cancellation point).

use std::future::Future;
use std::io;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use super::readiness::{Interest, Source, Waiter};
use crate::scheduler::coop;
use crate::scheduler::{Shared, context};

/// An I/O object of type `T` registered with the reactor of the runtime it was created in.
/// Dropping it deletes it from the poller, then closes it.
pub(crate) struct Registered<T: AsFd> {
    io: Option<T>,
    source: Arc<Source>,
    shared: Arc<Shared>,
}

impl<T: AsFd> Registered<T> {
    /// Registers `io` (already non-blocking) with the current runtime's reactor. `call` names
    /// the user's call in the panic off a runtime.
    pub(crate) fn new(io: T, call: &str) -> io::Result<Registered<T>> {
        let shared = context::expect_runtime(call, Arc::clone);
        let source = shared.reactor.register(io.as_fd())?;
        Ok(Registered {
            io: Some(io),
            source,
            shared,
        })
    }

    /// The I/O object.
    pub(crate) fn get(&self) -> &T {
        self.io.as_ref().expect("present until drop")
    }

    /// Runs one operation in the direction's slot (`poll_read` / `poll_write` style; one task
    /// per direction at a time), as the module doc's loop.
    pub(crate) fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        interest: Interest,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_op(cx, interest, &mut Waiter::Slot, op, |_| false)
    }

    /// `poll_io` for a stream transfer of `len` bytes: one of fewer bytes (but some) also
    /// clears readiness, as a `WouldBlock` would, since it shows the kernel's send buffer full
    /// (or its receive buffer drained); the next transfer then waits for the next edge instead
    /// of paying a syscall that would say `WouldBlock`. Safe for the same reason the
    /// `WouldBlock` clear is: it is refused if an event came since the snapshot, and once the
    /// direction is closed (`readiness.rs`, `clear_drained`). Reads use it only where the
    /// reactor reports a read hang-up (`net/stream.rs`).
    pub(crate) fn poll_transfer(
        &self,
        cx: &mut Context<'_>,
        interest: Interest,
        len: usize,
        op: impl FnMut(&T) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        self.poll_op(cx, interest, &mut Waiter::Slot, op, |&n| 0 < n && n < len)
    }

    fn poll_op<R>(
        &self,
        cx: &mut Context<'_>,
        interest: Interest,
        waiter: &mut Waiter,
        mut op: impl FnMut(&T) -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> Poll<io::Result<R>> {
        let spent = ready!(coop::poll_proceed(cx));
        if self.shared.is_shutdown() {
            return Poll::Ready(Err(io::Error::other(
                "the Trellis runtime this socket was created in has shut down",
            )));
        }
        let direction = self.source.direction(interest);
        loop {
            let snapshot = ready!(direction.poll_ready(cx, waiter));
            match op(self.get()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    direction.clear(snapshot);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                result => {
                    if result.as_ref().is_ok_and(&drained) {
                        direction.clear_drained(snapshot);
                    }
                    spent.made_progress();
                    return Poll::Ready(result);
                }
            }
        }
    }

    /// A future running `op` as the module doc's loop, waiting in the direction's list (any
    /// number of tasks may wait at once).
    pub(crate) fn op<R, F>(&self, interest: Interest, op: F) -> Op<'_, T, F>
    where
        F: FnMut(&T) -> io::Result<R> + Unpin,
    {
        Op {
            registered: self,
            interest,
            waiter: Waiter::Key(None),
            op,
        }
    }
}

impl<T: AsFd> Drop for Registered<T> {
    fn drop(&mut self) {
        if let Some(io) = self.io.take() {
            // Delete before close (`polling`'s contract for `add`).
            self.shared.reactor.deregister(io.as_fd(), &self.source);
            drop(io);
        }
    }
}

impl<T: AsFd + std::fmt::Debug> std::fmt::Debug for Registered<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.io.fmt(f)
    }
}

/// An operation waiting in a direction's list (`Registered::op`).
#[must_use = "an I/O operation does nothing unless awaited"]
pub(crate) struct Op<'a, T: AsFd, F> {
    registered: &'a Registered<T>,
    interest: Interest,
    waiter: Waiter,
    op: F,
}

impl<T: AsFd, R, F: FnMut(&T) -> io::Result<R> + Unpin> Future for Op<'_, T, F> {
    type Output = io::Result<R>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        let this = self.get_mut();
        this.registered
            .poll_op(cx, this.interest, &mut this.waiter, &mut this.op, |_| false)
    }
}

impl<T: AsFd, F> Drop for Op<'_, T, F> {
    fn drop(&mut self) {
        if let Waiter::Key(Some(key)) = self.waiter {
            self.registered.source.direction(self.interest).remove(key);
        }
    }
}
