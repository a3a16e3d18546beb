#![allow(non_snake_case)] // Trio's test names
//! `trellis::sync::Semaphore`: Trio's semaphore tests (`src/trio/_tests/test_sync.py`:
//! `test_Semaphore`, `test_Semaphore_bounded`, and the generic lock tests for `Semaphore(1)`)
//! under Trio's names, then FIFO order, cancellation at the moment of hand-off on two workers,
//! a many-permit stress with cancellations, cross-domain and plain-thread use.
//!
//! Adapted: Trio's `TypeError`/`ValueError` for a negative or non-integer value cannot be
//! written (`usize`); `Semaphore(2, max_value=1)` panics. `assert_checkpoints` becomes: the
//! operation does not complete in a cancelled scope.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use support::handoff::{self, Units};
use support::{Watchdog, run_paused, settle};
use trellis::sync::{Semaphore, SemaphorePermit, WouldBlock};
use trellis::{CancelScope, DomainId};

impl Units for Semaphore {
    type Guard<'a> = SemaphorePermit<'a>;
    fn acquire(&self) -> impl Future<Output = SemaphorePermit<'_>> + Send + '_ {
        Semaphore::acquire(self)
    }
    fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        Semaphore::try_acquire(self).ok()
    }
    fn free(&self) -> usize {
        self.value()
    }
    fn waiting(&self) -> usize {
        Semaphore::waiting(self)
    }
}

#[test]
fn test_Semaphore() {
    run_paused("test_Semaphore", async {
        let s = Arc::new(Semaphore::new(1));
        let _ = format!("{s:?}"); // smoke test
        assert_eq!(s.value(), 1);
        assert_eq!(s.max_value(), None);
        s.release().unwrap();
        assert_eq!(s.value(), 2);
        assert_eq!(s.waiting(), 0);
        s.try_acquire().unwrap().forget();
        assert_eq!(s.value(), 1);
        s.acquire().await.forget();
        assert_eq!(s.value(), 0);
        assert_eq!(s.try_acquire().unwrap_err(), WouldBlock);

        s.release().unwrap();
        assert_eq!(s.value(), 1);
        {
            let _p = s.acquire().await;
            assert_eq!(s.value(), 0);
        }
        assert_eq!(s.value(), 1);
        s.try_acquire().unwrap().forget();

        // A checkpoint: in a cancelled scope it does not complete, and takes nothing.
        s.release().unwrap();
        let scope = CancelScope::new();
        scope.handle().cancel();
        assert!(scope.run(s.acquire()).await.is_none());
        assert_eq!(s.value(), 1);
        s.try_acquire().unwrap().forget();

        let record = Arc::new(std::sync::Mutex::new(Vec::new()));
        trellis::nursery(async |n| {
            let (s2, r) = (s.clone(), record.clone());
            n.start_soon(async move {
                r.lock().unwrap().push("started");
                s2.acquire().await.forget();
                r.lock().unwrap().push("finished");
            });
            settle().await;
            assert_eq!(*record.lock().unwrap(), ["started"]);
            assert_eq!(s.value(), 0);
            s.release().unwrap();
            // Fairness: the unit went to the waiter, not back to the value.
            assert_eq!(s.value(), 0);
            assert_eq!(s.try_acquire().unwrap_err(), WouldBlock);
        })
        .await
        .unwrap();
        assert_eq!(*record.lock().unwrap(), ["started", "finished"]);
    });
}

#[test]
fn test_Semaphore_bounded() {
    let _w = Watchdog::new("test_Semaphore_bounded");
    let r = std::panic::catch_unwind(|| Semaphore::with_max(2, 1));
    let msg = support::panic_message(&*r.unwrap_err());
    assert!(msg.contains("must be >= the initial value"), "{msg}");

    let bs = Semaphore::with_max(1, 1);
    assert_eq!(bs.max_value(), Some(1));
    let _ = format!("{bs:?}"); // smoke test
    let err = bs.release().unwrap_err();
    assert_eq!(
        err.to_string(),
        "semaphore released too many times (its maximum is 1)"
    );
    assert_eq!(bs.value(), 1);
    bs.try_acquire().unwrap().forget();
    assert_eq!(bs.value(), 0);
    bs.release().unwrap();
    assert_eq!(bs.value(), 1);

    // Holding a permit, a release pushes the value to the max; the permit's drop is then one
    // release too many, and says so.
    let p = bs.try_acquire().unwrap();
    bs.release().unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(p)));
    let msg = support::panic_message(&*r.unwrap_err());
    assert!(msg.contains("released too many times"), "{msg}");
    assert_eq!(bs.value(), 1);
}

#[test]
fn test_generic_lock_exclusion() {
    handoff::generic_lock_exclusion("test_generic_lock_exclusion", || Semaphore::new(1));
}

#[test]
fn test_generic_lock_fifo_fairness() {
    handoff::generic_lock_fifo_fairness("test_generic_lock_fifo_fairness", || Semaphore::new(1));
}

#[test]
fn test_generic_lock_acquire_nowait_blocks_acquire() {
    handoff::generic_lock_acquire_nowait_blocks_acquire(
        "test_generic_lock_acquire_nowait_blocks_acquire",
        || Semaphore::new(1),
    );
}

#[test]
fn semaphore_waiters_get_permits_in_fifo_order() {
    run_paused("semaphore_waiters_get_permits_in_fifo_order", async {
        let s = Arc::new(Semaphore::new(0));
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        trellis::nursery(async |n| {
            for i in 0..10 {
                let (s, order) = (s.clone(), order.clone());
                n.start_soon(async move {
                    s.acquire().await.forget();
                    order.lock().unwrap().push(i);
                });
                settle().await; // queued in this order
            }
            assert_eq!(s.waiting(), 10);
            for k in 1..=10 {
                s.release().unwrap();
                settle().await;
                assert_eq!(*order.lock().unwrap(), (0..k).collect::<Vec<_>>());
            }
        })
        .await
        .unwrap();
        assert_eq!(s.value(), 0);
    });
}

#[test]
fn semaphore_cancelled_at_hand_off_two_workers() {
    let _w = Watchdog::with_timeout(
        "semaphore_cancelled_at_hand_off_two_workers",
        handoff::RACE_WATCHDOG,
    );
    let out = handoff::race(handoff::ROUNDS, || Semaphore::new(1));
    assert_eq!(out.first_won + out.first_cancelled, handoff::ROUNDS);
    eprintln!("semaphore hand-off race: {out:?}");
}

/// 4 permits, 200 tasks on both domains, every third one cancelled by another task at some
/// point of its wait: never more than 4 inside, and all 4 permits back at the end.
#[test]
fn semaphore_many_permits_with_cancellations_two_workers() {
    let _w = Watchdog::new("semaphore_many_permits_with_cancellations_two_workers");
    let rt = support::rt(2);
    for round in 0..20 {
        let s = Arc::new(Semaphore::new(4));
        let inside = Arc::new(AtomicUsize::new(0));
        let max_inside = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        rt.block_on(async {
            trellis::nursery(async |n| {
                for i in 0..200usize {
                    let (s, inside, max_inside, done) =
                        (s.clone(), inside.clone(), max_inside.clone(), done.clone());
                    let scope = CancelScope::new();
                    let cancel = scope.handle();
                    n.start_soon_on(DomainId::new(i % 2), move || async move {
                        let work = async {
                            let _p = s.acquire().await;
                            let now = inside.fetch_add(1, SeqCst) + 1;
                            max_inside.fetch_max(now, SeqCst);
                            // Leaves on drop too (a cancel at the yield), before the permit.
                            let _leave = Leave(&inside);
                            trellis::yield_now().await;
                        };
                        if scope.run(work).await.is_some() {
                            done.fetch_add(1, SeqCst);
                        }
                    });
                    if i % 3 == 0 {
                        n.start_soon_on(DomainId::new((i + round) % 2), move || async move {
                            for _ in 0..(i % 5) {
                                trellis::yield_now().await;
                            }
                            cancel.cancel();
                        });
                    }
                }
            })
            .await
            .unwrap();
        });
        assert!(
            max_inside.load(SeqCst) <= 4,
            "round {round}: more than 4 inside"
        );
        assert_eq!(s.value(), 4, "round {round}: permits lost or duplicated");
        assert_eq!(s.waiting(), 0);
        // Every task not cancelled finished; the cancelled ones may have finished too.
        assert!(done.load(SeqCst) >= 200 - 67, "round {round}");
    }
}

/// Decrements its counter when dropped.
struct Leave<'a>(&'a AtomicUsize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

#[test]
fn semaphore_from_plain_threads() {
    let _w = Watchdog::new("semaphore_from_plain_threads");
    let rt = support::rt(2);
    let s = Arc::new(Semaphore::new(2));
    let inside = Arc::new(AtomicUsize::new(0));
    let max_inside = Arc::new(AtomicUsize::new(0));
    let enter = |inside: &AtomicUsize, max_inside: &AtomicUsize| {
        max_inside.fetch_max(inside.fetch_add(1, SeqCst) + 1, SeqCst);
    };
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let (s, inside, max_inside) = (s.clone(), inside.clone(), max_inside.clone());
            std::thread::spawn(move || {
                for _ in 0..200 {
                    let _p = s.acquire_blocking();
                    enter(&inside, &max_inside);
                    std::thread::yield_now();
                    inside.fetch_sub(1, SeqCst);
                }
            })
        })
        .collect();
    rt.block_on(async {
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let (s, inside, max_inside) = (s.clone(), inside.clone(), max_inside.clone());
                trellis::spawn(async move {
                    for _ in 0..200 {
                        let _p = s.acquire().await;
                        enter(&inside, &max_inside);
                        trellis::yield_now().await;
                        inside.fetch_sub(1, SeqCst);
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
    assert!(max_inside.load(SeqCst) <= 2);
    assert_eq!(s.value(), 2);
}

#[test]
fn semaphore_across_domains() {
    let _w = Watchdog::new("semaphore_across_domains");
    assert_eq!(
        handoff::cross_domain_counter(|| Semaphore::new(1), 8, 200),
        8 * 200
    );
}

/// A unit released on one domain wakes the waiter pinned on the other, which then runs there.
#[test]
fn semaphore_release_wakes_waiter_on_its_own_domain() {
    let _w = Watchdog::new("semaphore_release_wakes_waiter_on_its_own_domain");
    let rt = support::rt(2);
    rt.block_on(async {
        let s = Arc::new(Semaphore::new(0));
        let s2 = s.clone();
        let waiter = trellis::spawn_on(DomainId::new(1), move || async move {
            s2.acquire().await.forget();
            trellis::domain::current()
        });
        while s.waiting() == 0 {
            trellis::yield_now().await;
        }
        let s3 = s.clone();
        trellis::spawn_on(
            DomainId::new(0),
            move || async move { s3.release().unwrap() },
        )
        .await
        .unwrap();
        assert_eq!(waiter.await.unwrap(), Some(DomainId::new(1)));
    });
}

#[test]
fn semaphore_cancelled_after_hand_off_passes_it_on() {
    handoff::cancelled_after_hand_off_passes_it_on(
        "semaphore_cancelled_after_hand_off_passes_it_on",
        || Semaphore::new(1),
    );
}
