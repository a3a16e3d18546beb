//! [`Semaphore`]: a fair counting semaphore (Trio's `trio.Semaphore`), on the hand-off core
//! (`handoff.rs`) with `value` units.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::WouldBlock;
use super::handoff::{Acquire, Count, HandOff};

/// A fair counting semaphore: Trio's `trio.Semaphore(initial_value, max_value=)`.
///
/// [`acquire`](Semaphore::acquire) takes one unit of the value (waiting while it is 0) and
/// returns a [`SemaphorePermit`] that gives it back when dropped; [`release`](Semaphore::release)
/// adds one unit without a permit (any task or thread may call it), checked against the
/// maximum when the semaphore has one ([`with_max`](Semaphore::with_max)). A released unit goes
/// straight to the oldest waiter (FIFO).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use trellis::sync::Semaphore;
///
/// trellis::run(async {
///     let sem = Arc::new(Semaphore::new(1));
///     let permit = sem.acquire().await;
///     assert_eq!(sem.value(), 0);
///     let s = sem.clone();
///     let waiter = trellis::spawn(async move {
///         let _p = s.acquire().await;
///     });
///     drop(permit); // handed to the waiter
///     waiter.await.unwrap();
///     assert_eq!(sem.value(), 1);
/// });
/// ```
pub struct Semaphore {
    core: HandOff<Count>,
    max: Option<usize>,
}

impl Semaphore {
    /// A semaphore with value `initial` and no maximum.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = trellis::sync::Semaphore::new(3);
    /// assert_eq!(sem.value(), 3);
    /// assert_eq!(sem.max_value(), None);
    /// ```
    pub fn new(initial: usize) -> Semaphore {
        Semaphore {
            core: HandOff::new(Count(initial)),
            max: None,
        }
    }

    /// A bounded semaphore: value `initial`, and [`release`](Semaphore::release) fails once
    /// the value would exceed `max` (Trio's `Semaphore(initial, max_value=max)`).
    ///
    /// # Panics
    ///
    /// If `initial > max`.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = trellis::sync::Semaphore::with_max(1, 1);
    /// assert!(sem.release().is_err());
    /// ```
    pub fn with_max(initial: usize, max: usize) -> Semaphore {
        assert!(
            initial <= max,
            "Semaphore::with_max: the maximum ({max}) must be >= the initial value ({initial})"
        );
        Semaphore {
            core: HandOff::new(Count(initial)),
            max: Some(max),
        }
    }

    /// The current value: units free now (Trio's `value`). Units handed to waiters that have
    /// not run yet are not counted.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = trellis::sync::Semaphore::new(2);
    /// let _p = sem.try_acquire().unwrap();
    /// assert_eq!(sem.value(), 1);
    /// ```
    pub fn value(&self) -> usize {
        self.core.with(|c, _| c.0)
    }

    /// The maximum given to [`with_max`](Semaphore::with_max), if any.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trellis::sync::Semaphore::with_max(0, 4).max_value(), Some(4));
    /// ```
    pub fn max_value(&self) -> Option<usize> {
        self.max
    }

    /// The number of tasks and threads waiting (Trio's `statistics().tasks_waiting`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trellis::sync::Semaphore::new(0).waiting(), 0);
    /// ```
    pub fn waiting(&self) -> usize {
        self.core.waiting()
    }

    /// Waits for a unit and returns a permit holding it.
    ///
    /// # Cancellation
    ///
    /// A checkpoint (also when a unit is free), and cancellation-atomic: dropping the future
    /// before it completed takes nothing. If a unit was handed to this waiter just as it was
    /// cancelled, the drop hands it on to the next waiter (or back to the value).
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     let sem = trellis::sync::Semaphore::new(1);
    ///     let p = sem.acquire().await;
    ///     assert_eq!(sem.value(), 0);
    ///     drop(p);
    ///     assert_eq!(sem.value(), 1);
    /// });
    /// ```
    pub fn acquire(&self) -> SemaphoreAcquire<'_> {
        SemaphoreAcquire {
            sem: self,
            acquire: Acquire::new(&self.core),
        }
    }

    /// Takes a unit if one is free and nobody waits (Trio's `acquire_nowait`).
    ///
    /// # Errors
    ///
    /// [`WouldBlock`] if the value is 0 or tasks wait.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = trellis::sync::Semaphore::new(1);
    /// let _p = sem.try_acquire().unwrap();
    /// assert!(sem.try_acquire().is_err());
    /// ```
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, WouldBlock> {
        if self.core.try_acquire() {
            Ok(SemaphorePermit { sem: self })
        } else {
            Err(WouldBlock)
        }
    }

    /// Waits for a unit, blocking this (plain) thread.
    ///
    /// # Panics
    ///
    /// On a Trellis worker thread (inside a task): use [`acquire`](Semaphore::acquire) there.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = trellis::sync::Semaphore::new(1);
    /// let p = sem.acquire_blocking();
    /// assert_eq!(sem.value(), 0);
    /// drop(p);
    /// ```
    pub fn acquire_blocking(&self) -> SemaphorePermit<'_> {
        crate::channel::block_on("Semaphore::acquire_blocking", self.acquire())
    }

    /// Adds one unit (Trio's `release`): to the oldest waiter, or to the value. Pairs with
    /// [`SemaphorePermit::forget`], or raises the value.
    ///
    /// # Errors
    ///
    /// [`TooManyReleases`] if the semaphore has a maximum and the value is already there (the
    /// value is unchanged).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = trellis::sync::Semaphore::with_max(0, 1);
    /// sem.release().unwrap();
    /// assert_eq!(sem.value(), 1);
    /// assert!(sem.release().is_err());
    /// ```
    pub fn release(&self) -> Result<(), TooManyReleases> {
        let max = self.max;
        self.core.release_with(|c| match max {
            Some(max) if c.0 >= max => Err(TooManyReleases { max }),
            _ => {
                c.0 += 1;
                Ok(())
            }
        })
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("value", &self.value())
            .field("max", &self.max)
            .field("waiting", &self.waiting())
            .finish()
    }
}

/// The future of [`Semaphore::acquire`]: ready with a permit once a unit is this waiter's
/// (see there for cancellation).
///
/// # Examples
///
/// ```
/// use trellis::sync::{Semaphore, SemaphoreAcquire};
///
/// trellis::run(async {
///     let sem = Semaphore::new(1);
///     let fut: SemaphoreAcquire<'_> = sem.acquire();
///     let _permit = fut.await;
///     assert_eq!(sem.value(), 0);
/// });
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct SemaphoreAcquire<'a> {
    sem: &'a Semaphore,
    acquire: Acquire<'a, Count>,
}

impl<'a> Future for SemaphoreAcquire<'a> {
    type Output = SemaphorePermit<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<SemaphorePermit<'a>> {
        let this = &mut *self;
        this.acquire
            .poll_fifo(cx)
            .map(|()| SemaphorePermit { sem: this.sem })
    }
}

impl fmt::Debug for SemaphoreAcquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphoreAcquire")
            .field("semaphore", self.sem)
            .finish_non_exhaustive()
    }
}

/// One unit of a [`Semaphore`]; dropping it gives the unit back (to the oldest waiter).
///
/// # Panics
///
/// The drop panics (unless the thread is already panicking) if the semaphore has a maximum
/// and unpaired [`Semaphore::release`] calls already brought the value there: a release too
/// many, as in Trio.
///
/// # Examples
///
/// ```
/// let sem = trellis::sync::Semaphore::new(1);
/// let permit = sem.try_acquire().unwrap();
/// drop(permit);
/// assert_eq!(sem.value(), 1);
/// ```
#[must_use = "dropping the permit releases it at once"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
}

impl SemaphorePermit<'_> {
    /// Keeps the unit taken without a permit; a later [`Semaphore::release`] gives it back.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = trellis::sync::Semaphore::new(1);
    /// sem.try_acquire().unwrap().forget();
    /// assert_eq!(sem.value(), 0);
    /// sem.release().unwrap();
    /// assert_eq!(sem.value(), 1);
    /// ```
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.sem.release() {
            if !std::thread::panicking() {
                panic!("dropping a SemaphorePermit: {e}");
            }
        }
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").finish_non_exhaustive()
    }
}

/// The error of [`Semaphore::release`] on a semaphore whose value is at its maximum (Trio's
/// "semaphore released too many times").
///
/// # Examples
///
/// ```
/// let sem = trellis::sync::Semaphore::with_max(2, 2);
/// let err = sem.release().unwrap_err();
/// assert_eq!(err.to_string(), "semaphore released too many times (its maximum is 2)");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooManyReleases {
    max: usize,
}

impl fmt::Display for TooManyReleases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "semaphore released too many times (its maximum is {})",
            self.max
        )
    }
}

impl Error for TooManyReleases {}
