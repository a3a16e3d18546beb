//! The timer queue: deadlines ordered in `BTreeMap`s, each with the waker of the task waiting.
//!
//! The queue is sharded, one shard per worker: a timer registers in the shard of the thread
//! that first polls it (`scheduler::shard_hint`), so workers registering timers at once do not
//! contend on one lock (tokio shards its timer wheel per worker for the same reason). A key
//! remembers its shard, so updates and removals go straight to it. Within a shard, keys are
//! `(deadline, id)`, so equal deadlines stay distinct and fire in registration order;
//! insertion and removal are O(log n). Firing pops the due prefix of every shard, then wakes
//! the due timers in deadline order, after the locks are released (a wake that schedules a
//! task never runs under a timer lock).
//!
//! # The cached earliest deadline
//!
//! `next` holds a lower bound of every registered deadline, up to the timer resolution
//! (nanoseconds since the clock's origin; [`NO_TIMER`] when none is registered), so a busy
//! worker can ask "is a timer due?" at every poll boundary with one atomic load and, only if a
//! timer is pending, one clock read (`scheduler/driver.rs`). The invariant is **`next <= d`
//! for every registered deadline `d` later than the last fire's `now + RESOLUTION`**:
//!
//! 1. `register` lowers `next` (`fetch_min`) while it holds the shard lock it inserted under
//!    (it only reads `next` when `next` is already low enough: nothing can raise it
//!    meanwhile, see 2);
//! 2. only a fire raises `next`, and it stores the exact minimum, but not less than its `now +`
//!    [`RESOLUTION`], while it holds *every* shard lock (taken in index order, so two fires
//!    cannot deadlock; everyone else takes one lock), so no registration can fall between its
//!    scan and its store;
//! 3. `cancel` leaves `next` alone: it may become *early* (below every remaining deadline).
//!    An early `next` costs one fire that finds nothing due and stores the exact minimum.
//!
//! Why it matters: a `next` above a registered deadline (beyond the resolution) would let that
//! timer be missed by every busy worker and by the driver, which sleeps until `next`. The
//! resolution (1 ms, tokio's too) bounds how often timers are fired while deadlines keep
//! falling due, one after the other: at most once per resolution, not at every poll boundary
//! (with 100 000 timers registered 1 ms apart from a spawn loop, nearly every boundary would
//! find a new one due, and each fire takes every shard lock). A timer thus fires at most
//! [`RESOLUTION`] after its deadline, plus the slice that was running.
//!
//! A registration that lowers `next` reports it (`register`'s `bool`): the worker in the
//! driver may be sleeping towards a later deadline and must be notified. That rule is exact
//! even though `next` may be early: a driver that read `next = t` sleeps until `t` at most,
//! and a deadline `d < t` registered after that read either lowers `next` itself (and
//! notifies) or finds `next <= d` already lowered after the read by a registration that
//! notified (the notification is sticky).
//!
//! The exact minimum (`next_deadline`, a scan of every shard) is used where an early bound
//! would be wrong: the paused clock jumps to it.

use std::collections::BTreeMap;
use std::task::Waker;

use crate::loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use crate::loom::sync::{Mutex, MutexGuard};

use super::Instant;
use crate::scheduler::shard_hint;

/// Identifies one registered timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerKey {
    deadline: Instant,
    id: u64,
    shard: u32,
}

/// The value of `next` when no timer is registered.
pub(crate) const NO_TIMER: u64 = u64::MAX;

pub(crate) use crate::tuning::TIMER_RESOLUTION as RESOLUTION;

pub(crate) struct TimerQueue {
    shards: Box<[Mutex<Shard>]>,
    /// A lower bound of every registered deadline, in nanoseconds since `origin` (see the
    /// module doc); [`NO_TIMER`] when none is registered.
    next: AtomicU64,
    /// The clock's origin: deadlines are stored in `next` relative to it.
    origin: std::time::Instant,
    /// A busy worker is firing due timers: the others skip theirs (`fire_due`).
    firing: AtomicBool,
}

#[derive(Default)]
struct Shard {
    map: BTreeMap<(Instant, u64), Waker>,
    next_id: u64,
}

/// Locks a shard. No critical section panics (wakers are woken outside), so a poisoned lock
/// is intact.
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(|e| e.into_inner())
}

impl TimerQueue {
    /// A queue with `shards` shards (one per worker; at least one), for a clock whose time
    /// line starts at `origin`.
    pub(crate) fn new(shards: usize, origin: std::time::Instant) -> TimerQueue {
        TimerQueue {
            shards: (0..shards.max(1))
                .map(|_| Mutex::new(Shard::default()))
                .collect(),
            next: AtomicU64::new(NO_TIMER),
            origin,
            firing: AtomicBool::new(false),
        }
    }

    /// `instant` in nanoseconds since the origin (0 before it; saturated below [`NO_TIMER`]).
    pub(crate) fn nanos(&self, instant: Instant) -> u64 {
        let nanos = instant
            .into_std()
            .saturating_duration_since(self.origin)
            .as_nanos();
        u64::try_from(nanos)
            .unwrap_or(NO_TIMER - 1)
            .min(NO_TIMER - 1)
    }

    /// The cached earliest deadline (a lower bound, see the module doc), or [`NO_TIMER`].
    pub(crate) fn next_nanos(&self) -> u64 {
        self.next.load(Ordering::SeqCst)
    }

    /// Is any timer (possibly an already cancelled one) registered?
    pub(crate) fn pending(&self) -> bool {
        self.next_nanos() != NO_TIMER
    }

    /// Is a timer due at `now` by the cached bound? (May say yes for a cancelled timer.)
    pub(crate) fn maybe_due(&self, now: Instant) -> bool {
        let next = self.next_nanos();
        next != NO_TIMER && self.nanos(now) >= next
    }

    fn shard(&self, key: TimerKey) -> MutexGuard<'_, Shard> {
        lock(&self.shards[key.shard as usize])
    }

    /// Registers `waker` for `deadline` in the calling thread's shard. Returns the key, and
    /// whether it lowered the cached earliest deadline (the driver may then have to shorten
    /// its sleep, see the module doc).
    pub(crate) fn register(&self, deadline: Instant, waker: Waker) -> (TimerKey, bool) {
        self.register_in(shard_hint() % self.shards.len(), deadline, waker)
    }

    /// [`register`](Self::register) in shard `index` (the loom models choose the shard).
    fn register_in(&self, index: usize, deadline: Instant, waker: Waker) -> (TimerKey, bool) {
        let nanos = self.nanos(deadline);
        let mut shard = lock(&self.shards[index]);
        let id = shard.next_id;
        shard.next_id += 1;
        shard.map.insert((deadline, id), waker);
        // Under the shard lock (invariant step 1). Most registrations are later than `next`:
        // they only read it, so workers registering at once do not bounce its cache line.
        let earliest = self.next.load(Ordering::SeqCst) > nanos
            && self.next.fetch_min(nanos, Ordering::SeqCst) > nanos;
        drop(shard);
        let key = TimerKey {
            deadline,
            id,
            shard: index as u32,
        };
        (key, earliest)
    }

    /// Replaces the waker of a registered timer. `false` if it already fired.
    pub(crate) fn update(&self, key: TimerKey, waker: &Waker) -> bool {
        match self.shard(key).map.get_mut(&(key.deadline, key.id)) {
            Some(slot) => {
                if !slot.will_wake(waker) {
                    slot.clone_from(waker);
                }
                true
            }
            None => false,
        }
    }

    /// Removes a timer (its future was dropped or completed).
    pub(crate) fn cancel(&self, key: TimerKey) {
        let waker = self.shard(key).map.remove(&(key.deadline, key.id));
        drop(waker); // outside the lock: dropping a waker may free a task
    }

    /// The earliest deadline, if any.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.shards
            .iter()
            .filter_map(|shard| lock(shard).map.first_key_value().map(|(k, _)| k.0))
            .min()
    }

    /// Wakes every timer due at `now`, unless another thread is doing so already (a busy
    /// worker at a poll boundary: it then goes on with its work; the firing thread wakes what
    /// is due, and the next boundary looks again).
    pub(crate) fn fire_due(&self, now: Instant) {
        // A compare-exchange, not a swap: a worker that finds the flag taken writes nothing
        // (no cache-line bounce among busy workers). It also keeps loom's model exact: loom
        // 0.7 lets a plain store fall between a swap's read and its write (tokio-rs/loom#254),
        // an order no hardware produces.
        if self
            .firing
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        self.fire_due_blocking(now);
        self.firing.store(false, Ordering::Release);
    }

    /// Wakes every timer due at `now` (the driver, a paused clock's jump: never skipped).
    pub(crate) fn fire_due_blocking(&self, now: Instant) {
        // Every shard lock, in index order (invariant step 2).
        let mut shards: Vec<MutexGuard<'_, Shard>> = self.shards.iter().map(lock).collect();
        let mut due = Vec::new();
        let mut shards_with_due = 0;
        let mut next = NO_TIMER;
        for shard in &mut shards {
            let before = due.len();
            while let Some(entry) = shard.map.first_entry() {
                if entry.key().0 > now {
                    next = next.min(self.nanos(entry.key().0));
                    break;
                }
                let deadline = entry.key().0;
                due.push((deadline, entry.remove()));
            }
            shards_with_due += usize::from(due.len() > before);
        }
        if next != NO_TIMER {
            // Not before the resolution (invariant step 2).
            next = next.max(self.nanos(now).saturating_add(RESOLUTION.as_nanos() as u64));
        }
        self.next.store(next, Ordering::SeqCst);
        drop(shards);
        if shards_with_due > 1 {
            // Each shard's part is in order; merge by deadline (stable: ties keep shard order).
            due.sort_by_key(|(deadline, _)| *deadline);
        }
        for (_, waker) in due {
            // A user waker that panics must not take the worker, or the other due timers, down.
            crate::contain::wake(waker, "a timer woke its waker");
        }
    }

    /// Number of registered timers.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|shard| lock(shard).map.len()).sum()
    }
}

#[cfg(all(test, not(trellis_loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;
    use std::time::Duration;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn fires_due_timers_only_and_removes_cancelled() {
        let q = TimerQueue::new(2, std::time::Instant::now());
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let now = Instant::from(std::time::Instant::now());
        let (early, first) = q.register(now + Duration::from_millis(1), waker.clone());
        assert!(first);
        let (_late, first) = q.register(now + Duration::from_secs(60), waker.clone());
        assert!(!first);
        let (gone, _) = q.register(now + Duration::from_millis(2), waker.clone());
        q.cancel(gone);
        assert_eq!(q.len(), 2);
        assert_eq!(q.next_deadline(), Some(early.deadline));
        assert_eq!(q.next_nanos(), q.nanos(early.deadline));
        assert!(!q.maybe_due(now));
        assert!(q.maybe_due(now + Duration::from_millis(5)));
        q.fire_due(now + Duration::from_millis(5));
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(!q.update(early, &waker), "a fired timer is gone");
        assert_eq!(q.len(), 1);
        // The fire stored the exact earliest deadline left.
        assert_eq!(q.next_nanos(), q.nanos(now + Duration::from_secs(60)));
        // ... or, for one due within the resolution, the fire's time plus the resolution.
        let (_soon, _) = q.register(now + Duration::from_millis(6), waker.clone());
        q.fire_due(now + Duration::from_millis(5));
        assert_eq!(
            q.next_nanos(),
            q.nanos(now + Duration::from_millis(5) + RESOLUTION)
        );
        assert!(q.pending());
    }

    struct Record(usize, Arc<std::sync::Mutex<Vec<usize>>>);
    impl Wake for Record {
        fn wake(self: Arc<Self>) {
            self.1.lock().unwrap().push(self.0);
        }
    }

    #[test]
    fn timers_of_several_shards_fire_in_deadline_order() {
        // Each thread has its own shard hint: the 8 timers spread over the 4 shards.
        let q = Arc::new(TimerQueue::new(4, std::time::Instant::now()));
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let now = Instant::from(std::time::Instant::now());
        let threads: Vec<_> = (0..8usize)
            .map(|i| {
                let (q, order) = (q.clone(), order.clone());
                std::thread::spawn(move || {
                    // Deadlines 7, 6, ..., 0 ms: registration order is the reverse of firing.
                    let waker = Waker::from(Arc::new(Record(7 - i, order)));
                    q.register(now + Duration::from_millis(7 - i as u64), waker)
                        .0
                })
            })
            .collect();
        let keys: Vec<TimerKey> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert!(
            keys.iter().any(|k| k.shard != keys[0].shard),
            "spread over shards"
        );
        assert_eq!(q.next_deadline(), Some(now));
        q.fire_due_blocking(now + Duration::from_millis(100));
        assert_eq!(*order.lock().unwrap(), (0..8).collect::<Vec<_>>());
        assert_eq!(q.len(), 0);
    }
}

/// Loom models of the cached earliest deadline (module doc): a registration racing a fire
/// never leaves a due timer behind a `next` that says nothing is due, and busy workers firing
/// at once wake each due timer exactly once.
#[cfg(all(test, trellis_loom))]
mod loom_queue {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;
    use std::sync::atomic::{AtomicUsize as Counter, Ordering::SeqCst};
    use std::task::Wake;
    use std::time::Duration;

    struct Count(Counter);
    impl Wake for Count {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    fn counter() -> std::sync::Arc<Count> {
        std::sync::Arc::new(Count(Counter::new(0)))
    }

    /// A queue of two shards, and a `now` 10 ms after its origin.
    fn two_shards() -> (Arc<TimerQueue>, Instant) {
        let origin = std::time::Instant::now();
        let now = Instant::from(origin + Duration::from_millis(10));
        (Arc::new(TimerQueue::new(2, origin)), now)
    }

    /// Seeded bugs it catches (each tried): `fire_due_blocking` storing `next` after dropping
    /// the shard locks (a registration between its scan and its store is then hidden behind
    /// the later bound), and `register` lowering `next` before its insert instead of after it.
    #[test]
    fn loom_timer_register_vs_fire_never_strands_a_due_timer() {
        loom::model(|| {
            let (q, now) = two_shards();
            let later = counter();
            let due = counter();
            // A later timer in shard 0, so `next` starts above the deadline registered below.
            q.register_in(
                0,
                now + Duration::from_millis(50),
                Waker::from(later.clone()),
            );
            let registrar = {
                let (q, waker) = (q.clone(), Waker::from(due.clone()));
                thread::spawn(move || {
                    q.register_in(1, now, waker);
                })
            };
            // The driver (or a busy worker) fires what is due at `now`.
            q.fire_due(now);
            registrar.join().unwrap();
            // Either that fire woke it, or the cached bound says a timer is due, so the next
            // poll boundary fires it.
            if due.0.load(SeqCst) == 0 {
                assert!(
                    q.maybe_due(now),
                    "a due timer is stranded: the cached earliest deadline is above it"
                );
                q.fire_due(now);
            }
            assert_eq!(due.0.load(SeqCst), 1);
            assert_eq!(later.0.load(SeqCst), 0);
            assert_eq!(q.len(), 1);
        });
    }

    /// Seeded bugs it catches (each tried): the same two as the model above, seen here as a
    /// fire skipped by a busy worker that no later boundary makes up.
    #[test]
    fn loom_timer_busy_workers_fire_each_due_timer_once() {
        loom::model(|| {
            let (q, now) = two_shards();
            let (first, second) = (counter(), counter());
            q.register_in(0, now, Waker::from(first.clone()));
            // A busy worker registers a due timer and fires at its next boundary, while
            // another busy worker fires.
            let worker = {
                let (q, waker) = (q.clone(), Waker::from(second.clone()));
                thread::spawn(move || {
                    q.register_in(1, now, waker);
                    if q.maybe_due(now) {
                        q.fire_due(now);
                    }
                })
            };
            if q.maybe_due(now) {
                q.fire_due(now);
            }
            worker.join().unwrap();
            // A fire skipped because another was running is made up at a later boundary.
            if q.maybe_due(now) {
                q.fire_due(now);
            }
            assert_eq!(first.0.load(SeqCst), 1, "the first timer fired once");
            assert_eq!(second.0.load(SeqCst), 1, "the second timer fired once");
            assert_eq!(q.len(), 0);
            assert!(!q.pending(), "nothing left: `next` says no timer");
        });
    }
}
