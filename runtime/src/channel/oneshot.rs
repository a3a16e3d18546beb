//! A oneshot channel: one value, sent once, from one sender to one receiver. Create one with
//! [`channel::oneshot`](super::oneshot()).
//!
//! The sender's [`send`](Sender::send) is synchronous (it never waits); the receiver is a
//! future ([`Receiver`] implements `Future`, and [`Receiver::recv`] borrows it). A typical use
//! is the reply half of a request:
//!
//! ```
//! use trellis::channel::{self, oneshot};
//!
//! trellis::run(async {
//!     let (requests, server_rx) = channel::bounded::<(u32, oneshot::Sender<u32>)>(10);
//!     let server = trellis::spawn(async move {
//!         while let Ok((n, reply)) = server_rx.recv().await {
//!             let _ = reply.send(n * 2);
//!         }
//!     });
//!     let (reply_tx, reply_rx) = channel::oneshot();
//!     requests.send((21, reply_tx)).await.unwrap();
//!     assert_eq!(reply_rx.await, Ok(42));
//!     drop(requests);
//!     server.await.unwrap();
//! });
//! ```
//!
//! # Semantics
//!
//! - The value is dropped exactly once: by the receiver that took it, or when the receiver is
//!   dropped (with the value in it), or never stored at all when [`Sender::send`] finds the
//!   receiver gone and returns it.
//! - Dropping the sender without sending wakes the receiver, which gets [`RecvError`].
//!
//! # Protocol
//!
//! No lock: one state word and two cells, the value and the receiver's waker. The bits:
//! [`VALUE`] (the value is in its cell, published), [`TX_CLOSED`] (the sender is done: it sent
//! or was dropped), [`RX_CLOSED`] (the receiver was dropped), [`WAKER`] (the waker cell holds
//! the receiver's waker, published). Each side ends with one read-modify-write of the word, and
//! the two cells change hands only through it:
//!
//! - **Send.** The sender writes the value into its cell (nobody reads it before `VALUE`), then
//!   sets `VALUE | TX_CLOSED` in one `fetch_or` (release: it publishes the value). If the
//!   previous word has `RX_CLOSED`, the receiver is gone and never saw `VALUE`: the sender takes
//!   the value back and returns it. Otherwise, if it has `WAKER`, the sender wakes the waker in
//!   its cell by reference. A sender dropped without sending does the same `fetch_or` with
//!   `TX_CLOSED` alone. After its `fetch_or` the sender never touches a cell again.
//! - **Receive.** The receiver loads the word (acquire). With `TX_CLOSED` it is done: it takes
//!   the value if `VALUE` is set (the value cell is then the receiver's alone), else it fails.
//!   Otherwise it waits: it may write the waker cell only while `WAKER` is clear and the sender
//!   is not done, writes its waker there, then sets `WAKER` with a `fetch_or` (release: it
//!   publishes the waker). If that `fetch_or` finds `TX_CLOSED`, the sender finished in between
//!   without seeing `WAKER` (so it woke nobody), and the receiver completes at once; otherwise
//!   the sender's later `fetch_or` sees `WAKER` and wakes it. A receiver polled again with a
//!   waker that would wake another task first clears `WAKER` (`fetch_and`): if the sender is
//!   done by then, it may be reading the cell, so the receiver leaves the cell alone and
//!   completes; if not, the sender's `fetch_or` will come later and see `WAKER` clear, so the
//!   cell is the receiver's again and it registers as above.
//! - **Receiver dropped.** `fetch_or(RX_CLOSED)`. If the previous word has `VALUE` (and the
//!   value was not received), the receiver drops the value. If it has no `TX_CLOSED`, the
//!   sender's `fetch_or` comes later and sees `RX_CLOSED`, so it neither reads the waker nor
//!   leaves its value: the receiver drops its waker now (so a long-lived sender does not keep the
//!   receiving task alive). Whatever a cell still holds when both halves are gone is dropped
//!   with the shared allocation.
//!
//! The two `fetch_or`s of the two sides are totally ordered on the word, so exactly one side
//! sees the other's: the value is dropped exactly once (received, dropped by the receiver, or
//! given back by `send`), and a waiting receiver is woken or completes by itself. The loom
//! models at the end of this file check each pair of the three endings, and a receiver that
//! changes its waker while the value is sent (`loom_oneshot_*`), with loom checking every access
//! to the two cells (checked against two seeded bugs: a registration that ignores the send it
//! raced, which deadlocks `loom_oneshot_send_vs_waiting_receiver`, and a receiver drop that
//! frees the waker while the sender may read it, a cell race in
//! `loom_oneshot_send_vs_receiver_drop`).

use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::ptr;
use std::sync::Arc;
use std::task::{Context, Poll, Waker, ready};

use super::blocking;
use super::error::{RecvError, TryRecvError};
use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicUsize, Ordering::AcqRel, Ordering::Acquire};
use crate::scheduler::coop;

/// State bit: the value is in `Inner::value`, published by the sender (always with `TX_CLOSED`).
const VALUE: usize = 1;
/// State bit: the sender is done: it sent, or was dropped without sending.
const TX_CLOSED: usize = 1 << 1;
/// State bit: the receiver was dropped; a send gives its value back.
const RX_CLOSED: usize = 1 << 2;
/// State bit: `Inner::waker` holds the receiver's waker, published by the receiver.
const WAKER: usize = 1 << 3;

/// The allocation both halves share (see the protocol in the module docs).
struct Inner<T> {
    state: AtomicUsize,
    /// Written by the sender before `VALUE`; after `VALUE`, the receiver's alone.
    value: UnsafeCell<Option<T>>,
    /// Written by the receiver while `WAKER` is clear; read by the sender once its `fetch_or`
    /// saw `WAKER` set.
    waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: the cells are accessed only as the module's protocol allows: the value moves from the
// sender's thread to the receiver's (hence `T: Send`), and never is it shared by reference
// between threads (no `T: Sync` needed); the waker is `Send + Sync`.
unsafe impl<T: Send> Send for Inner<T> {}
// SAFETY: as above; `&Inner` is all either half holds.
unsafe impl<T: Send> Sync for Inner<T> {}

impl<T> Inner<T> {
    /// The sender's end: publishes `value` (or, with `None`, just `TX_CLOSED`) and wakes a
    /// waiting receiver. Gives the value back if the receiver is gone.
    fn finish_send(&self, value: Option<T>) -> Result<(), T> {
        let bits = if value.is_some() {
            // SAFETY: `VALUE` is not set yet (only this call sets it, once), so the receiver does
            // not read the cell; nobody else writes it.
            self.value.with_mut(|v| unsafe { *v = value });
            VALUE | TX_CLOSED
        } else {
            TX_CLOSED
        };
        let prev = self.state.fetch_or(bits, AcqRel);
        if prev & RX_CLOSED != 0 {
            // The receiver's `fetch_or` came first and did not see `VALUE`: the value is ours.
            if bits & VALUE == 0 {
                return Ok(());
            }
            // SAFETY: as above, the receiver never reads the cell now.
            let value = self.value.with_mut(|v| unsafe { (*v).take() });
            return Err(value.expect("the value written above"));
        }
        if prev & WAKER != 0 {
            // `WAKER` was set when our `fetch_or` ran, and the receiver writes the cell only
            // after clearing `WAKER` before the sender's `fetch_or` (ours, the last).
            self.waker.with(|w| {
                // SAFETY: as above, nobody writes the cell while we read it.
                if let Some(w) = unsafe { &*w } {
                    w.wake_by_ref();
                }
            });
        }
        Ok(())
    }
}

pub(crate) fn pair<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Arc::new(Inner {
        state: AtomicUsize::new(0),
        value: UnsafeCell::new(None),
        waker: UnsafeCell::new(None),
    });
    (
        Sender {
            inner: inner.clone(),
        },
        Receiver {
            inner,
            received: false,
        },
    )
}

/// The sending half of a oneshot channel. Not `Clone`: the value is sent at most once.
///
/// Dropping it without sending makes the receiver fail with [`RecvError`].
///
/// # Examples
///
/// ```
/// let (tx, rx) = trellis::channel::oneshot();
/// std::thread::spawn(move || tx.send("done").unwrap());
/// assert_eq!(rx.recv_blocking(), Ok("done"));
/// ```
///
/// `send` consumes the sender, so a second send does not compile:
///
/// ```compile_fail
/// let (tx, _rx) = trellis::channel::oneshot::<u8>();
/// tx.send(1).unwrap();
/// tx.send(2).unwrap(); // error: use of moved value: `tx`
/// ```
pub struct Sender<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Sender<T> {
    /// Sends `value` and wakes the receiver. Synchronous: it never waits, and may be called
    /// anywhere (in a task, on a plain thread, in a `Drop`).
    ///
    /// # Errors
    ///
    /// Gives `value` back if the receiver was dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = trellis::channel::oneshot();
    /// drop(rx);
    /// assert_eq!(tx.send(5), Err(5));
    /// ```
    pub fn send(self, value: T) -> Result<(), T> {
        let this = ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again, so the `Arc` is moved out of it once.
        let inner = unsafe { ptr::read(&this.inner) };
        inner.finish_send(Some(value))
    }

    /// Whether the receiver was dropped (a `send` would fail).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = trellis::channel::oneshot::<u8>();
    /// assert!(!tx.is_closed());
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.inner.state.load(Acquire) & RX_CLOSED != 0
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        // Without a value, `finish_send` cannot give one back.
        let _ = self.inner.finish_send(None);
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Sender")
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The receiving half of a oneshot channel. A future of `Result<T, RecvError>`; or use
/// [`recv`](Self::recv) to await it by reference, [`try_recv`](Self::try_recv) to look
/// without waiting, [`recv_blocking`](Self::recv_blocking) on a plain thread.
///
/// Dropping it drops the value if one was sent and not received, and makes a later
/// [`Sender::send`] fail.
///
/// # Examples
///
/// ```
/// trellis::run(async {
///     let (tx, rx) = trellis::channel::oneshot();
///     let sender = trellis::spawn(async move { tx.send(7).unwrap() });
///     assert_eq!(rx.await, Ok(7));
///     sender.await.unwrap();
/// });
/// ```
///
/// # Cancellation
///
/// Awaiting is a checkpoint (it spends cooperative budget). Dropping the receiver while it
/// waits drops the value if it arrives later (the sender gets it back if it had not sent yet).
pub struct Receiver<T> {
    inner: Arc<Inner<T>>,
    /// The value was taken (a later receive fails).
    received: bool,
}

impl<T> Receiver<T> {
    /// Waits for the value, by reference: the receiver stays usable after the returned future
    /// is dropped.
    ///
    /// # Errors
    ///
    /// [`RecvError`] if the sender was dropped without sending, or the value was already
    /// received.
    ///
    /// # Cancellation
    ///
    /// Every poll is a checkpoint. Dropping the future loses nothing: the value stays in the
    /// receiver for the next `recv` or `try_recv`.
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     let (tx, mut rx) = trellis::channel::oneshot();
    ///     tx.send("reply").unwrap();
    ///     assert_eq!(rx.recv().await, Ok("reply"));
    ///     assert!(rx.recv().await.is_err()); // already received
    /// });
    /// ```
    pub fn recv(&mut self) -> RecvFuture<'_, T> {
        RecvFuture { rx: self }
    }

    /// Takes the value if it was sent, without waiting. Not a checkpoint.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] while the sender may still send; [`TryRecvError::Closed`] if
    /// it was dropped without sending, or the value was already received.
    ///
    /// # Examples
    ///
    /// ```
    /// use trellis::channel::TryRecvError;
    ///
    /// let (tx, mut rx) = trellis::channel::oneshot();
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.send(1).unwrap();
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    /// ```
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let state = self.inner.state.load(Acquire);
        if state & TX_CLOSED == 0 {
            return Err(TryRecvError::Empty);
        }
        self.take(state).map_err(|RecvError| TryRecvError::Closed)
    }

    /// Waits for the value, blocking the calling thread. For plain threads.
    ///
    /// # Errors
    ///
    /// [`RecvError`] if the sender was dropped without sending.
    ///
    /// # Panics
    ///
    /// If called on a worker thread of a Trellis runtime (inside a task).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = trellis::channel::oneshot::<u8>();
    /// drop(tx);
    /// assert!(rx.recv_blocking().is_err());
    /// ```
    pub fn recv_blocking(mut self) -> Result<T, RecvError> {
        blocking::block_on("oneshot::Receiver::recv_blocking", self.recv())
    }

    /// The sender is done (`state` has `TX_CLOSED`): the value if it sent one and it was not
    /// received yet.
    fn take(&mut self, state: usize) -> Result<T, RecvError> {
        if state & VALUE == 0 || self.received {
            return Err(RecvError);
        }
        self.received = true;
        // SAFETY: `VALUE` was published (acquire load or RMW), so the sender is done with the
        // cell, and only this receiver (by `&mut`) reads it.
        let value = self.inner.value.with_mut(|v| unsafe { (*v).take() });
        Ok(value.expect("a oneshot's published value is in its cell"))
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, RecvError>> {
        let coop = ready!(coop::poll_proceed(cx));
        let inner = &*self.inner;
        let mut state = inner.state.load(Acquire);
        if state & TX_CLOSED == 0 {
            if state & WAKER != 0 {
                let same = inner.waker.with(|w| {
                    // SAFETY: while `WAKER` is set the sender at most reads the cell.
                    unsafe { &*w }
                        .as_ref()
                        .is_some_and(|w| w.will_wake(cx.waker()))
                });
                if same {
                    // The sender's `fetch_or` is still to come, and will see `WAKER`.
                    return Poll::Pending;
                }
                state = inner.state.fetch_and(!WAKER, AcqRel);
            }
            if state & TX_CLOSED == 0 {
                // SAFETY: `WAKER` is clear and the sender's `fetch_or` has not run: it will see
                // `WAKER` clear and not read the cell.
                inner
                    .waker
                    .with_mut(|w| unsafe { *w = Some(cx.waker().clone()) });
                state = inner.state.fetch_or(WAKER, AcqRel);
                if state & TX_CLOSED == 0 {
                    return Poll::Pending;
                }
            }
        }
        let res = self.take(state);
        coop.made_progress();
        Poll::Ready(res)
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().poll_recv(cx)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let prev = self.inner.state.fetch_or(RX_CLOSED, AcqRel);
        if prev & VALUE != 0 && !self.received {
            // SAFETY: `VALUE` is published and only the receiver reads the cell.
            drop(self.inner.value.with_mut(|v| unsafe { (*v).take() }));
        }
        if prev & TX_CLOSED == 0 {
            // The sender's `fetch_or` is still to come and will see `RX_CLOSED`: it will not
            // read the waker, so drop it now rather than with the allocation.
            // SAFETY: the sender never touches the cell, and this is the receiver's last act.
            drop(self.inner.waker.with_mut(|w| unsafe { (*w).take() }));
        }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.state.load(Acquire);
        f.debug_struct("oneshot::Receiver")
            .field("ready", &(state & VALUE != 0 && !self.received))
            .field("sender_alive", &(state & TX_CLOSED == 0))
            .finish()
    }
}

/// The future of [`Receiver::recv`].
///
/// # Examples
///
/// ```
/// trellis::run(async {
///     let (tx, mut rx) = trellis::channel::oneshot();
///     tx.send(()).unwrap();
///     let fut: trellis::channel::oneshot::RecvFuture<'_, ()> = rx.recv();
///     assert_eq!(fut.await, Ok(()));
/// });
/// ```
///
/// # Cancellation
///
/// Dropping it loses nothing (see [`Receiver::recv`]).
#[must_use = "futures do nothing unless polled"]
pub struct RecvFuture<'a, T> {
    rx: &'a mut Receiver<T>,
}

impl<T> Future for RecvFuture<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().rx.poll_recv(cx)
    }
}

impl<T> fmt::Debug for RecvFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::RecvFuture")
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, trellis_loom))]
mod loom_oneshot {
    //! Loom models of the protocol in the module docs: each ending of one side against each of
    //! the other's, and a receiver that changes its waker while the value is sent. A lost wakeup
    //! leaves `block_on` parked, which loom reports as a deadlock; a cell accessed by both sides
    //! at once fails the model.

    use super::*;
    use crate::channel::chan::loom_chan::block_on;
    use loom::thread;

    #[test]
    fn loom_oneshot_send_vs_waiting_receiver() {
        loom::model(|| {
            let (tx, rx) = pair::<u8>();
            let t = thread::spawn(move || tx.send(7).is_ok());
            assert_eq!(block_on(rx), Ok(7));
            assert!(t.join().unwrap());
        });
    }

    #[test]
    fn loom_oneshot_sender_drop_vs_waiting_receiver() {
        loom::model(|| {
            let (tx, rx) = pair::<u8>();
            let t = thread::spawn(move || drop(tx));
            assert_eq!(block_on(rx), Err(RecvError));
            t.join().unwrap();
        });
    }

    #[test]
    fn loom_oneshot_send_vs_receiver_drop() {
        // The receiver registers a waker, then is dropped while the value is sent: the value
        // (a clone of `token`) is dropped, by the receiver or (given back) by the sender's
        // caller. The cells hold an `Option` that `take` empties, so it cannot drop twice.
        loom::model(|| {
            let token = Arc::new(());
            let (tx, mut rx) = pair::<Arc<()>>();
            let value = token.clone();
            let t = thread::spawn(move || tx.send(value).map_err(drop).is_ok());
            let mut cx = Context::from_waker(Waker::noop());
            if let Poll::Ready(v) = rx.poll_recv(&mut cx) {
                drop(v);
            }
            drop(rx);
            let _sent = t.join().unwrap();
            assert_eq!(
                Arc::strong_count(&token),
                1,
                "the value outlived both halves"
            );
        });
    }

    #[test]
    fn loom_oneshot_new_waker_vs_send() {
        // The receiver waits with one waker, then with another (the replace path, which clears
        // `WAKER` first) while the value is sent: it is woken, or completes by itself.
        loom::model(|| {
            let (tx, mut rx) = pair::<u8>();
            let t = thread::spawn(move || tx.send(3).is_ok());
            let mut cx = Context::from_waker(Waker::noop());
            let first = rx.poll_recv(&mut cx);
            let got = match first {
                Poll::Ready(v) => v,
                Poll::Pending => block_on(rx.recv()),
            };
            assert_eq!(got, Ok(3));
            assert!(t.join().unwrap());
        });
    }
}
