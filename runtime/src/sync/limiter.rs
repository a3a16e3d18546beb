//! [`CapacityLimiter`]: a pool of tokens, each borrowed by one borrower at a time (Trio's
//! `trio.CapacityLimiter`), on the hand-off core (`handoff.rs`).
//!
//! The units are `total - borrowed` (never negative: a total lowered below `borrowed` grants
//! nothing until enough tokens came back). The borrowers that hold a token, and those queued
//! for one (in the waiter list's order), are kept with the units under the core's mutex, so a
//! token handed to the head of the list is recorded as that borrower's at the hand-off itself,
//! and a second acquire by a borrower that holds or awaits a token is refused on its first poll.

use std::collections::{HashSet, VecDeque};
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::thread::ThreadId;

use super::WouldBlock;
use super::handoff::{Acquire, HandOff, Take, Units};
use crate::TaskId;

/// Who borrows a [`CapacityLimiter`]'s token: by default the current task (or, outside a task,
/// the current thread), as in Trio; or any borrower made with [`Borrower::new`] or from a
/// [`TaskId`], for [`CapacityLimiter::acquire_on_behalf_of`].
///
/// # Examples
///
/// ```
/// use trellis::sync::Borrower;
///
/// let a = Borrower::new();
/// assert_ne!(a, Borrower::new()); // each one is new
/// assert_eq!(Borrower::current(), Borrower::current()); // this thread
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Borrower(Who);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Who {
    Task(TaskId),
    Thread(ThreadId),
    Made(u64),
}

impl Borrower {
    /// The current task, or outside a task (a plain thread, `block_on`'s root future, a
    /// blocking job), the current thread.
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     let me = trellis::sync::Borrower::current();
    ///     let other = trellis::spawn(async { trellis::sync::Borrower::current() });
    ///     assert_ne!(other.await.unwrap(), me);
    /// });
    /// ```
    pub fn current() -> Borrower {
        match TaskId::current() {
            Some(id) => Borrower(Who::Task(id)),
            None => Borrower(Who::Thread(std::thread::current().id())),
        }
    }

    /// A new borrower, equal to no other (Trio lets any object borrow).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trellis::sync::Borrower::new();
    /// assert_eq!(b, b);
    /// ```
    #[allow(clippy::new_without_default)] // a default that is new each time would surprise
    pub fn new() -> Borrower {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Borrower(Who::Made(NEXT.fetch_add(1, Ordering::Relaxed)))
    }
}

impl From<TaskId> for Borrower {
    fn from(id: TaskId) -> Borrower {
        Borrower(Who::Task(id))
    }
}

/// The limiter's state under the core's mutex.
struct Tokens {
    total: usize,
    borrowed: usize,
    /// Borrowers holding a token (or handed one).
    holding: HashSet<Borrower>,
    /// Borrowers queued, in the waiter list's order.
    pending: VecDeque<Borrower>,
}

impl Tokens {
    fn knows(&self, b: Borrower) -> bool {
        self.holding.contains(&b) || self.pending.contains(&b)
    }

    fn forget_pending(&mut self, b: Borrower) {
        if let Some(i) = self.pending.iter().position(|&p| p == b) {
            self.pending.remove(i);
        }
    }
}

impl Units for Tokens {
    /// A token for the head of the list: the oldest pending borrower now holds it.
    fn grant(&mut self) -> bool {
        if self.borrowed < self.total {
            self.borrowed += 1;
            let b = self
                .pending
                .pop_front()
                .expect("a waiting entry has a pending borrower");
            self.holding.insert(b);
            true
        } else {
            false
        }
    }

    fn put(&mut self) {
        self.borrowed -= 1;
    }
}

/// A pool of `total_tokens` tokens (Trio's `trio.CapacityLimiter`): at most that many
/// borrowers hold one at a time, and a borrower holds at most one. The total can be changed
/// while tokens are out ([`set_total_tokens`](CapacityLimiter::set_total_tokens)). Tokens go
/// to waiters in FIFO order.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use trellis::sync::CapacityLimiter;
///
/// trellis::run(async {
///     let limiter = Arc::new(CapacityLimiter::new(2));
///     let running = Arc::new(AtomicUsize::new(0));
///     trellis::nursery(async |n| {
///         for _ in 0..6 {
///             let (limiter, running) = (limiter.clone(), running.clone());
///             n.start_soon(async move {
///                 let _token = limiter.acquire().await.unwrap();
///                 assert!(running.fetch_add(1, Ordering::SeqCst) < 2);
///                 trellis::yield_now().await;
///                 running.fetch_sub(1, Ordering::SeqCst);
///             });
///         }
///     })
///     .await
///     .unwrap();
///     assert_eq!(limiter.borrowed_tokens(), 0);
/// });
/// ```
pub struct CapacityLimiter {
    core: HandOff<Tokens>,
}

impl CapacityLimiter {
    /// A limiter with `total_tokens` tokens (`usize::MAX` for no limit, Trio's `inf`).
    ///
    /// # Panics
    ///
    /// If `total_tokens` is 0 (Trio: "total_tokens must be >= 1").
    ///
    /// # Examples
    ///
    /// ```
    /// let l = trellis::sync::CapacityLimiter::new(4);
    /// assert_eq!(l.total_tokens(), 4);
    /// assert_eq!(l.available_tokens(), 4);
    /// ```
    pub fn new(total_tokens: usize) -> CapacityLimiter {
        assert!(
            total_tokens >= 1,
            "CapacityLimiter: total_tokens must be >= 1"
        );
        CapacityLimiter {
            core: HandOff::new(Tokens {
                total: total_tokens,
                borrowed: 0,
                holding: HashSet::new(),
                pending: VecDeque::new(),
            }),
        }
    }

    /// The total number of tokens.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trellis::sync::CapacityLimiter::new(3).total_tokens(), 3);
    /// ```
    pub fn total_tokens(&self) -> usize {
        self.core.with(|t, _| t.total)
    }

    /// Changes the total. Raising it hands the new tokens to the waiters at once (oldest
    /// first); lowering it below the tokens borrowed takes none back: borrowers keep theirs,
    /// and waiters get one only once `borrowed_tokens() < total_tokens()`.
    ///
    /// # Panics
    ///
    /// If `total_tokens` is 0 (Trio: "total_tokens must be >= 1").
    ///
    /// # Examples
    ///
    /// ```
    /// let l = trellis::sync::CapacityLimiter::new(1);
    /// l.set_total_tokens(5);
    /// assert_eq!(l.available_tokens(), 5);
    /// ```
    pub fn set_total_tokens(&self, total_tokens: usize) {
        assert!(
            total_tokens >= 1,
            "CapacityLimiter: total_tokens must be >= 1"
        );
        self.core.release_with(|t| t.total = total_tokens);
    }

    /// The number of tokens held (including those handed to waiters that have not run yet).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = trellis::sync::CapacityLimiter::new(2);
    /// let _t = l.try_acquire().unwrap();
    /// assert_eq!(l.borrowed_tokens(), 1);
    /// ```
    pub fn borrowed_tokens(&self) -> usize {
        self.core.with(|t, _| t.borrowed)
    }

    /// `total_tokens() - borrowed_tokens()`, or 0 while the total is below the tokens held.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = trellis::sync::CapacityLimiter::new(2);
    /// let _t = l.try_acquire().unwrap();
    /// assert_eq!(l.available_tokens(), 1);
    /// ```
    pub fn available_tokens(&self) -> usize {
        self.core.with(|t, _| t.total.saturating_sub(t.borrowed))
    }

    /// Whether `borrower` holds a token (or was handed one).
    ///
    /// # Examples
    ///
    /// ```
    /// use trellis::sync::{Borrower, CapacityLimiter};
    /// let l = CapacityLimiter::new(1);
    /// let b = Borrower::new();
    /// let _t = l.try_acquire_on_behalf_of(b).unwrap();
    /// assert!(l.is_borrowing(b));
    /// ```
    pub fn is_borrowing(&self, borrower: Borrower) -> bool {
        self.core.with(|t, _| t.holding.contains(&borrower))
    }

    /// The number of acquires waiting (Trio's `statistics().tasks_waiting`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trellis::sync::CapacityLimiter::new(1).waiting(), 0);
    /// ```
    pub fn waiting(&self) -> usize {
        self.core.waiting()
    }

    /// Waits for a token for the current task ([`Borrower::current`]).
    ///
    /// # Errors
    ///
    /// [`AlreadyBorrowing`] at once (no wait) if the current task already holds, or waits
    /// for, a token of this limiter.
    ///
    /// # Cancellation
    ///
    /// A checkpoint (also when a token is free), and cancellation-atomic: dropping the future
    /// before it completed takes nothing, and a token handed to it just as it was cancelled
    /// goes on to the next waiter (or back).
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     let l = trellis::sync::CapacityLimiter::new(1);
    ///     let token = l.acquire().await.unwrap();
    ///     assert!(l.acquire().await.is_err()); // one token per borrower
    ///     drop(token);
    ///     assert_eq!(l.borrowed_tokens(), 0);
    /// });
    /// ```
    pub fn acquire(&self) -> LimiterAcquire<'_> {
        self.acquire_on_behalf_of(Borrower::current())
    }

    /// Waits for a token for `borrower` (Trio's `acquire_on_behalf_of`).
    ///
    /// # Errors
    ///
    /// [`AlreadyBorrowing`] at once (no wait) if `borrower` already holds, or waits for, a
    /// token of this limiter.
    ///
    /// # Cancellation
    ///
    /// As [`acquire`](CapacityLimiter::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use trellis::sync::{Borrower, CapacityLimiter};
    ///
    /// trellis::run(async {
    ///     let l = CapacityLimiter::new(2);
    ///     let job = Borrower::new();
    ///     let _t = l.acquire_on_behalf_of(job).await.unwrap();
    ///     assert!(l.is_borrowing(job));
    /// });
    /// ```
    pub fn acquire_on_behalf_of(&self, borrower: Borrower) -> LimiterAcquire<'_> {
        LimiterAcquire {
            limiter: self,
            borrower,
            acquire: Acquire::new(&self.core),
        }
    }

    /// Takes a token for the current task, if one is free and nobody waits.
    ///
    /// # Errors
    ///
    /// [`TryAcquireError::WouldBlock`] if no token is free or acquires wait;
    /// [`TryAcquireError::AlreadyBorrowing`] if the current task holds or waits for one.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = trellis::sync::CapacityLimiter::new(1);
    /// let _t = l.try_acquire().unwrap();
    /// assert!(l.try_acquire().is_err());
    /// ```
    pub fn try_acquire(&self) -> Result<LimiterToken<'_>, TryAcquireError> {
        self.try_acquire_on_behalf_of(Borrower::current())
    }

    /// Takes a token for `borrower`, if one is free and nobody waits.
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](CapacityLimiter::try_acquire), for `borrower`.
    ///
    /// # Examples
    ///
    /// ```
    /// use trellis::sync::{Borrower, CapacityLimiter, TryAcquireError};
    /// let l = CapacityLimiter::new(1);
    /// let _t = l.try_acquire_on_behalf_of(Borrower::new()).unwrap();
    /// assert_eq!(
    ///     l.try_acquire_on_behalf_of(Borrower::new()).unwrap_err(),
    ///     TryAcquireError::WouldBlock
    /// );
    /// ```
    pub fn try_acquire_on_behalf_of(
        &self,
        borrower: Borrower,
    ) -> Result<LimiterToken<'_>, TryAcquireError> {
        self.core
            .with(|t, waiting| match first(t, waiting, borrower) {
                Take::Taken => Ok(()),
                Take::Refused => Err(TryAcquireError::AlreadyBorrowing),
                Take::Wait => {
                    t.forget_pending(borrower);
                    Err(TryAcquireError::WouldBlock)
                }
            })?;
        Ok(LimiterToken {
            limiter: self,
            borrower,
        })
    }

    /// Waits for a token for the current thread, blocking it (a plain thread).
    ///
    /// # Errors
    ///
    /// [`AlreadyBorrowing`] if this thread already holds a token of this limiter.
    ///
    /// # Panics
    ///
    /// On a Trellis worker thread (inside a task): use [`acquire`](CapacityLimiter::acquire)
    /// there.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = trellis::sync::CapacityLimiter::new(1);
    /// let t = l.acquire_blocking().unwrap();
    /// assert_eq!(l.borrowed_tokens(), 1);
    /// drop(t);
    /// ```
    pub fn acquire_blocking(&self) -> Result<LimiterToken<'_>, AlreadyBorrowing> {
        crate::channel::block_on("CapacityLimiter::acquire_blocking", self.acquire())
    }
}

/// A newcomer's first poll (under the mutex): refused if the borrower is known; a token if one
/// is free and nobody waits; else the borrower is queued (the caller joins the list's tail).
fn first(t: &mut Tokens, waiting: usize, borrower: Borrower) -> Take {
    if t.knows(borrower) {
        Take::Refused
    } else if waiting == 0 && t.borrowed < t.total {
        t.borrowed += 1;
        t.holding.insert(borrower);
        Take::Taken
    } else {
        t.pending.push_back(borrower);
        Take::Wait
    }
}

impl fmt::Debug for CapacityLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (total, borrowed) = self.core.with(|t, _| (t.total, t.borrowed));
        f.debug_struct("CapacityLimiter")
            .field("total_tokens", &total)
            .field("borrowed_tokens", &borrowed)
            .field("waiting", &self.waiting())
            .finish()
    }
}

/// The future of [`CapacityLimiter::acquire`] and
/// [`acquire_on_behalf_of`](CapacityLimiter::acquire_on_behalf_of): ready with a token once
/// one is the borrower's, or at once with [`AlreadyBorrowing`] (see there for cancellation).
///
/// # Examples
///
/// ```
/// use trellis::sync::{CapacityLimiter, LimiterAcquire};
///
/// trellis::run(async {
///     let l = CapacityLimiter::new(1);
///     let fut: LimiterAcquire<'_> = l.acquire();
///     let _token = fut.await.unwrap();
///     assert_eq!(l.borrowed_tokens(), 1);
/// });
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct LimiterAcquire<'a> {
    limiter: &'a CapacityLimiter,
    borrower: Borrower,
    acquire: Acquire<'a, Tokens>,
}

impl<'a> Future for LimiterAcquire<'a> {
    type Output = Result<LimiterToken<'a>, AlreadyBorrowing>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let borrower = this.borrower;
        this.acquire
            .poll_with(cx, |t, waiting| first(t, waiting, borrower))
            .map(|r| match r {
                Ok(()) => Ok(LimiterToken {
                    limiter: this.limiter,
                    borrower,
                }),
                Err(()) => Err(AlreadyBorrowing),
            })
    }
}

impl Drop for LimiterAcquire<'_> {
    fn drop(&mut self) {
        if !self.acquire.is_queued() {
            return; // never queued, or completed: nothing of ours is in the state
        }
        // Cancelled while queued: leave the list, and forget the borrower (pending, or holding
        // a token handed to us, which goes on to the next waiter), in one critical section
        // after the entry is gone.
        let granted = self.acquire.withdraw();
        let b = self.borrower;
        self.limiter.core.release_with(|t| {
            if granted {
                t.holding.remove(&b);
                t.borrowed -= 1;
            } else {
                t.forget_pending(b);
            }
        });
    }
}

impl fmt::Debug for LimiterAcquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LimiterAcquire")
            .field("borrower", &self.borrower)
            .finish_non_exhaustive()
    }
}

/// A borrowed token of a [`CapacityLimiter`]; dropping it gives the token back (to the oldest
/// waiter).
///
/// # Examples
///
/// ```
/// let l = trellis::sync::CapacityLimiter::new(1);
/// let token = l.try_acquire().unwrap();
/// assert_eq!(token.borrower(), trellis::sync::Borrower::current());
/// drop(token);
/// assert_eq!(l.available_tokens(), 1);
/// ```
#[must_use = "dropping the token releases it at once"]
pub struct LimiterToken<'a> {
    limiter: &'a CapacityLimiter,
    borrower: Borrower,
}

impl LimiterToken<'_> {
    /// The borrower holding the token.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = trellis::sync::CapacityLimiter::new(1);
    /// let b = trellis::sync::Borrower::new();
    /// assert_eq!(l.try_acquire_on_behalf_of(b).unwrap().borrower(), b);
    /// ```
    pub fn borrower(&self) -> Borrower {
        self.borrower
    }
}

impl LimiterToken<'_> {
    /// Keeps the token borrowed past this guard: `borrower` holds it until
    /// [`CapacityLimiter::release_for`] (for a token that must outlive a borrow of the limiter,
    /// such as one a `to_thread` job gives back when its closure returns).
    pub(crate) fn keep(self) -> Borrower {
        let b = self.borrower;
        std::mem::forget(self);
        b
    }
}

impl CapacityLimiter {
    /// Gives back the token `borrower` holds (kept by [`LimiterToken::keep`]).
    pub(crate) fn release_for(&self, borrower: Borrower) {
        self.core.release_with(|t| {
            t.holding.remove(&borrower);
            t.put();
        });
    }
}

impl Drop for LimiterToken<'_> {
    fn drop(&mut self) {
        self.limiter.release_for(self.borrower);
    }
}

impl fmt::Debug for LimiterToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LimiterToken")
            .field("borrower", &self.borrower)
            .finish_non_exhaustive()
    }
}

/// The error of an acquire by a borrower that already holds, or waits for, a token of the
/// same limiter (Trio's `RuntimeError`: "this borrower is already holding one of this
/// CapacityLimiter's tokens"). Returned at once: the acquire does not wait.
///
/// # Examples
///
/// ```
/// let l = trellis::sync::CapacityLimiter::new(2);
/// let _t = l.try_acquire().unwrap();
/// assert!(l.try_acquire().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlreadyBorrowing;

impl fmt::Display for AlreadyBorrowing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "this borrower already holds (or waits for) one of this CapacityLimiter's tokens",
        )
    }
}

impl Error for AlreadyBorrowing {}

/// The error of [`CapacityLimiter::try_acquire`].
///
/// # Examples
///
/// ```
/// use trellis::sync::{CapacityLimiter, TryAcquireError};
/// let l = CapacityLimiter::new(1);
/// let _t = l.try_acquire().unwrap();
/// assert_eq!(l.try_acquire().unwrap_err(), TryAcquireError::AlreadyBorrowing);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryAcquireError {
    /// No token is free, or acquires wait ([`WouldBlock`]).
    WouldBlock,
    /// The borrower already holds, or waits for, a token ([`AlreadyBorrowing`]).
    AlreadyBorrowing,
}

impl From<WouldBlock> for TryAcquireError {
    fn from(_: WouldBlock) -> TryAcquireError {
        TryAcquireError::WouldBlock
    }
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAcquireError::WouldBlock => WouldBlock.fmt(f),
            TryAcquireError::AlreadyBorrowing => AlreadyBorrowing.fmt(f),
        }
    }
}

impl Error for TryAcquireError {}
