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
//! - One mutex guards the slot (the value, the receiver's waker and the liveness flags); both
//!   sides touch it a bounded number of times, so it is never contended for long.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker, ready};

use super::blocking;
use super::error::{RecvError, TryRecvError};
use crate::scheduler::coop;

struct Inner<T> {
    slot: Mutex<Slot<T>>,
}

struct Slot<T> {
    /// The sent value, until the receiver takes it.
    value: Option<T>,
    /// The receiver's waker while it waits.
    waker: Option<Waker>,
    sender_alive: bool,
    receiver_alive: bool,
}

impl<T> Inner<T> {
    fn lock(&self) -> MutexGuard<'_, Slot<T>> {
        // Nothing panics while the lock is held (wakers and value drops run after it is
        // released), so it is never poisoned; recover anyway.
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(crate) fn pair<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Arc::new(Inner {
        slot: Mutex::new(Slot {
            value: None,
            waker: None,
            sender_alive: true,
            receiver_alive: true,
        }),
    });
    (
        Sender {
            inner: inner.clone(),
        },
        Receiver { inner },
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
        let waker = {
            let mut slot = self.inner.lock();
            if !slot.receiver_alive {
                return Err(value);
            }
            slot.value = Some(value);
            slot.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
        // `self` drops here: `sender_alive = false`; the receiver finds the value first.
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
        !self.inner.lock().receiver_alive
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut slot = self.inner.lock();
            slot.sender_alive = false;
            slot.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
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
        let mut slot = self.inner.lock();
        match slot.value.take() {
            Some(v) => Ok(v),
            None if slot.sender_alive => Err(TryRecvError::Empty),
            None => Err(TryRecvError::Closed),
        }
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

    fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Result<T, RecvError>> {
        let coop = ready!(coop::poll_proceed(cx));
        let mut slot = self.inner.lock();
        let res = match slot.value.take() {
            Some(v) => Ok(v),
            None if !slot.sender_alive => Err(RecvError),
            None => {
                match &mut slot.waker {
                    Some(w) => w.clone_from(cx.waker()),
                    None => slot.waker = Some(cx.waker().clone()),
                }
                return Poll::Pending;
            }
        };
        slot.waker = None;
        drop(slot);
        coop.made_progress();
        Poll::Ready(res)
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.poll_recv(cx)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let value = {
            let mut slot = self.inner.lock();
            slot.receiver_alive = false;
            slot.waker = None;
            slot.value.take()
        };
        // Dropped outside the lock: a value's `Drop` may do anything.
        drop(value);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let slot = self.inner.lock();
        f.debug_struct("oneshot::Receiver")
            .field("ready", &slot.value.is_some())
            .field("sender_alive", &slot.sender_alive)
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
        self.rx.poll_recv(cx)
    }
}

impl<T> fmt::Debug for RecvFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::RecvFuture")
            .finish_non_exhaustive()
    }
}
