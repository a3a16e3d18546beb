//! Synchronization primitives with Trio's names and semantics: [`Event`], [`Lock`],
//! [`Semaphore`], [`CapacityLimiter`] and [`Condition`].
//!
//! - **Fair.** [`Lock`], [`Semaphore`] and [`CapacityLimiter`] hand a released unit straight
//!   to the oldest waiter (FIFO), as Trio does: a task that releases and acquires again goes to
//!   the back of the line, and a newcomer never overtakes a waiter.
//! - **Checkpoints.** Every wait is a checkpoint: in a cancelled scope it stops there (also when
//!   it could complete at once, as in Trio), and it spends the task's cooperative budget.
//! - **Cancellation-atomic.** A cancelled acquire holds nothing: if a unit was handed to the
//!   waiter just as it was cancelled, dropping the wait future passes the unit on to the next
//!   waiter (or back). An acquire that completed holds its unit (its guard).
//! - **Anywhere.** All types are `Send + Sync`; share them with an `Arc` between tasks on any
//!   domain (a waiter is woken on its own domain) and plain threads, which have blocking forms
//!   ([`Event::wait_blocking`], [`Lock::lock_blocking`], [`Semaphore::acquire_blocking`],
//!   [`CapacityLimiter::acquire_blocking`]).
//!
//! ```
//! use std::sync::Arc;
//! use trellis::sync::Semaphore;
//!
//! trellis::run(async {
//!     let sem = Arc::new(Semaphore::new(2)); // at most two at a time
//!     trellis::nursery(async |n| {
//!         for _ in 0..8 {
//!             let sem = sem.clone();
//!             n.start_soon(async move {
//!                 let _permit = sem.acquire().await;
//!                 trellis::yield_now().await; // the work
//!             });
//!         }
//!     })
//!     .await
//!     .unwrap();
//!     assert_eq!(sem.value(), 2);
//! });
//! ```

mod condition;
mod event;
mod handoff;
mod limiter;
mod lock;
mod semaphore;

use std::error::Error;
use std::fmt;

pub use condition::{Condition, ConditionWait};
pub use event::{Event, EventWait};
pub use limiter::{
    AlreadyBorrowing, Borrower, CapacityLimiter, LimiterAcquire, LimiterToken, TryAcquireError,
};
pub use lock::{Lock, LockFuture, LockGuard};
pub use semaphore::{Semaphore, SemaphoreAcquire, SemaphorePermit, TooManyReleases};

/// The error of a `try_*` operation that would have had to wait (Trio's `trio.WouldBlock`).
///
/// # Examples
///
/// ```
/// use trellis::sync::{Lock, WouldBlock};
///
/// let lock = Lock::new();
/// let _held = lock.try_lock().unwrap();
/// assert_eq!(lock.try_lock().unwrap_err(), WouldBlock);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WouldBlock;

impl fmt::Display for WouldBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the operation would block")
    }
}

impl Error for WouldBlock {}
