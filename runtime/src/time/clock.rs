//! The runtime's clock: [`Instant`], and the paused virtual clock for tests.
//!
//! A runtime built with [`Builder::start_paused(true)`](crate::Builder::start_paused) has a
//! *virtual* clock: [`Instant::now`] inside it stands still, and whenever every thread of the
//! runtime is idle (every task is blocked) the clock jumps straight to the earliest timer
//! deadline and fires it. This is Trio's `MockClock(autojump_threshold=0)` and tokio's
//! `start_paused`: time-based code runs in microseconds, and elapsed times are exact.
//!
//! # The autojump protocol
//!
//! "Idle" is tracked by one counter, `busy`, maintained only when the clock is paused:
//!
//! - A **participant** is a worker thread, a thread inside `block_on`, or a queued or running
//!   blocking job. Each counts 1 while it is not asleep. Workers start counted; `block_on`
//!   adds 1 on entry and removes it on exit; a blocking job adds 1 when queued and removes it
//!   after it ran.
//! - A parker (worker or `block_on`) **removes its 1 after announcing that it sleeps** (the
//!   CAS to a `PARKED_*` state, `scheduler/park.rs`), and whoever **takes it out of that state
//!   with a token** (an `unpark` swapping `PARKED_* → NOTIFIED`) **adds the 1 back before waking
//!   it**. A sleeper that leaves the parked state without a token (the driver's wait returned
//!   on I/O, a driver notify or a timeout) adds its 1 back itself. So between "A wakes B" and
//!   "B runs", B is already counted: a waker that then parks cannot see the count reach zero
//!   while work is in flight between threads (the race that would make the clock jump early).
//! - The participant whose removal brings `busy` to **zero** makes sure the worker parked in
//!   the I/O driver (there is always one when every worker sleeps: a worker parks in the driver
//!   whenever it is free) looks again: a driver parker does so itself; any other one notifies
//!   the driver.
//! - The driver parker that brought the count to zero waits with a zero timeout instead of
//!   blocking, counts itself busy again, **advances the clock to the earliest timer deadline**
//!   and fires the due timers. The woken tasks land in queues as usual. With no timer pending
//!   it blocks instead (nothing can happen until something outside wakes a task, and then
//!   that task is counted); a timer registered meanwhile notifies the driver (a new earliest
//!   deadline always does), which wakes, parks again as the last one, and jumps.
//!
//! With a paused clock the driver never sleeps towards a timer in real time: timers fire only
//! through jumps (or when busy workers find them due, which happens only after a jump).
//! Wakes from outside the runtime (a plain thread sending on a channel, I/O readiness) are not
//! counted: if every task waits for one of those while a timer is pending, the clock jumps to
//! the timer first, as in tokio.
//!
//! Without a paused clock none of this runs: `Instant::now` is `std::time::Instant::now` after
//! one thread-local read, and the counter is never touched.

use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::sync::atomic::AtomicU64;

use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::scheduler::context;
use crate::scheduler::park::Busy;

/// A point in time: `std::time::Instant`, read from the runtime's clock.
///
/// Inside a runtime built with [`Builder::start_paused(true)`](crate::Builder::start_paused),
/// [`now`](Self::now) reads the paused virtual clock; everywhere else it is the system's
/// monotonic clock. Every deadline API of Trellis takes this type; convert from std with
/// `Instant::from` and back with [`into_std`](Self::into_std).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trellis::time::Instant;
///
/// trellis::run(async {
///     let start = Instant::now();
///     trellis::time::sleep(Duration::from_millis(5)).await;
///     assert!(start.elapsed() >= Duration::from_millis(5));
///     assert!(Instant::now() > start);
/// });
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(std::time::Instant);

impl Instant {
    /// The current time of the runtime this thread is in (virtual if its clock is paused), or
    /// the system's monotonic clock outside any runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = trellis::time::Instant::now();
    /// let b = trellis::time::Instant::now();
    /// assert!(b >= a);
    /// ```
    pub fn now() -> Instant {
        context::with_runtime(|rt| match rt {
            Some(rt) if rt.clock.is_paused() => rt.clock.now(),
            _ => Instant(std::time::Instant::now()),
        })
    }

    /// The time elapsed since `self`, by [`Instant::now`]; zero if `self` is later.
    ///
    /// # Examples
    ///
    /// ```
    /// let start = trellis::time::Instant::now();
    /// assert!(start.elapsed() < std::time::Duration::from_secs(60));
    /// ```
    pub fn elapsed(&self) -> Duration {
        Instant::now().saturating_duration_since(*self)
    }

    /// `self - earlier`, or zero if `earlier` is later.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let a = trellis::time::Instant::now();
    /// let b = a + Duration::from_secs(2);
    /// assert_eq!(b.duration_since(a), Duration::from_secs(2));
    /// assert_eq!(a.duration_since(b), Duration::ZERO);
    /// ```
    pub fn duration_since(&self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }

    /// `self - earlier`, or `None` if `earlier` is later.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let a = trellis::time::Instant::now();
    /// assert_eq!((a + Duration::from_secs(1)).checked_duration_since(a), Some(Duration::from_secs(1)));
    /// assert_eq!(a.checked_duration_since(a + Duration::from_secs(1)), None);
    /// ```
    pub fn checked_duration_since(&self, earlier: Instant) -> Option<Duration> {
        self.0.checked_duration_since(earlier.0)
    }

    /// `self - earlier`, or zero if `earlier` is later.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = trellis::time::Instant::now();
    /// assert_eq!(a.saturating_duration_since(a), std::time::Duration::ZERO);
    /// ```
    pub fn saturating_duration_since(&self, earlier: Instant) -> Duration {
        self.0.saturating_duration_since(earlier.0)
    }

    /// `self + duration`, or `None` on overflow.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = trellis::time::Instant::now();
    /// assert!(a.checked_add(std::time::Duration::MAX).is_none());
    /// ```
    pub fn checked_add(&self, duration: Duration) -> Option<Instant> {
        self.0.checked_add(duration).map(Instant)
    }

    /// `self - duration`, or `None` if that is before the clock's origin.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = trellis::time::Instant::now();
    /// assert!(a.checked_sub(std::time::Duration::MAX).is_none());
    /// ```
    pub fn checked_sub(&self, duration: Duration) -> Option<Instant> {
        self.0.checked_sub(duration).map(Instant)
    }

    /// The underlying `std::time::Instant` (for a paused clock: on the virtual time line,
    /// which starts at the real time the runtime was built).
    ///
    /// # Examples
    ///
    /// ```
    /// let a = trellis::time::Instant::now();
    /// let std: std::time::Instant = a.into_std();
    /// assert_eq!(trellis::time::Instant::from(std), a);
    /// ```
    pub fn into_std(self) -> std::time::Instant {
        self.0
    }
}

impl From<std::time::Instant> for Instant {
    fn from(instant: std::time::Instant) -> Instant {
        Instant(instant)
    }
}

impl From<Instant> for std::time::Instant {
    fn from(instant: Instant) -> std::time::Instant {
        instant.0
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;

    /// # Panics
    ///
    /// Panics on overflow, like `std::time::Instant`.
    fn add(self, rhs: Duration) -> Instant {
        Instant(self.0 + rhs)
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        self.0 += rhs;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;

    fn sub(self, rhs: Duration) -> Instant {
        Instant(self.0 - rhs)
    }
}

impl SubAssign<Duration> for Instant {
    fn sub_assign(&mut self, rhs: Duration) {
        self.0 -= rhs;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;

    /// Saturates to zero when `rhs` is later.
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Moves the current runtime's paused clock forward by `duration` at once, and fires the
/// timers that become due (Trio's `MockClock.jump`). Use it to simulate a slow step in a test:
/// the task calling it keeps running, and instruments see the step take `duration`.
///
/// # Panics
///
/// Panics outside a Trellis runtime, or if its clock is not paused
/// ([`Builder::start_paused`](crate::Builder::start_paused)).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trellis::time::{Instant, advance};
///
/// let rt = trellis::Runtime::builder().workers(1).start_paused(true).build().unwrap();
/// rt.block_on(async {
///     let start = Instant::now();
///     advance(Duration::from_millis(300));
///     assert_eq!(start.elapsed(), Duration::from_millis(300));
/// });
/// ```
pub fn advance(duration: Duration) {
    context::expect_runtime("trellis::time::advance", |shared| {
        assert!(
            shared.clock.is_paused(),
            "`trellis::time::advance` needs a paused clock: build the runtime with \
             `Builder::start_paused(true)`"
        );
        let to = super::deadline_after(shared.clock.now(), duration);
        shared.clock.advance_to(to);
        shared.timers.fire_due_blocking(shared.clock.now());
    })
}

/// One runtime's clock: the system's, or a paused virtual one.
pub(crate) struct Clock {
    paused: bool,
    /// The virtual time line's origin (the real time the runtime was built).
    base: std::time::Instant,
    /// Virtual nanoseconds since `base`; only moves forward (`fetch_max`).
    offset: AtomicU64,
    /// Participants not asleep (see the protocol above); maintained only when paused.
    busy: AtomicUsize,
}

impl Clock {
    /// A clock; `busy` starts at `workers` (every worker starts awake).
    pub(crate) fn new(paused: bool, workers: usize) -> Clock {
        Clock {
            paused,
            base: std::time::Instant::now(),
            offset: AtomicU64::new(0),
            busy: AtomicUsize::new(workers),
        }
    }

    pub(crate) fn is_paused(&self) -> bool {
        self.paused
    }

    /// The origin of this clock's time line (the real time the runtime was built).
    pub(crate) fn origin(&self) -> std::time::Instant {
        self.base
    }

    /// The current time on this clock.
    pub(crate) fn now(&self) -> Instant {
        if self.paused {
            let nanos = self.offset.load(std::sync::atomic::Ordering::SeqCst);
            Instant(self.base + Duration::from_nanos(nanos))
        } else {
            Instant(std::time::Instant::now())
        }
    }

    /// Moves a paused clock forward to `to` (never backward).
    pub(crate) fn advance_to(&self, to: Instant) {
        debug_assert!(self.paused);
        let nanos = to.0.saturating_duration_since(self.base).as_nanos();
        self.offset.fetch_max(
            u64::try_from(nanos).unwrap_or(u64::MAX),
            std::sync::atomic::Ordering::SeqCst,
        );
    }

    /// The participant counter, when the clock is paused (`None`: no accounting).
    pub(crate) fn busy(&self) -> Busy<'_> {
        self.paused.then_some(&self.busy)
    }
}

/// A participant starts being counted (a `block_on` entry, a queued blocking job).
pub(crate) fn enter(busy: Busy<'_>) {
    if let Some(busy) = busy {
        busy.fetch_add(1, Ordering::SeqCst);
    }
}

/// A participant stops being counted; `true` if it was the last one.
pub(crate) fn leave(busy: Busy<'_>) -> bool {
    busy.is_some_and(|busy| busy.fetch_sub(1, Ordering::SeqCst) == 1)
}
