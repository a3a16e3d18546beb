//! The timer queue: deadlines ordered in `BTreeMap`s, each with the waker of the task waiting.
//!
//! The queue is sharded, one shard per worker: a timer registers in the shard of the thread
//! that first polls it (`scheduler::shard_hint`), so workers registering timers at once do not
//! contend on one lock (tokio shards its timer wheel per worker for the same reason). A key
//! remembers its shard, so updates and removals go straight to it. Within a shard, keys are
//! `(deadline, id)`, so equal deadlines stay distinct and fire in registration order;
//! insertion and removal are O(log n). Firing pops the due prefix of every shard, then wakes
//! the due timers in deadline order, after the locks are released (a wake that schedules a
//! task never runs under a timer lock). `next_deadline` takes the minimum over the shards.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::task::Waker;

use super::Instant;
use crate::scheduler::shard_hint;

/// Identifies one registered timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerKey {
    deadline: Instant,
    id: u64,
    shard: u32,
}

pub(crate) struct TimerQueue {
    shards: Box<[Mutex<Shard>]>,
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
    /// A queue with `shards` shards (one per worker; at least one).
    pub(crate) fn new(shards: usize) -> TimerQueue {
        TimerQueue {
            shards: (0..shards.max(1))
                .map(|_| Mutex::new(Shard::default()))
                .collect(),
        }
    }

    fn shard(&self, key: TimerKey) -> MutexGuard<'_, Shard> {
        lock(&self.shards[key.shard as usize])
    }

    /// Registers `waker` for `deadline` in the calling thread's shard. Returns the key, and
    /// whether it is now the earliest of its shard (the parked driver may then have to
    /// shorten its sleep).
    pub(crate) fn register(&self, deadline: Instant, waker: Waker) -> (TimerKey, bool) {
        let index = shard_hint() % self.shards.len();
        let mut shard = lock(&self.shards[index]);
        let id = shard.next_id;
        shard.next_id += 1;
        shard.map.insert((deadline, id), waker);
        let earliest = shard
            .map
            .first_key_value()
            .is_some_and(|(k, _)| *k == (deadline, id));
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

    /// Wakes every timer due at `now`. Skips a shard whose lock another thread holds (it is
    /// firing or registering, and the driver re-checks before sleeping).
    pub(crate) fn fire_due(&self, now: Instant) {
        self.fire(now, |shard| match shard.try_lock() {
            Ok(shard) => Some(shard),
            Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        });
    }

    /// Wakes every timer due at `now`, waiting for each lock (a paused clock's jump must not
    /// be skipped).
    pub(crate) fn fire_due_blocking(&self, now: Instant) {
        self.fire(now, |shard| Some(lock(shard)));
    }

    fn fire(
        &self,
        now: Instant,
        mut lock: impl FnMut(&Mutex<Shard>) -> Option<MutexGuard<'_, Shard>>,
    ) {
        let mut due = Vec::new();
        let mut shards_with_due = 0;
        for shard in &*self.shards {
            let Some(mut shard) = lock(shard) else {
                continue;
            };
            let before = due.len();
            while let Some(entry) = shard.map.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                let deadline = entry.key().0;
                due.push((deadline, entry.remove()));
            }
            shards_with_due += usize::from(due.len() > before);
        }
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
        let q = TimerQueue::new(2);
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
        q.fire_due(now + Duration::from_millis(5));
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(!q.update(early, &waker), "a fired timer is gone");
        assert_eq!(q.len(), 1);
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
        let q = Arc::new(TimerQueue::new(4));
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
