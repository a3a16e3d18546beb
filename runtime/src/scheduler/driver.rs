//! The driver: who looks at the timers, and when.
//!
//! # Guarantee
//!
//! A due timer fires within about one task slice: by the end of the poll that was running on
//! some worker when it fell due, on any worker count, whether the workers yield, run long
//! CPU-bound polls or sleep. (With a paused clock timers fire only through the clock's jumps,
//! `time/clock.rs`.)
//!
//! # The rule
//!
//! Two mechanisms share the work:
//!
//! 1. **Busy workers look at every poll boundary while nobody sleeps in the driver.** Before
//!    each task it runs, a worker loads the timer queue's cached earliest deadline
//!    (`TimerQueue::next_nanos`) and the driver role's flag; only if a timer is pending and the
//!    role is vacant (every worker is busy) does it read the clock (`Instant::now`, a vDSO call
//!    of 20-40 ns on the dev VM) and compare. If a timer is due it fires the due timers
//!    (`fire_due`; a worker that finds another one firing goes on, and looks again at its next
//!    boundary). The woken tasks land in its LIFO slot and queue, so the first one runs next.
//!    While the role is held its holder fires on time by itself (2), so busy workers skip the
//!    clock read: a partly idle runtime pays two atomic loads per poll, nothing more.
//! 2. **A sleeping worker watches the timers while others are busy.** The *driver role* is
//!    held by at most one worker at a time (`DriverRole`, a flag): the holder sleeps in the
//!    I/O poller with the nearest deadline as timeout, fires what is due when it wakes, and
//!    releases the role when it leaves its park. Every other sleeper blocks on its own parker
//!    without a timeout. The role must not stay vacant while a timer is pending and a worker
//!    sleeps, or a timer could wait behind the long polls of every busy worker. So:
//!
//!    - (a) a worker about to sleep lists itself as a sleeper (idle rule 4, `SeqCst`), then
//!      tries to take the role (`SeqCst` swap); only if that fails does it block on its parker;
//!    - (b) a worker that leaves its park (to run work) after holding the role has released
//!      it; if a timer is pending it then fences (`SeqCst`) and, if the role is vacant, wakes one
//!      listed sleeper without taking it off the list (a spurious wake for the idle protocol):
//!      that sleeper finds no work, parks again and takes the role (a);
//!    - (c) a task that registers a new earliest deadline notifies the poller (sticky), then
//!      does the same check as (b), so a timer registered while the role is vacant is watched
//!      too.
//!
//! Why each piece: without (b) the role stays vacant after its holder wakes for work while the
//! other sleepers block with no timeout (defect 2); without (c) a timer registered by a task
//! that then computes for long is seen only at that worker's next poll boundary; without the
//! order in (a) and the fence in (b) both could miss each other (below).
//!
//! # Proof sketch: the role is never left vacant with a sleeper and a pending timer
//!
//! Take a worker W that leaves the role (stores `held = false`, `SeqCst`) and a worker S that
//! goes to sleep. S does `list itself (mutex, SeqCst RMW); swap held (SeqCst)`. W does
//! `store held; fence(SeqCst); read the sleepers (mutex)`. If W's read of the list comes
//! after S's listing (mutex order), W sees S and wakes it (or another listed sleeper, which
//! parks again and takes the role). Otherwise W's critical section on the list precedes S's,
//! so W's store of `held = false` happens before S's swap, which then takes the role (unless a
//! third worker took it first: then that worker holds the role, and the same argument applies
//! when it leaves). A wake reaching S before S blocks is kept by its parker's token. The same
//! holds for (c), with the registration in place of the release. The loom model
//! `loom_driver_role_is_never_left_vacant` below checks (a) against (b).
//!
//! # Cost
//!
//! Without timers, (1) is one atomic load per poll and (b) one more per park. With timers
//! pending, (1) adds a load of the role's flag per poll, and a clock read while every worker
//! is busy; the queue fires at most once per timer resolution (1 ms, `time/queue.rs`) while
//! deadlines keep falling due. (b) adds a wake of another worker when the role's
//! holder itself is woken for work (not when another sleeper is). A cancelled timer leaves the
//! cached deadline early until it passes (`time/queue.rs`), which only makes (b) wake a worker
//! that finds the role taken or takes it.
//!
//! # Sockets
//!
//! The role's holder sleeps in the I/O poller, so it also collects readiness, and busy workers
//! turn the poller at poll boundaries when its last turn is older than `IO_POLL_INTERVAL`
//! (rule 1', `busy_io_turn`): readiness is never stranded behind busy workers. Rule (b) hands
//! the role on for sockets only when the leaving holder has more than one runnable task (the
//! case where it also wakes a worker to share them, `worker.rs`): with a single task (the
//! woken reader of a request-reply exchange) it runs that task and comes back to the poller
//! itself, where the reply's readiness is usually waiting already. Handing the role on there
//! would make every hop of a lone exchange wait for a sleeping thread's wake-up in
//! `epoll_wait`, the holder and the sleeper relaying each other (measured: 37-42 µs against
//! 19 µs per `io::tcp_ping_pong` round trip at 2 and 4 workers on the 2-core VM). The price is
//! that a readiness that comes while that single task runs one long poll is seen when the poll
//! ends (rule 1'), as in tokio, rather than by a sleeping worker during it. Timers keep rule
//! (b) whatever the queue: their guarantee above is stated against long polls.
//!
//! The woken tasks of a turn or a timer fired in the driver are queued on the driver's worker,
//! which notifies another worker when it leaves its park with more than one runnable task (LIFO
//! slot included), so they run in parallel (no stranded work).

use std::sync::TryLockError;
use std::time::Duration;

use super::Shared;
use crate::loom::sync::atomic::{AtomicBool, Ordering::SeqCst, fence};

/// Who holds the driver role (see the module doc). Only its holder locks the poller's events.
pub(crate) struct DriverRole {
    held: AtomicBool,
}

impl DriverRole {
    pub(crate) fn new() -> DriverRole {
        DriverRole {
            held: AtomicBool::new(false),
        }
    }

    /// Rule (a): takes the role if it is vacant.
    pub(crate) fn try_acquire(&self) -> bool {
        !self.held.load(SeqCst) && !self.held.swap(true, SeqCst)
    }

    /// Is the role held? (A plain load: a worker in the driver fires due timers itself, so
    /// busy workers skip their clock reads meanwhile, rule 1.)
    pub(crate) fn is_held(&self) -> bool {
        self.held.load(SeqCst)
    }

    /// The holder leaves the role.
    pub(crate) fn release(&self) {
        self.held.store(false, SeqCst);
    }

    /// Rules (b) and (c): after the caller's release or registration, is the role vacant? (The
    /// caller then wakes a listed sleeper.)
    pub(crate) fn is_vacant(&self) -> bool {
        fence(SeqCst);
        !self.held.load(SeqCst)
    }
}

impl Shared {
    /// Rule (1): fires the due timers, if the cached earliest deadline has passed, and takes a
    /// zero-timeout turn of the reactor if sources are registered and its last turn is older
    /// than `IO_POLL_INTERVAL` (rule 1'). Called by a worker before each task it runs.
    #[inline]
    pub(crate) fn maintain_timers(&self) {
        if self.driver_role.is_held() {
            return;
        }
        if self.timers.pending() {
            let now = self.clock.now();
            if self.timers.maybe_due(now) {
                self.timers.fire_due(now);
            }
        }
        if self.reactor.has_sources() && self.reactor.turn_is_due() {
            self.busy_io_turn();
        }
    }

    /// Rule (1'): a busy worker's look at the poller while nobody sleeps in it.
    #[cold]
    fn busy_io_turn(&self) {
        if self.zero_turn().is_some() {
            // Rule (b): a sleeper may have found the role held meanwhile and blocked on its
            // parker.
            self.hand_off_driver(
                super::context::with_core(|core| core.map(|c| c.index())),
                true,
            );
        }
    }

    /// An idle worker's look at the poller before it searches other workers (the run loop in
    /// `worker.rs`): where sockets are registered, a zero-timeout turn if nobody holds the role.
    /// Returns whether the turn woke a task (its `Send` tasks are queued on this worker). A
    /// lone exchange's next readiness is usually there already, and this finds it without the
    /// search's rounds and the park. Rule (b) applies for timers only (see "Sockets" in the
    /// module docs): the caller searches or runs what it found, and parks into the role next.
    pub(crate) fn idle_io_turn(&self, me: usize) -> bool {
        if !self.reactor.has_sources() {
            return false;
        }
        let Some(woken) = self.zero_turn() else {
            return false;
        };
        self.hand_off_driver(Some(me), false);
        woken > 0
    }

    /// A zero-timeout turn of the reactor, if the role is free: `None` if it was not, else the
    /// number of tasks the turn woke.
    fn zero_turn(&self) -> Option<usize> {
        if !self.driver_role.try_acquire() {
            return None;
        }
        let woken = match self.driver.try_lock() {
            Ok(mut events) => self.reactor.turn(&mut events, Some(Duration::ZERO)),
            Err(TryLockError::WouldBlock) => unreachable!("only the role's holder locks it"),
            Err(TryLockError::Poisoned(_)) => unreachable!("the driver lock is never poisoned"),
        };
        self.driver_role.release();
        Some(woken)
    }

    /// Rules (b) and (c): if a timer is pending, or I/O sources are registered and the caller
    /// has more than one runnable task (`queued`), and nobody holds the driver role, wakes a
    /// sleeping worker other than `me` to take it. A paused clock's timers need no watcher
    /// (they fire through jumps). For sockets alone see "Sockets" in the module docs.
    pub(crate) fn hand_off_driver(&self, me: Option<usize>, queued: bool) {
        let watch = (self.timers.pending() && !self.clock.is_paused())
            || (queued && self.reactor.has_sources());
        if !watch || !self.driver_role.is_vacant() {
            return;
        }
        if let Some(index) = self.idle.sleeper_other_than(me) {
            self.unpark(index);
        }
    }

    /// A task registered a new earliest deadline: the driver must shorten its sleep (rule c).
    pub(crate) fn timer_registered(&self) {
        self.notify_driver();
        self.hand_off_driver(
            super::context::with_core(|core| core.map(|c| c.index())),
            true,
        );
    }

    /// Parks worker `index`: in the driver (blocking in the poller until the nearest timer) if
    /// the role is vacant, else on its parker. With a paused clock, the driver sleeps until
    /// notified instead, and jumps the clock when it finds every participant asleep
    /// (`time/clock.rs`).
    pub(crate) fn park_worker(&self, index: usize) {
        let parker = &self.remotes[index].parker;
        let busy = self.clock.busy();
        if !self.driver_role.try_acquire() {
            parker.park(busy, || self.notify_driver());
            return;
        }
        let mut events = match self.driver.try_lock() {
            Ok(events) => events,
            Err(TryLockError::WouldBlock) => unreachable!("only the role's holder locks it"),
            Err(TryLockError::Poisoned(_)) => unreachable!("the driver lock is never poisoned"),
        };
        let may_jump = parker.park_driver(busy, |last| {
            let timeout = if busy.is_some() {
                // The last sleeper returns at once to jump the clock, if there is a timer to
                // jump to; with none, it blocks like the others (a timer registered later
                // notifies the driver, and it comes back here).
                // A `wait_all_tasks_blocked` waiter counts as a timer here (`testing.rs`).
                let waiting = self.timers.next_deadline().is_some()
                    || crate::testing::has_blocked_waiters(self);
                (last && waiting).then_some(Duration::ZERO)
            } else if self.timers.pending() {
                // Early by a cancelled timer at worst: the wake then fires nothing and stores
                // the exact earliest deadline.
                let next = Duration::from_nanos(self.timers.next_nanos());
                let now = Duration::from_nanos(self.timers.nanos(self.clock.now()));
                Some(next.saturating_sub(now))
            } else {
                None
            };
            let _woken = self.reactor.turn(&mut events, timeout);
        });
        drop(events);
        // Everything is blocked: `wait_all_tasks_blocked` waiters return first, the clock
        // jumps at the next such moment (`testing.rs`).
        if may_jump && !crate::testing::wake_blocked_waiters(self) {
            if let Some(deadline) = self.timers.next_deadline() {
                self.clock.advance_to(deadline);
            }
        }
        if busy.is_some() || self.timers.maybe_due(self.clock.now()) {
            self.timers.fire_due_blocking(self.clock.now());
        }
        self.driver_role.release();
    }
}

#[cfg(all(test, trellis_loom))]
mod loom_driver {
    use super::*;
    use crate::scheduler::idle::Idle;
    use crate::scheduler::park::Parker;
    use loom::sync::Arc;
    use loom::thread;

    #[test]
    fn loom_driver_role_is_never_left_vacant() {
        // Worker 0 holds the role and leaves its park for work while a timer is pending
        // (rule b); worker 1 goes to sleep at the same time (rule a). Worker 1 must end up in
        // the driver: either it takes the role, or worker 0 sees it listed and wakes it, and
        // it retries. A missed hand-off leaves worker 1 blocked on its parker forever, which
        // loom reports as a deadlock.
        loom::model(|| {
            let idle = Arc::new(Idle::new(2));
            let role = Arc::new(DriverRole::new());
            let parkers = Arc::new([Parker::new(), Parker::new()]);
            assert!(role.try_acquire()); // worker 0 is in the driver

            let (i2, r2, p2) = (idle.clone(), role.clone(), parkers.clone());
            let sleeper = thread::spawn(move || {
                i2.transition_to_parked(1, false);
                while !r2.try_acquire() {
                    p2[1].park(None, || {});
                }
            });

            role.release();
            if role.is_vacant() {
                if let Some(index) = idle.sleeper_other_than(Some(0)) {
                    parkers[index].unpark(None, || {});
                }
            }
            sleeper.join().unwrap();
        });
    }
}
