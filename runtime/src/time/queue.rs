//! The timer queue: deadlines ordered in a `BTreeMap`, each with the waker of the task waiting.
//!
//! Keys are `(deadline, id)`, so equal deadlines stay distinct and fire in registration order.
//! Insertion and removal are O(log n); firing pops the due prefix. Wakers are woken after the
//! lock is released, so a wake that schedules a task never runs under the timer lock.

use super::Instant;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::task::Waker;

/// Identifies one registered timer.
pub(crate) type TimerKey = (Instant, u64);

pub(crate) struct TimerQueue {
    inner: Mutex<Inner>,
}

struct Inner {
    map: BTreeMap<TimerKey, Waker>,
    next_id: u64,
}

impl TimerQueue {
    pub(crate) fn new() -> TimerQueue {
        TimerQueue {
            inner: Mutex::new(Inner {
                map: BTreeMap::new(),
                next_id: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // No critical section panics (wakers are woken outside), so a poisoned lock is intact.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers `waker` for `deadline`. Returns the key, and whether it is now the earliest
    /// (the parked driver must then shorten its sleep).
    pub(crate) fn register(&self, deadline: Instant, waker: Waker) -> (TimerKey, bool) {
        let mut inner = self.lock();
        let key = (deadline, inner.next_id);
        inner.next_id += 1;
        inner.map.insert(key, waker);
        let earliest = inner.map.first_key_value().is_some_and(|(k, _)| *k == key);
        (key, earliest)
    }

    /// Replaces the waker of a registered timer. `false` if it already fired.
    pub(crate) fn update(&self, key: TimerKey, waker: &Waker) -> bool {
        match self.lock().map.get_mut(&key) {
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
        let waker = self.lock().map.remove(&key);
        drop(waker); // outside the lock: dropping a waker may free a task
    }

    /// The earliest deadline, if any.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.lock().map.first_key_value().map(|(k, _)| k.0)
    }

    /// Wakes every timer due at `now`. Skips the work if another thread holds the lock (it is
    /// firing or registering, and the driver re-checks before sleeping).
    pub(crate) fn fire_due(&self, now: Instant) {
        match self.inner.try_lock() {
            Ok(inner) => Self::fire(inner, now),
            Err(std::sync::TryLockError::Poisoned(e)) => Self::fire(e.into_inner(), now),
            Err(std::sync::TryLockError::WouldBlock) => {}
        }
    }

    /// Wakes every timer due at `now`, waiting for the lock (a paused clock's jump must not
    /// be skipped).
    pub(crate) fn fire_due_blocking(&self, now: Instant) {
        Self::fire(self.lock(), now);
    }

    fn fire(mut inner: MutexGuard<'_, Inner>, now: Instant) {
        let mut due = Vec::new();
        while let Some(entry) = inner.map.first_entry() {
            if entry.key().0 > now {
                break;
            }
            due.push(entry.remove());
        }
        drop(inner);
        for waker in due {
            waker.wake();
        }
    }

    /// Number of registered timers.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().map.len()
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
        let q = TimerQueue::new();
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
        assert_eq!(q.next_deadline(), Some(early.0));
        q.fire_due(now + Duration::from_millis(5));
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(!q.update(early, &waker), "a fired timer is gone");
        assert_eq!(q.len(), 1);
    }
}
