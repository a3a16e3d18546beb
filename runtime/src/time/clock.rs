//! The runtime's clock: [`Instant`], and the paused virtual clock for tests.
//!
//! A runtime built with [`Builder::start_paused(true)`](crate::Builder::start_paused) has a
//! *virtual* clock: [`Instant::now`] inside it stands still, and whenever every thread of the
//! runtime is idle (every task is blocked) the clock jumps straight to the earliest timer
//! deadline and fires it. This is Trio's `MockClock(autojump_threshold=0)` and tokio's
//! `start_paused`: time-based code runs in microseconds, and elapsed times are exact.
//!
//! # The rule: the clock jumps only when nothing is runnable
//!
//! Guarantee: a paused clock advances only when no task is runnable. A task spawned, woken or
//! pending in a queue is polled at the current virtual time; only when every task waits does
//! time move, straight to the earliest deadline (tokio's `start_paused`, Trio's autojump).
//! Wakes from outside the runtime (a plain thread, a `block_on` that starts later) are not
//! seen: they happen after the jump.
//!
//! "Nothing runnable" is tracked by one counter, `busy`, maintained only when the clock is
//! paused. The rules:
//!
//! 1. **Participants.** A participant is a worker thread, a thread inside `block_on`, or a
//!    queued or running blocking job. Each counts 1 while it is not asleep. Workers start
//!    counted; `block_on` adds 1 on entry and removes it on exit; a blocking job adds 1 when
//!    queued (by the counted thread that queues it) and removes it after it ran.
//! 2. **Sleeping and waking.** A parker (worker or `block_on`) removes its 1 after announcing
//!    that it sleeps (the CAS to a `PARKED_*` state, `scheduler/park.rs`). Whoever takes it out
//!    of that state with a token (an `unpark` swapping `PARKED_* → NOTIFIED`) adds the 1 back
//!    *before* waking it, so between "A wakes B" and "B runs", B is already counted.
//! 3. **The jump is claimed, at the moment it is decided.** Only the worker in the driver
//!    jumps. When its wait returns, *still announced as sleeping* (`PARKED_DRIVER`), it tries
//!    to count itself back in with a CAS `busy: 0 → 1` (`try_claim`); then it takes its
//!    state out of `PARKED_DRIVER`. It jumps only if the claim succeeded *and* no token came:
//!    every participant was asleep at the claim, so it alone may advance the clock to the
//!    earliest deadline and fire the due timers (their tasks are then queued by a counted
//!    thread, as in rule 2). If the claim failed it counts itself in with a plain add (unless a
//!    token came: its waker counted it); if a token came after a successful claim, it gives
//!    the claim's 1 back. The order matters: an unpark that lands before the claim finds
//!    `PARKED_DRIVER` and counts the sleeper, so the claim fails; had the state been swapped
//!    out first, an unpark in between would find it awake, count nobody, and the claim could
//!    succeed while the unpark's task is queued.
//! 4. **Someone looks when the count reaches zero.** The participant whose removal brings
//!    `busy` to zero makes the driver look again: a driver parker waits with a zero timeout
//!    (if a timer is pending; with none it blocks, and a timer registered later notifies the
//!    driver, a new earliest deadline always does); any other one notifies the driver. There
//!    is always a worker in the driver when every worker sleeps: each parking worker takes the
//!    role if it is vacant (`scheduler/driver.rs`).
//!
//! # Proof sketch
//!
//! Suppose the driver's claim succeeds at instant `c` while a task `T` is runnable: `T` was
//! pushed to a queue at `p < c`, not yet polled. The push was made by a counted thread (an
//! uncounted one is "outside", after the jump by definition; a participant that enters after
//! `c` is too). After its push the pusher follows the idle protocol (`scheduler/idle.rs`):
//! - it wakes a sleeper `W` (rule 1 there): the unpark counts `W` before waking it (rule 2
//!   here), and `W` removes its 1 again only when it parks after looking at every queue, so
//!   `busy > 0` from the unpark until `T` is taken; if `W` is the driver worker itself, the
//!   unpark leaves a token and rule 3 does not claim;
//! - or it skips the wake because a searcher is counted: that searcher parks only after the
//!   last-searcher re-check (idle rule 4), which sees `T` and wakes a sleeper as above;
//! - or it pushed to its own queue and keeps running, counted, until it looked at that queue.
//!
//! The pusher itself removes its 1 only after that. So at `c` either some participant is
//! counted (the CAS fails) or the claimer holds a token: a contradiction. Hence a claimed jump
//! never overtakes a runnable task.
//!
//! Why the claim must be made at `c` and not remembered: the worker in the driver used to
//! decide "I am the last sleeper" when it went to sleep and act on it when it woke, even
//! though a task spawned from `block_on`, or on another domain by a task that had just
//! registered a timer, had become runnable meanwhile (the listener of the
//! `RepeatedEvent` example was first polled after the 5 ms jump; a child spawned with
//! `spawn_on` saw the clock at 100 ms). The loom models `loom_clock_spawn_from_block_on_vs_jump`
//! and `loom_clock_stale_last_sleeper` below check both races with the real parker.
//!
//! With a paused clock the driver never sleeps towards a timer in real time: timers fire only
//! through jumps (or when busy workers find them due, which happens only after a jump). If
//! every task waits for a wake from outside (a plain thread, I/O) while a timer is pending, the
//! clock jumps to the timer first, as in tokio.
//!
//! Without a paused clock none of this runs: `Instant::now` is `std::time::Instant::now` after
//! one thread-local read, and the counter is never touched.

use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::sync::atomic::AtomicU64;

use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::scheduler::context;

/// The paused clock's participant counter (`Clock::busy`), or `None` when the clock is not
/// paused (no accounting). Parkers take it to keep the count (`scheduler/park.rs`).
pub(crate) type Busy<'a> = Option<&'a AtomicUsize>;

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

/// The driver's claim of a jump (rule 3): counts the caller in if *nobody* is counted
/// (`busy: 0 → 1`); `true` if it did. `false` (and nothing changed) otherwise.
pub(crate) fn try_claim(busy: Busy<'_>) -> bool {
    busy.is_some_and(|busy| {
        busy.compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    })
}

/// A participant stops being counted; `true` if it was the last one.
pub(crate) fn leave(busy: Busy<'_>) -> bool {
    busy.is_some_and(|busy| busy.fetch_sub(1, Ordering::SeqCst) == 1)
}

#[cfg(all(test, trellis_loom))]
mod loom_clock {
    //! The paused clock's jump rule (rule 3) against its two races (a task spawned from outside, a stale last-sleeper flag). Each
    //! model plays one worker `W` parked in the driver, exactly as `park_worker` does it (the
    //! real `Parker`, a modelled poller: a sticky flag; a zero timeout when `W` is the last
    //! sleeper and a timer is pending), and a counted thread that makes a task runnable for
    //! `W` next to a timer registration. `W` must poll the task before the clock moves.
    use super::*;
    use crate::loom::sync::atomic::AtomicBool;
    use crate::loom::sync::{Condvar, Mutex};
    use crate::scheduler::park::Parker;
    use loom::sync::Arc;
    use loom::thread;

    struct Poller {
        notified: Mutex<bool>,
        condvar: Condvar,
    }

    impl Poller {
        fn new() -> Poller {
            Poller {
                notified: Mutex::new(false),
                condvar: Condvar::new(),
            }
        }
        fn wait(&self, timeout_zero: bool) {
            let mut n = self.notified.lock().unwrap();
            while !*n && !timeout_zero {
                n = self.condvar.wait(n).unwrap();
            }
            *n = false;
        }
        fn notify(&self) {
            *self.notified.lock().unwrap() = true;
            self.condvar.notify_one();
        }
    }

    struct World {
        busy: AtomicUsize,
        parker: Parker,
        poller: Poller,
        /// A task queued for `W`.
        queued: AtomicBool,
        /// A timer is registered.
        timer: AtomicBool,
        /// The virtual clock: 0, or the timer's deadline after a jump.
        clock: AtomicUsize,
    }

    fn world(busy: usize) -> Arc<World> {
        Arc::new(World {
            busy: AtomicUsize::new(busy),
            parker: Parker::new(),
            poller: Poller::new(),
            queued: AtomicBool::new(false),
            timer: AtomicBool::new(false),
            clock: AtomicUsize::new(0),
        })
    }

    /// `W`: runs its task when it finds it, else parks in the driver and jumps when its claim
    /// succeeds (`Shared::park_worker`).
    fn driver_worker(w: &World) {
        loop {
            if w.queued.load(Ordering::SeqCst) {
                assert_eq!(
                    w.clock.load(Ordering::SeqCst),
                    0,
                    "the clock jumped while a task was runnable"
                );
                return;
            }
            let busy = Some(&w.busy);
            let may_jump = w.parker.park_driver(busy, |last| {
                w.poller.wait(last && w.timer.load(Ordering::SeqCst));
            });
            if may_jump && w.timer.load(Ordering::SeqCst) {
                w.clock.store(100, Ordering::SeqCst);
            }
        }
    }

    /// A counted thread registers a timer (notifying the driver, as a new earliest deadline
    /// does) and makes a task runnable for `W` (queue, then unpark), in the given order, then
    /// goes to sleep (leaves the count, notifying the driver if it was the last).
    fn waker(w: &World, timer_first: bool) {
        let register = || {
            w.timer.store(true, Ordering::SeqCst);
            w.poller.notify();
        };
        if timer_first {
            register();
        }
        w.queued.store(true, Ordering::SeqCst);
        w.parker.unpark(Some(&w.busy), || w.poller.notify());
        if !timer_first {
            register();
        }
        if leave(Some(&w.busy)) {
            w.poller.notify();
        }
    }

    #[test]
    fn loom_clock_spawn_from_block_on_vs_jump() {
        // Defect 6a: `W` goes to sleep as the last participant (busy 1 → 0) while a `block_on`
        // thread enters, spawns a task (which wakes `W`), then registers its own timer and
        // parks. A `W` that acted on "I was the last sleeper" would jump to the timer first.
        loom::model(|| {
            let w = world(1);
            let w2 = w.clone();
            let block_on = thread::spawn(move || {
                enter(Some(&w2.busy));
                waker(&w2, false);
            });
            driver_worker(&w);
            block_on.join().unwrap();
        });
    }

    #[test]
    fn loom_clock_stale_last_sleeper() {
        // Defect 6b: `W` sleeps in the driver as the last participant; another worker, just
        // woken for a task (counted), registers a 100 ms timer, which wakes `W` without a
        // token, and then spawns a child on `W`'s domain. `W` must not jump on the stale
        // "last" flag of its sleep.
        loom::model(|| {
            let w = world(1);
            let w2 = w.clone();
            let other = thread::spawn(move || {
                enter(Some(&w2.busy));
                waker(&w2, true);
            });
            driver_worker(&w);
            other.join().unwrap();
        });
    }
}
