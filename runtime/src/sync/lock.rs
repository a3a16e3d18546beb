//! [`Lock`]: a fair mutual-exclusion lock without data (Trio's `trio.Lock`), on the hand-off
//! core (`handoff.rs`) with one unit.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::WouldBlock;
use super::handoff::{Acquire, Count, HandOff};

/// A fair lock: Trio's `trio.Lock`. At most one [`LockGuard`] exists at a time; dropping it
/// hands the lock straight to the oldest waiter (FIFO), so a task that unlocks and locks
/// again queues behind the others.
///
/// The lock guards no data (as in Trio): it orders sections of code. For data, put it next to
/// the lock, or use a `std::sync::Mutex` for short sections that never wait inside.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use trellis::sync::Lock;
///
/// trellis::run(async {
///     let lock = Arc::new(Lock::new());
///     let inside = Arc::new(AtomicUsize::new(0));
///     trellis::nursery(async |n| {
///         for _ in 0..4 {
///             let (lock, inside) = (lock.clone(), inside.clone());
///             n.start_soon(async move {
///                 let _g = lock.lock().await;
///                 assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
///                 trellis::yield_now().await; // others wait meanwhile
///                 inside.fetch_sub(1, Ordering::SeqCst);
///             });
///         }
///     })
///     .await
///     .unwrap();
///     assert!(!lock.is_locked());
/// });
/// ```
pub struct Lock {
    pub(super) core: HandOff<Count>,
}

impl Lock {
    /// A new, unlocked lock.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!trellis::sync::Lock::new().is_locked());
    /// ```
    pub fn new() -> Lock {
        Lock {
            core: HandOff::new(Count(1)),
        }
    }

    /// Waits for the lock and returns its guard; the lock is released when the guard is dropped.
    ///
    /// # Cancellation
    ///
    /// A checkpoint (also when the lock is free), and cancellation-atomic: dropping the future
    /// before it completed leaves the lock as if it had never been called. If the lock was
    /// handed to this waiter just as it was cancelled, the drop hands it on to the next waiter
    /// (or unlocks it).
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     let lock = trellis::sync::Lock::new();
    ///     let guard = lock.lock().await;
    ///     assert!(lock.is_locked());
    ///     drop(guard);
    ///     assert!(!lock.is_locked());
    /// });
    /// ```
    pub fn lock(&self) -> LockFuture<'_> {
        LockFuture {
            lock: self,
            acquire: Acquire::new(&self.core),
        }
    }

    /// Takes the lock if it is free and nobody waits for it (Trio's `acquire_nowait`).
    ///
    /// # Errors
    ///
    /// [`WouldBlock`] if the lock is held, or handed to a waiter, or tasks wait for it.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = trellis::sync::Lock::new();
    /// let g = lock.try_lock().unwrap();
    /// assert!(lock.try_lock().is_err());
    /// drop(g);
    /// assert!(lock.try_lock().is_ok());
    /// ```
    pub fn try_lock(&self) -> Result<LockGuard<'_>, WouldBlock> {
        if self.core.try_acquire() {
            Ok(LockGuard { lock: self })
        } else {
            Err(WouldBlock)
        }
    }

    /// Waits for the lock, blocking this (plain) thread.
    ///
    /// # Panics
    ///
    /// On a Trellis worker thread (inside a task): use [`lock`](Lock::lock) there.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = trellis::sync::Lock::new();
    /// let g = lock.lock_blocking();
    /// assert!(lock.is_locked());
    /// drop(g);
    /// ```
    pub fn lock_blocking(&self) -> LockGuard<'_> {
        crate::channel::block_on("Lock::lock_blocking", self.lock())
    }

    /// Whether the lock is held (or handed to a waiter that has not run yet).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = trellis::sync::Lock::new();
    /// let _g = lock.try_lock().unwrap();
    /// assert!(lock.is_locked());
    /// ```
    pub fn is_locked(&self) -> bool {
        self.core.with(|c, _| c.0 == 0)
    }

    /// The number of tasks and threads waiting for the lock (Trio's
    /// `statistics().tasks_waiting`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trellis::sync::Lock::new().waiting(), 0);
    /// ```
    pub fn waiting(&self) -> usize {
        self.core.waiting()
    }
}

impl Default for Lock {
    fn default() -> Lock {
        Lock::new()
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("locked", &self.is_locked())
            .field("waiting", &self.waiting())
            .finish()
    }
}

/// The future of [`Lock::lock`]: ready with the guard once the lock is this waiter's (see
/// there for cancellation).
///
/// # Examples
///
/// ```
/// use trellis::sync::{Lock, LockFuture};
///
/// trellis::run(async {
///     let lock = Lock::new();
///     let fut: LockFuture<'_> = lock.lock();
///     let _guard = fut.await;
///     assert!(lock.is_locked());
/// });
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct LockFuture<'a> {
    lock: &'a Lock,
    acquire: Acquire<'a, Count>,
}

impl<'a> Future for LockFuture<'a> {
    type Output = LockGuard<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<LockGuard<'a>> {
        let this = &mut *self;
        this.acquire
            .poll_fifo(cx)
            .map(|()| LockGuard { lock: this.lock })
    }
}

impl fmt::Debug for LockFuture<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockFuture")
            .field("lock", self.lock)
            .finish_non_exhaustive()
    }
}

/// Holds a [`Lock`]; dropping it releases the lock to the oldest waiter.
///
/// # Examples
///
/// ```
/// let lock = trellis::sync::Lock::new();
/// let guard = lock.try_lock().unwrap();
/// assert!(std::ptr::eq(guard.lock(), &lock));
/// ```
#[must_use = "dropping the guard releases the lock at once"]
pub struct LockGuard<'a> {
    lock: &'a Lock,
}

impl<'a> LockGuard<'a> {
    /// The lock this guard holds.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = trellis::sync::Lock::new();
    /// let guard = lock.try_lock().unwrap();
    /// assert!(guard.lock().is_locked());
    /// ```
    pub fn lock(&self) -> &'a Lock {
        self.lock
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        self.lock.core.release();
    }
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard").finish_non_exhaustive()
    }
}
