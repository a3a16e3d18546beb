#![allow(non_snake_case)] // Trio's test names
//! `trellis::sync::Condition`: Trio's `test_Condition` (`src/trio/_tests/test_sync.py`) under
//! its name, then cancellation in each phase of a wait, a producer/consumer queue across
//! domains, and a notify racing the cancellation of the notified waiter on two workers.
//!
//! Adapted: the condition owns its lock (Trio's `Condition(lock)` with a given lock and the
//! `TypeError`s for other lock types cannot be written); `wait` takes the guard, so waiting
//! without the lock cannot be written, while notifying without it panics (Trio's
//! `RuntimeError`). Trio's `notify` moves the notified tasks straight into the lock's queue
//! (`lock_statistics.tasks_waiting` counts them at once); here they queue for the lock when
//! they next run, in the order they were notified. A cancelled `wait` does not hold the lock
//! afterwards (Trio takes it again): the guard moved into the future is dropped with it.

mod support;

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use support::{Watchdog, run_paused, settle};
use trellis::sync::{Condition, Lock};
use trellis::{CancelScope, DomainId};

fn panic_message_of(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    support::panic_message(&*std::panic::catch_unwind(f).unwrap_err())
}

#[test]
fn test_Condition() {
    run_paused("test_Condition", async {
        let c = Arc::new(Condition::new());
        assert!(!c.is_locked());
        let g = c.lock().await;
        assert!(c.is_locked());
        assert!(c.as_lock().is_locked());
        assert!(c.try_lock().is_err());
        drop(g);

        // Can't notify without holding the lock.
        let c2 = c.clone();
        let msg = panic_message_of(move || c2.notify(1));
        assert!(msg.contains("lock must be held"), "{msg}");
        let c2 = c.clone();
        let msg = panic_message_of(move || c2.notify_all());
        assert!(msg.contains("lock must be held"), "{msg}");
        // Can't wait with another lock's guard.
        let other = Lock::new();
        let c2 = c.clone();
        let msg = panic_message_of(std::panic::AssertUnwindSafe(move || {
            drop(c2.wait(other.try_lock().unwrap()))
        }));
        assert!(msg.contains("another lock"), "{msg}");

        let finished = Arc::new(Mutex::new(BTreeSet::new()));
        let waiter = |i: usize, c: Arc<Condition>, finished: Arc<Mutex<BTreeSet<usize>>>| async move {
            let g = c.lock().await;
            let g = c.wait(g).await;
            drop(g);
            finished.lock().unwrap().insert(i);
        };
        trellis::nursery(async |n| {
            for i in 0..3 {
                n.start_soon(waiter(i, c.clone(), finished.clone()));
                settle().await;
            }
            {
                let _g = c.lock().await;
                c.notify(1);
                assert!(c.is_locked());
            }
            settle().await;
            assert_eq!(*finished.lock().unwrap(), BTreeSet::from([0]));
            {
                let _g = c.lock().await;
                c.notify_all();
            }
            settle().await;
            assert_eq!(*finished.lock().unwrap(), BTreeSet::from([0, 1, 2]));
        })
        .await
        .unwrap();

        finished.lock().unwrap().clear();
        trellis::nursery(async |n| {
            for i in 0..3 {
                n.start_soon(waiter(i, c.clone(), finished.clone()));
                settle().await;
            }
            {
                let _g = c.lock().await;
                c.notify(2);
                assert_eq!(c.waiting(), 1);
                // The two notified queue for the lock when they run (adapted, see above).
                settle().await;
                assert_eq!(c.as_lock().waiting(), 2);
            }
            // Dropping the guard hands the lock to the first of them.
            assert_eq!(c.as_lock().waiting(), 1);
            settle().await;
            assert_eq!(*finished.lock().unwrap(), BTreeSet::from([0, 1]));
            let _g = c.lock().await;
            c.notify_all();
        })
        .await
        .unwrap();

        // After being cancelled, the wait holds nothing (adapted: Trio holds the lock).
        let scope = CancelScope::new();
        scope.handle().cancel();
        let g = c.lock().await;
        assert!(scope.run(c.wait(g)).await.is_none());
        assert!(!c.is_locked());
        assert_eq!(c.waiting(), 0);
    });
}

/// Cancelled while waiting to be notified: the lock stays free and nothing stays registered;
/// cancelled while taking the lock again (notified, lock held by the notifier): the lock goes
/// to nobody and is free once the notifier drops it.
#[test]
fn condition_cancel_in_each_phase() {
    run_paused("condition_cancel_in_each_phase", async {
        let c = Arc::new(Condition::new());
        let reached = Arc::new(AtomicBool::new(false));
        for notify_first in [false, true] {
            let scope = CancelScope::new();
            let cancel = scope.handle();
            trellis::nursery(async |n| {
                let (c2, reached2) = (c.clone(), reached.clone());
                n.start_soon(async move {
                    let _ = scope
                        .run(async {
                            let g = c2.lock().await;
                            let _g = c2.wait(g).await;
                            reached2.store(true, SeqCst);
                        })
                        .await;
                });
                settle().await;
                assert_eq!(c.waiting(), 1);
                assert!(!c.is_locked());
                if notify_first {
                    let g = c.lock().await;
                    c.notify(1);
                    settle().await; // the waiter queues for the lock
                    assert_eq!(c.as_lock().waiting(), 1);
                    cancel.cancel();
                    settle().await;
                    assert_eq!(c.as_lock().waiting(), 0);
                    drop(g);
                } else {
                    cancel.cancel();
                }
            })
            .await
            .unwrap();
            assert!(!reached.load(SeqCst));
            assert!(!c.is_locked());
            assert_eq!(c.waiting(), 0);
        }
    });
}

/// A bounded queue guarded by the condition: producers pinned on domain 0, consumers on
/// domain 1; every item is consumed exactly once.
#[test]
fn condition_queue_across_domains() {
    let _w = Watchdog::new("condition_queue_across_domains");
    const ITEMS: usize = 2000;
    let rt = support::rt(2);
    let c = Arc::new(Condition::new());
    let queue = Arc::new(Mutex::new(VecDeque::new()));
    let produced_all = Arc::new(AtomicBool::new(false));
    let consumed = Arc::new(Mutex::new(Vec::new()));
    rt.block_on(async {
        trellis::nursery(async |n| {
            let producers = Arc::new(AtomicUsize::new(2));
            for p in 0..2 {
                let (c, queue, producers, produced_all) = (
                    c.clone(),
                    queue.clone(),
                    producers.clone(),
                    produced_all.clone(),
                );
                n.start_soon_on(DomainId::new(0), move || async move {
                    for i in (p..ITEMS).step_by(2) {
                        let _g = c.lock().await;
                        queue.lock().unwrap().push_back(i);
                        c.notify(1);
                    }
                    if producers.fetch_sub(1, SeqCst) == 1 {
                        let _g = c.lock().await;
                        produced_all.store(true, SeqCst);
                        c.notify_all();
                    }
                });
            }
            for _ in 0..3 {
                let (c, queue, produced_all, consumed) = (
                    c.clone(),
                    queue.clone(),
                    produced_all.clone(),
                    consumed.clone(),
                );
                n.start_soon_on(DomainId::new(1), move || async move {
                    let mut g = c.lock().await;
                    loop {
                        let item = queue.lock().unwrap().pop_front();
                        match item {
                            Some(i) => consumed.lock().unwrap().push(i),
                            None if produced_all.load(SeqCst) => break,
                            None => g = c.wait(g).await,
                        }
                    }
                    drop(g);
                });
            }
        })
        .await
        .unwrap();
    });
    let mut consumed = consumed.lock().unwrap().clone();
    consumed.sort_unstable();
    assert_eq!(consumed, (0..ITEMS).collect::<Vec<_>>());
    assert!(!c.is_locked());
    assert_eq!(c.waiting(), 0);
}

/// The notifier releases the lock on domain 0 while the notified waiter is cancelled on
/// domain 1, as it takes the lock again; a second notified waiter must still get the lock,
/// and the lock ends free.
#[test]
fn condition_notify_vs_cancel_two_workers() {
    let _w = Watchdog::with_timeout(
        "condition_notify_vs_cancel_two_workers",
        std::time::Duration::from_secs(180),
    );
    let rt = support::rt(2);
    let mut outcomes = [0usize; 2];
    for round in 0..300 {
        let c = Arc::new(Condition::new());
        let scope = CancelScope::new();
        let cancel = scope.handle();
        let first_done = rt.block_on(async {
            let wait_once = |c: Arc<Condition>| async move {
                let g = c.lock().await;
                drop(c.wait(g).await);
            };
            let first = trellis::spawn(scope.run(wait_once(c.clone())));
            while c.waiting() < 1 {
                trellis::yield_now().await;
            }
            let second = trellis::spawn(wait_once(c.clone()));
            while c.waiting() < 2 {
                trellis::yield_now().await;
            }
            let armed = Arc::new(AtomicBool::new(false));
            let (c2, armed2) = (c.clone(), armed.clone());
            let notifier = trellis::spawn_on(DomainId::new(0), move || async move {
                let g = c2.lock().await;
                c2.notify_all();
                while !armed2.load(SeqCst) {
                    // Gives the core away under load: the other worker may share it.
                    std::thread::yield_now();
                }
                drop(g);
            });
            let canceller = trellis::spawn_on(DomainId::new(1), move || async move {
                armed.store(true, SeqCst);
                for _ in 0..(round % 97) * 4 {
                    std::hint::spin_loop();
                }
                cancel.cancel();
            });
            notifier.await.unwrap();
            canceller.await.unwrap();
            let done = first.await.unwrap().is_some();
            second.await.unwrap();
            done
        });
        outcomes[usize::from(first_done)] += 1;
        assert!(!c.is_locked(), "round {round}: the lock was lost");
        assert_eq!(c.waiting(), 0, "round {round}");
        assert_eq!(c.as_lock().waiting(), 0, "round {round}");
    }
    eprintln!(
        "condition notify/cancel race: cancelled {}, completed {}",
        outcomes[0], outcomes[1]
    );
}
