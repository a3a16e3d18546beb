#![allow(non_snake_case)] // Trio's test names
//! `trellis::sync::Lock`: Trio's lock tests (`src/trio/_tests/test_sync.py`, the `Lock` cases
//! and the generic lock tests for `Lock`) under Trio's names, then cancellation at the moment
//! of hand-off on two workers, cross-domain and plain-thread use.
//!
//! Adapted: Trio's `release()` by a task that does not own the lock, and a second
//! `acquire_nowait` by the owner, raise `RuntimeError`; here the lock is released by dropping
//! its guard (no unowned release can be written), and a second `try_lock` by the owner is
//! simply `WouldBlock` (the lock has no owner task). `assert_checkpoints` becomes: the
//! operation does not complete in a cancelled scope.

mod support;

use std::future::pending;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use support::handoff::{self, Units};
use support::{Watchdog, run_paused, settle};
use trellis::CancelScope;
use trellis::sync::{Lock, LockGuard, WouldBlock};

impl Units for Lock {
    type Guard<'a> = LockGuard<'a>;
    fn acquire(&self) -> impl Future<Output = LockGuard<'_>> + Send + '_ {
        self.lock()
    }
    fn try_acquire(&self) -> Option<LockGuard<'_>> {
        self.try_lock().ok()
    }
    fn free(&self) -> usize {
        usize::from(!self.is_locked())
    }
    fn waiting(&self) -> usize {
        Lock::waiting(self)
    }
}

#[test]
fn test_Lock_and_StrictFIFOLock() {
    run_paused("test_Lock_and_StrictFIFOLock", async {
        let l = Arc::new(Lock::new());
        assert!(!l.is_locked());
        {
            let _g = l.lock().await;
            assert!(l.is_locked());
            let _ = format!("{l:?}"); // smoke test
        }
        assert!(!l.is_locked());
        let g = l.try_lock().unwrap();
        assert!(l.is_locked());
        assert_eq!(l.try_lock().unwrap_err(), WouldBlock);
        drop(g);
        assert!(!l.is_locked());

        // A checkpoint even when free: a cancelled scope stops it, and nothing is held.
        let scope = CancelScope::new();
        scope.handle().cancel();
        assert!(scope.run(l.lock()).await.is_none());
        assert!(!l.is_locked());

        let cancel = CancelScope::new();
        let handle = cancel.handle();
        cancel
            .run(trellis::nursery(async |n| {
                let holder = |l: Arc<Lock>| async move {
                    let _g = l.lock().await;
                    pending::<()>().await;
                };
                assert!(!l.is_locked());
                n.start_soon(holder(l.clone()));
                settle().await;
                assert!(l.is_locked());
                assert_eq!(l.try_lock().unwrap_err(), WouldBlock);
                assert_eq!(l.waiting(), 0);
                n.start_soon(holder(l.clone()));
                settle().await;
                assert_eq!(l.waiting(), 1);
                handle.cancel();
            }))
            .await;
        assert!(!l.is_locked());
        assert_eq!(l.waiting(), 0);
    });
}

#[test]
fn test_generic_lock_exclusion() {
    handoff::generic_lock_exclusion("test_generic_lock_exclusion", Lock::new);
}

#[test]
fn test_generic_lock_fifo_fairness() {
    handoff::generic_lock_fifo_fairness("test_generic_lock_fifo_fairness", Lock::new);
}

#[test]
fn test_generic_lock_acquire_nowait_blocks_acquire() {
    handoff::generic_lock_acquire_nowait_blocks_acquire(
        "test_generic_lock_acquire_nowait_blocks_acquire",
        Lock::new,
    );
}

#[test]
fn lock_cancelled_at_hand_off_two_workers() {
    let _w = Watchdog::with_timeout(
        "lock_cancelled_at_hand_off_two_workers",
        handoff::RACE_WATCHDOG,
    );
    let out = handoff::race(handoff::ROUNDS, Lock::new);
    assert_eq!(out.first_won + out.first_cancelled, handoff::ROUNDS);
    eprintln!("lock hand-off race: {out:?}");
}

#[test]
fn lock_fifo_order_of_waiters() {
    run_paused("lock_fifo_order_of_waiters", async {
        let l = Arc::new(Lock::new());
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let g = l.lock().await;
        trellis::nursery(async |n| {
            for i in 0..10 {
                let (l, order) = (l.clone(), order.clone());
                n.start_soon(async move {
                    let _g = l.lock().await;
                    order.lock().unwrap().push(i);
                });
                settle().await; // queued in this order
            }
            assert_eq!(l.waiting(), 10);
            // A newcomer does not overtake the queue, even right after the release.
            drop(g);
            assert_eq!(l.try_lock().unwrap_err(), WouldBlock);
        })
        .await
        .unwrap();
        assert_eq!(*order.lock().unwrap(), (0..10).collect::<Vec<_>>());
    });
}

#[test]
fn lock_across_domains() {
    let _w = Watchdog::new("lock_across_domains");
    assert_eq!(handoff::cross_domain_counter(Lock::new, 8, 200), 8 * 200);
}

#[test]
fn lock_from_plain_threads_and_tasks() {
    let _w = Watchdog::new("lock_from_plain_threads_and_tasks");
    let rt = support::rt(2);
    let l = Arc::new(Lock::new());
    let counter = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let (l, counter) = (l.clone(), counter.clone());
            std::thread::spawn(move || {
                for _ in 0..300 {
                    let _g = l.lock_blocking();
                    let v = counter.load(SeqCst);
                    std::thread::yield_now();
                    counter.store(v + 1, SeqCst);
                }
            })
        })
        .collect();
    rt.block_on(async {
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let (l, counter) = (l.clone(), counter.clone());
                trellis::spawn(async move {
                    for _ in 0..300 {
                        let _g = l.lock().await;
                        let v = counter.load(SeqCst);
                        trellis::yield_now().await;
                        counter.store(v + 1, SeqCst);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(counter.load(SeqCst), 6 * 300);
    assert!(!l.is_locked());
}

#[test]
fn lock_blocking_on_a_worker_panics() {
    let _w = Watchdog::new("lock_blocking_on_a_worker_panics");
    let err = trellis::run(async {
        trellis::spawn(async {
            let l = Lock::new();
            drop(l.lock_blocking());
        })
        .await
        .unwrap_err()
    });
    assert!(err.is_panic());
    let msg = support::panic_message(&*err.into_panic());
    assert!(msg.contains("Lock::lock_blocking"), "{msg}");
}

#[test]
fn lock_cancelled_after_hand_off_passes_it_on() {
    handoff::cancelled_after_hand_off_passes_it_on(
        "lock_cancelled_after_hand_off_passes_it_on",
        Lock::new,
    );
}
