//! [`Condition`]: a condition variable on a [`Lock`] (Trio's `trio.Condition`).
//!
//! A wait registers in the condition's waiter list (the channels' list, `Waiters<()>`) *before*
//! it releases the lock, in one poll: a notifier that takes the lock afterwards finds it
//! registered, so a notification sent under the lock is never missed. A notified waiter then
//! queues for the lock like any other acquire (fair hand-off, `handoff.rs`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use super::WouldBlock;
use super::handoff::Take;
use super::lock::{Lock, LockFuture, LockGuard};
use crate::channel::Waiters;
use crate::scheduler::coop;

/// A condition variable with its own fair [`Lock`]: Trio's `trio.Condition`. A task holding
/// the lock calls [`wait`](Condition::wait), which releases the lock, sleeps until
/// [`notify`](Condition::notify) or [`notify_all`](Condition::notify_all), and takes the lock
/// again before it returns.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use trellis::sync::Condition;
///
/// trellis::run(async {
///     let cond = Arc::new(Condition::new());
///     let ready = Arc::new(AtomicBool::new(false));
///     let (c, r) = (cond.clone(), ready.clone());
///     let waiter = trellis::spawn(async move {
///         let mut guard = c.lock().await;
///         while !r.load(Ordering::SeqCst) {
///             guard = c.wait(guard).await;
///         }
///     });
///     {
///         let _guard = cond.lock().await;
///         ready.store(true, Ordering::SeqCst);
///         cond.notify_all();
///     }
///     waiter.await.unwrap();
/// });
/// ```
pub struct Condition {
    lock: Lock,
    waiters: Waiters,
}

impl Condition {
    /// A new condition with a new, unlocked lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = trellis::sync::Condition::new();
    /// assert!(!c.is_locked());
    /// ```
    pub fn new() -> Condition {
        Condition {
            lock: Lock::new(),
            waiters: Waiters::new(),
        }
    }

    /// Waits for the condition's lock ([`Lock::lock`]).
    ///
    /// # Cancellation
    ///
    /// As [`Lock::lock`]: a checkpoint, and cancellation-atomic.
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     let c = trellis::sync::Condition::new();
    ///     let _g = c.lock().await;
    ///     assert!(c.is_locked());
    /// });
    /// ```
    pub fn lock(&self) -> LockFuture<'_> {
        self.lock.lock()
    }

    /// Takes the condition's lock if it is free and nobody waits ([`Lock::try_lock`]).
    ///
    /// # Errors
    ///
    /// [`WouldBlock`] if the lock is held or waited for.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = trellis::sync::Condition::new();
    /// let _g = c.try_lock().unwrap();
    /// assert!(c.try_lock().is_err());
    /// ```
    pub fn try_lock(&self) -> Result<LockGuard<'_>, WouldBlock> {
        self.lock.try_lock()
    }

    /// Whether the condition's lock is held.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!trellis::sync::Condition::new().is_locked());
    /// ```
    pub fn is_locked(&self) -> bool {
        self.lock.is_locked()
    }

    /// The condition's lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = trellis::sync::Condition::new();
    /// assert_eq!(c.as_lock().waiting(), 0);
    /// ```
    pub fn as_lock(&self) -> &Lock {
        &self.lock
    }

    /// The number of tasks waiting to be notified (not those queued for the lock).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trellis::sync::Condition::new().waiting(), 0);
    /// ```
    pub fn waiting(&self) -> usize {
        self.waiters.waiting()
    }

    /// Releases the lock held by `guard`, waits to be notified, then waits for the lock again
    /// and returns its new guard. As with any condition variable, re-check the predicate after
    /// it returns.
    ///
    /// # Panics
    ///
    /// If `guard` holds another lock than this condition's.
    ///
    /// # Cancellation
    ///
    /// A checkpoint. Unlike Trio (where a cancelled `wait` takes the lock again before it
    /// raises), dropping the future holds nothing: `guard` was moved into it, so the lock is
    /// released (or, if it was being taken again, the acquire is cancelled atomically, as
    /// [`Lock::lock`]). A notification that reached a waiter dropped before it returned is
    /// consumed, as in Trio.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// trellis::run(async {
    ///     let c = trellis::sync::Condition::new();
    ///     let guard = c.lock().await;
    ///     // Nobody notifies: the timeout cancels the wait, which releases the lock.
    ///     let woken = trellis::move_on_after(Duration::from_millis(5), c.wait(guard)).await;
    ///     assert!(woken.is_none());
    ///     assert!(!c.is_locked());
    /// });
    /// ```
    pub fn wait<'a>(&'a self, guard: LockGuard<'a>) -> ConditionWait<'a> {
        assert!(
            std::ptr::eq(guard.lock(), &self.lock),
            "Condition::wait: the guard holds another lock than this condition's"
        );
        ConditionWait {
            cond: self,
            state: State::Holding(Some(guard)),
            key: None,
        }
    }

    /// Wakes up to `n` waiting tasks, oldest first; each then queues for the lock.
    ///
    /// # Panics
    ///
    /// If the condition's lock is not held (Trio: "must hold the lock to notify"); hold it while
    /// notifying, so that no waiter can miss the change.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = trellis::sync::Condition::new();
    /// let _g = c.try_lock().unwrap();
    /// c.notify(2); // nobody waits: nothing happens
    /// ```
    pub fn notify(&self, n: usize) {
        self.assert_locked("notify");
        for _ in 0..n {
            if !self.waiters.notify_one() {
                break;
            }
        }
    }

    /// Wakes every waiting task; each then queues for the lock.
    ///
    /// # Panics
    ///
    /// If the condition's lock is not held.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = trellis::sync::Condition::new();
    /// let _g = c.try_lock().unwrap();
    /// c.notify_all();
    /// ```
    pub fn notify_all(&self) {
        self.assert_locked("notify_all");
        self.waiters.notify_all();
    }

    #[track_caller]
    fn assert_locked(&self, what: &str) {
        assert!(
            self.lock.is_locked(),
            "Condition::{what}: the condition's lock must be held to notify"
        );
    }
}

impl Default for Condition {
    fn default() -> Condition {
        Condition::new()
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("lock", &self.lock)
            .field("waiting", &self.waiting())
            .finish()
    }
}

enum State<'a> {
    /// Not polled yet: the caller's guard.
    Holding(Option<LockGuard<'a>>),
    /// Registered, lock released, waiting for a notification.
    Waiting,
    /// Notified: taking the lock again.
    Relocking(LockFuture<'a>),
}

/// The future of [`Condition::wait`]: ready with a new guard once notified and holding the
/// lock again (see there for cancellation).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use trellis::sync::{Condition, ConditionWait};
///
/// trellis::run(async {
///     let c = Arc::new(Condition::new());
///     let c2 = c.clone();
///     let waiter = trellis::spawn(async move {
///         let guard = c2.lock().await;
///         let wait: ConditionWait<'_> = c2.wait(guard);
///         drop(wait.await);
///     });
///     while c.waiting() == 0 {
///         trellis::yield_now().await;
///     }
///     let _guard = c.lock().await;
///     c.notify(1);
///     drop(_guard);
///     waiter.await.unwrap();
/// });
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct ConditionWait<'a> {
    cond: &'a Condition,
    state: State<'a>,
    key: Option<usize>,
}

impl<'a> Future for ConditionWait<'a> {
    type Output = LockGuard<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<LockGuard<'a>> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                State::Holding(guard) => {
                    // The checkpoint: if cancelled, the drop releases the guard.
                    let coop = ready!(coop::poll_proceed(cx));
                    // Register first, then release: a notifier that takes the lock after this
                    // finds us in the list.
                    this.cond.waiters.register(&mut this.key, cx.waker());
                    drop(guard.take());
                    this.state = State::Waiting;
                    coop.made_progress();
                    return Poll::Pending;
                }
                State::Waiting => {
                    let coop = ready!(coop::poll_proceed(cx));
                    match this
                        .cond
                        .waiters
                        .poll_grant(&mut this.key, cx.waker(), |(), _| Take::Wait)
                    {
                        Take::Taken => {
                            coop.made_progress();
                            this.state = State::Relocking(this.cond.lock.lock());
                        }
                        _ => return Poll::Pending,
                    }
                }
                State::Relocking(fut) => return Pin::new(fut).poll(cx),
            }
        }
    }
}

impl Drop for ConditionWait<'_> {
    fn drop(&mut self) {
        // Waiting: leave the list (a notification that reached us is consumed, as in Trio).
        // Holding: the guard's drop releases the lock. Relocking: the lock future's drop.
        self.cond.waiters.remove(&mut self.key);
    }
}

impl fmt::Debug for ConditionWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Holding(_) => "holding",
            State::Waiting => "waiting",
            State::Relocking(_) => "relocking",
        };
        f.debug_struct("ConditionWait")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}
