//! The parker: a token that an `unpark` sets and a `park` consumes, so an unpark that arrives
//! before the park is never lost.
//!
//! It is the runtime's one way to put a thread to sleep: each worker parks on its own
//! [`Parker`] (on its condvar, or in the driver), and a thread that blocks on a future
//! (`Runtime::block_on`, the blocking channel operations in `channel/blocking.rs`) parks on a
//! [`ThreadParker`], a `Parker` that is also the future's `Waker`.
//!
//! # Protocol
//!
//! The state word is one of `EMPTY`, `PARKED_CONDVAR`, `PARKED_DRIVER`, `NOTIFIED`.
//!
//! - `unpark` always *swaps* in `NOTIFIED` (a swap, not a CAS, so it is a release even when the
//!   token is already set), then wakes the sleeper according to the previous value:
//!   `PARKED_CONDVAR` → take and release the mutex, then `notify_one`; `PARKED_DRIVER` →
//!   the driver's notify (`polling::Poller::notify`, which is sticky).
//! - `park` first tries `NOTIFIED → EMPTY` (consume a token that is already there). Otherwise it
//!   announces where it sleeps with `EMPTY → PARKED_*`; if that CAS fails the token arrived in
//!   between: consume it and return.
//!   - On the condvar, the CAS is made *under the mutex*, and `unpark` takes the mutex before
//!     notifying, so the notify cannot fall between the CAS and the wait. Spurious condvar wakes
//!     loop until `NOTIFIED → EMPTY` succeeds.
//!   - In the driver, `wait` returns on notify or on the timeout (the nearest timer); the parker
//!     then swaps back to `EMPTY`, consuming a token if one came. A notify that lands after the
//!     wait returned makes the next driver wait return at once: a spurious wake, never a lost one.
//!
//! - `spin` (optional, before `park`/`park_driver`) polls for a token without announcing
//!   anything: the state stays `EMPTY`, so an `unpark` meanwhile is a plain swap with no wake
//!   call, and the spinner consumes the token (`NOTIFIED → EMPTY`) exactly as a `park` that finds
//!   it would. If none comes, the caller parks as usual and the steps above apply unchanged.
//!
//! Why each piece: without the swap-in-unpark the token could be overwritten by a parker's CAS;
//! without the CAS under the mutex a `notify_one` could fire before the parker waits (lost
//! wakeup); without the sticky driver notify the same holds for the driver wait.
//!
//! With a paused clock (`time/clock.rs`, "The autojump protocol") the parker also keeps the
//! `busy` count: `park` removes the sleeper's 1 right after its CAS to `PARKED_*`, an `unpark`
//! that swaps a `PARKED_*` state out adds it back *before* waking the sleeper, and a driver
//! sleeper that returns without a token adds it back itself. Exactly one of those two adds
//! follows each removal, because exactly one swap takes the state out of `PARKED_*`.
//!
//! A spinner has not announced that it sleeps, so it keeps its 1 throughout: an `unpark` during
//! the spin finds `EMPTY` and adds nothing, and the spinner removes nothing.
//!
//! A `block_on` thread on a runtime with a paused clock is a participant too: its
//! [`ThreadParker`] passes the runtime's count to `park` and, from the waker, to `unpark`, so
//! the same two rules apply to it.
//!
//! The loom model `loom_park` below checks unpark-before-park, unpark-during-park and the
//! driver path with a modelled driver, and spin-then-park against an unpark at every point, with
//! the paused clock's count (`loom_park_spin_*`).

use std::sync::{Arc, Weak};
use std::task::Wake;

use super::Shared;
use crate::loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use crate::loom::sync::{Condvar, Mutex};
use crate::time::clock::{self, Busy};

const EMPTY: usize = 0;
const PARKED_CONDVAR: usize = 1;
const PARKED_DRIVER: usize = 2;
const NOTIFIED: usize = 3;

pub(crate) struct Parker {
    state: AtomicUsize,
    mutex: Mutex<()>,
    condvar: Condvar,
}

impl Parker {
    pub(crate) fn new() -> Parker {
        Parker {
            state: AtomicUsize::new(EMPTY),
            mutex: Mutex::new(()),
            condvar: Condvar::new(),
        }
    }

    /// Polls for a token, calling `keep_spinning` between two looks, until a token comes (it is
    /// consumed: `true`, as if a `park` had returned at once) or `keep_spinning` returns `false`
    /// (`false`: the caller parks). The state stays `EMPTY` meanwhile, so an `unpark` costs the
    /// waker no wake call, and the paused clock's count is not touched.
    pub(crate) fn spin(&self, mut keep_spinning: impl FnMut() -> bool) -> bool {
        loop {
            if self.state.load(SeqCst) == NOTIFIED
                && self
                    .state
                    .compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst)
                    .is_ok()
            {
                return true;
            }
            if !keep_spinning() {
                return false;
            }
        }
    }

    /// Blocks on the condvar until unparked. `on_last` runs (before sleeping) if this sleeper
    /// was the last busy participant of a paused clock.
    pub(crate) fn park(&self, busy: Busy<'_>, on_last: impl FnOnce()) {
        if self
            .state
            .compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst)
            .is_ok()
        {
            return;
        }
        let mut guard = self.mutex.lock().unwrap();
        if let Err(actual) = self
            .state
            .compare_exchange(EMPTY, PARKED_CONDVAR, SeqCst, SeqCst)
        {
            debug_assert_eq!(actual, NOTIFIED);
            self.state.swap(EMPTY, SeqCst);
            return;
        }
        if clock::leave(busy) {
            on_last();
        }
        loop {
            guard = self.condvar.wait(guard).unwrap();
            if self
                .state
                .compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst)
                .is_ok()
            {
                return;
            }
        }
    }

    /// Blocks in the driver: `wait` must block until the driver is notified (sticky: a notify
    /// before the wait makes it return at once) or a timeout elapses, and then this returns,
    /// with or without a token. `wait` is told whether this sleeper was the last busy
    /// participant of a paused clock (it then waits with a zero timeout if a timer is pending).
    ///
    /// Returns `true` if the caller may jump a paused clock: it came back without a token and
    /// found *every* participant asleep at that moment, which it claimed by counting itself
    /// back in with `busy: 0 → 1` (`time/clock.rs`, rule 3). Being the last sleeper when it
    /// went to sleep is not enough: a task may have become runnable since.
    pub(crate) fn park_driver(&self, busy: Busy<'_>, wait: impl FnOnce(bool)) -> bool {
        if self
            .state
            .compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst)
            .is_ok()
        {
            return false;
        }
        if let Err(actual) = self
            .state
            .compare_exchange(EMPTY, PARKED_DRIVER, SeqCst, SeqCst)
        {
            debug_assert_eq!(actual, NOTIFIED);
            self.state.swap(EMPTY, SeqCst);
            return false;
        }
        let last = clock::leave(busy);
        wait(last);
        // Claim first, while still `PARKED_DRIVER`: an unpark before the claim has counted us
        // in (so the claim fails); swapping the state out first would open a window in which
        // an unpark finds `EMPTY`, counts nobody, and the claim succeeds with a task queued.
        let claimed = clock::try_claim(busy);
        if self.state.swap(EMPTY, SeqCst) == PARKED_DRIVER {
            // Woken without a token: nobody counted us back in; the claim did, or we do.
            if !claimed {
                clock::enter(busy);
            }
            claimed
        } else {
            // A token: the waker counted us in, and woke us for work (after the claim, if
            // any: undo its count, and do not jump).
            if claimed {
                clock::leave(busy);
            }
            false
        }
    }

    /// Sets the token and wakes the parked thread, wherever it sleeps; `notify_driver` wakes the
    /// driver's wait.
    /// An unpark that takes the sleeper out of `PARKED_*` counts it busy again first.
    pub(crate) fn unpark(&self, busy: Busy<'_>, notify_driver: impl FnOnce()) {
        let prev = self.state.swap(NOTIFIED, SeqCst);
        if prev == PARKED_CONDVAR || prev == PARKED_DRIVER {
            // Before the wake: the sleeper must never run uncounted.
            clock::enter(busy);
        }
        match prev {
            EMPTY | NOTIFIED => {}
            PARKED_CONDVAR => {
                // Taking the lock orders us after the parker's CAS-then-wait.
                drop(self.mutex.lock().unwrap());
                self.condvar.notify_one();
            }
            PARKED_DRIVER => notify_driver(),
            other => unreachable!("parker state {other}"),
        }
    }
}

/// Looks at the token this many times (with [`THREAD_SPIN_PAUSES`] pause instructions between
/// two looks) before a [`ThreadParker`] sleeps: a task that finishes within a few microseconds
/// (the common case for a small spawn awaited by `block_on`) is seen without a futex round trip
/// on either side.
const THREAD_SPINS: u32 = 8;
/// Pause instructions between two looks of a [`ThreadParker`]'s spin.
const THREAD_SPIN_PAUSES: u32 = 64;

/// A [`Parker`] that is also a `Waker`: the thread that blocks on a future parks on it between
/// polls, and waking the future unparks it. `Runtime::block_on` and the blocking channel
/// operations use one.
pub(crate) struct ThreadParker {
    parker: Parker,
    /// The runtime whose paused clock counts this thread while it is awake (`None`: no
    /// accounting). Weak: a waker must not keep a runtime alive.
    counted_in: Option<Weak<Shared>>,
}

impl ThreadParker {
    /// A parker for one thread; `counted_in`: the runtime with a paused clock that counts the
    /// thread as a participant (the caller counted it in).
    pub(crate) fn new(counted_in: Option<&Arc<Shared>>) -> Arc<ThreadParker> {
        Arc::new(ThreadParker {
            parker: Parker::new(),
            counted_in: counted_in.map(Arc::downgrade),
        })
    }

    /// Spins briefly for a wake, then sleeps until one comes (a wake before the call makes it
    /// return at once). With a paused clock, the thread stops counting while it sleeps, and the
    /// last participant to sleep makes the driver look for a jump.
    pub(crate) fn park(&self) {
        let mut looks = 0;
        let woken = self.parker.spin(|| {
            if looks == THREAD_SPINS {
                return false;
            }
            looks += 1;
            for _ in 0..THREAD_SPIN_PAUSES {
                std::hint::spin_loop();
            }
            true
        });
        if woken {
            return;
        }
        let shared = self.counted_in.as_ref().and_then(Weak::upgrade);
        let busy = shared.as_ref().and_then(|shared| shared.clock.busy());
        self.parker.park(busy, || {
            if let Some(shared) = &shared {
                shared.notify_driver();
            }
        });
    }
}

impl Wake for ThreadParker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let shared = self.counted_in.as_ref().and_then(Weak::upgrade);
        // A `ThreadParker` never sleeps in the driver: there is nothing to notify there.
        self.parker.unpark(
            shared.as_ref().and_then(|shared| shared.clock.busy()),
            || {},
        );
    }
}

#[cfg(all(test, trellis_loom))]
mod loom_park {
    use super::*;
    use crate::time::clock;
    use loom::sync::Arc;
    use loom::thread;

    /// A sticky notification flag guarded by a loom mutex: the model of `Poller::wait/notify`
    /// (the timeout is modelled as "never", the strictest case for lost wakeups).
    struct ModelDriver {
        notified: Mutex<bool>,
        condvar: Condvar,
    }

    impl ModelDriver {
        fn wait(&self) {
            let mut n = self.notified.lock().unwrap();
            while !*n {
                n = self.condvar.wait(n).unwrap();
            }
            *n = false;
        }
        fn notify(&self) {
            *self.notified.lock().unwrap() = true;
            self.condvar.notify_one();
        }
    }

    fn driver() -> ModelDriver {
        ModelDriver {
            notified: Mutex::new(false),
            condvar: Condvar::new(),
        }
    }

    #[test]
    fn loom_park_condvar_unpark_never_lost() {
        loom::model(|| {
            let p = Arc::new(Parker::new());
            let d = Arc::new(driver());
            let (p2, d2) = (p.clone(), d.clone());
            let t = thread::spawn(move || p2.unpark(None, || d2.notify()));
            p.park(None, || {}); // deadlocks (loom reports it) if the unpark is lost
            t.join().unwrap();
        });
    }

    #[test]
    fn loom_park_driver_unpark_never_lost() {
        loom::model(|| {
            let p = Arc::new(Parker::new());
            let d = Arc::new(driver());
            let (p2, d2) = (p.clone(), d.clone());
            let t = thread::spawn(move || p2.unpark(None, || d2.notify()));
            p.park_driver(None, |_| d.wait());
            t.join().unwrap();
        });
    }

    #[test]
    fn loom_park_wake_in_flight_keeps_the_clock_busy() {
        // The paused clock's accounting: A wakes the sleeping B, then goes idle itself. A must
        // never be the "last busy participant" (which would jump the clock while B's wake is
        // in flight), and afterwards exactly B is counted.
        loom::model(|| {
            let busy = Arc::new(AtomicUsize::new(2)); // A and B
            let pb = Arc::new(Parker::new());
            let d = Arc::new(driver());
            let (b2, pb2, d2) = (busy.clone(), pb.clone(), d.clone());
            let b = thread::spawn(move || pb2.park_driver(Some(&b2), |_| d2.wait()));
            pb.unpark(Some(&busy), || d.notify());
            assert!(!clock::leave(Some(&busy)), "the clock would jump early");
            b.join().unwrap();
            assert_eq!(busy.load(SeqCst), 1, "B is counted, A is not");
        });
    }

    /// Spins for one extra look, then parks if no token came (on the condvar or in the
    /// driver): the spin-then-park path of a worker.
    fn spin_then_park(p: &Parker, d: &ModelDriver, busy: Busy<'_>, in_driver: bool) {
        let mut looks = 1;
        if p.spin(|| {
            looks -= 1;
            looks >= 0
        }) {
            return;
        }
        if in_driver {
            p.park_driver(busy, |_| d.wait());
        } else {
            p.park(busy, || {});
        }
    }

    #[test]
    fn loom_park_spin_then_park_unpark_never_lost() {
        // The unpark may land before the spin, during it (consumed by the spin), between the
        // spin and the park's CAS, or after: the spinner returns in every case (a lost token is
        // a deadlock, which loom reports).
        for in_driver in [false, true] {
            loom::model(move || {
                let p = Arc::new(Parker::new());
                let d = Arc::new(driver());
                let (p2, d2) = (p.clone(), d.clone());
                let t = thread::spawn(move || p2.unpark(None, || d2.notify()));
                spin_then_park(&p, &d, None, in_driver);
                t.join().unwrap();
            });
        }
    }

    #[test]
    fn loom_park_spin_keeps_the_clock_count() {
        // A spinner is still counted busy: an unpark during the spin adds nothing, and one after
        // the park's CAS adds the 1 that the park removed. Either way, once the sleeper is back
        // and the waker is still counted, the count is exactly 2; it never reaches zero while the
        // wake is in flight (the waker leaves only after its unpark).
        for in_driver in [false, true] {
            loom::model(move || {
                let busy = Arc::new(AtomicUsize::new(2));
                let p = Arc::new(Parker::new());
                let d = Arc::new(driver());
                let (b2, p2, d2) = (busy.clone(), p.clone(), d.clone());
                let sleeper = thread::spawn(move || spin_then_park(&p2, &d2, Some(&b2), in_driver));
                p.unpark(Some(&busy), || d.notify());
                sleeper.join().unwrap();
                assert_eq!(busy.load(SeqCst), 2, "spinner and waker both counted");
            });
        }
    }

    #[test]
    fn loom_park_two_rounds() {
        // Two unparks, two parks: tokens do not accumulate, but each park after an unpark
        // returns; the second park is only entered after the first unpark was consumed.
        loom::model(|| {
            let p = Arc::new(Parker::new());
            let d = Arc::new(driver());
            let flag = Arc::new(loom::sync::atomic::AtomicUsize::new(0));
            let (p2, d2, f2) = (p.clone(), d.clone(), flag.clone());
            let t = thread::spawn(move || {
                f2.store(1, SeqCst);
                p2.unpark(None, || d2.notify());
            });
            while flag.load(SeqCst) == 0 {
                p.park_driver(None, |_| d.wait());
            }
            t.join().unwrap();
        });
    }
}
