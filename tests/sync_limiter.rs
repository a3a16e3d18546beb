#![allow(non_snake_case)] // Trio's test names
//! `trellis::sync::CapacityLimiter`: Trio's limiter tests (`src/trio/_tests/test_sync.py`:
//! `test_CapacityLimiter`, `test_CapacityLimiter_inf`, `test_CapacityLimiter_change_total_tokens`,
//! `test_CapacityLimiter_memleak_548`, and the generic lock tests for `CapacityLimiter(1)`)
//! under Trio's names, then the one-token-per-borrower rule, cancellation at the moment of
//! hand-off on two workers, cross-domain and plain-thread use.
//!
//! Adapted: Trio's `release()` without a token raises `RuntimeError`; here a token is released
//! by dropping it, so that cannot be written. Trio's `TypeError` for a float total cannot be
//! written (`usize`); a total of 0 panics. Trio's `inf` is `usize::MAX`. Trio's
//! `statistics().borrowers` is `is_borrowing(b)` per borrower.

mod support;

use std::collections::HashMap;
use std::sync::Arc;

use support::handoff::{self, Units};
use support::{Watchdog, run_paused, settle};
use trellis::CancelScope;
use trellis::sync::{AlreadyBorrowing, Borrower, CapacityLimiter, LimiterToken, TryAcquireError};

impl Units for CapacityLimiter {
    type Guard<'a> = LimiterToken<'a>;
    #[allow(clippy::manual_async_fn)] // the trait names the `Send` bound
    fn acquire(&self) -> impl Future<Output = LimiterToken<'_>> + Send + '_ {
        async move { CapacityLimiter::acquire(self).await.unwrap() }
    }
    fn try_acquire(&self) -> Option<LimiterToken<'_>> {
        CapacityLimiter::try_acquire(self).ok()
    }
    fn free(&self) -> usize {
        self.available_tokens()
    }
    fn waiting(&self) -> usize {
        CapacityLimiter::waiting(self)
    }
}

fn panics_with(f: impl FnOnce() + std::panic::UnwindSafe, what: &str) {
    let msg = support::panic_message(&*std::panic::catch_unwind(f).unwrap_err());
    assert!(msg.contains(what), "{msg}");
}

#[test]
fn test_CapacityLimiter() {
    run_paused("test_CapacityLimiter", async {
        panics_with(
            || drop(CapacityLimiter::new(0)),
            "total_tokens must be >= 1",
        );
        let c = Arc::new(CapacityLimiter::new(2));
        let _ = format!("{c:?}"); // smoke test
        assert_eq!(c.total_tokens(), 2);
        assert_eq!(c.borrowed_tokens(), 0);
        assert_eq!(c.available_tokens(), 2);
        let mine = c.try_acquire().unwrap();
        assert_eq!(c.borrowed_tokens(), 1);
        assert_eq!(c.available_tokens(), 1);
        assert!(c.is_borrowing(Borrower::current()));
        assert_eq!(c.waiting(), 0);

        // Can't re-acquire when we already have it: an error at once, not a wait.
        assert_eq!(
            c.try_acquire().unwrap_err(),
            TryAcquireError::AlreadyBorrowing
        );
        assert_eq!(c.borrowed_tokens(), 1);
        assert_eq!(c.acquire().await.unwrap_err(), AlreadyBorrowing);
        assert_eq!(c.borrowed_tokens(), 1);

        // We can acquire on behalf of someone else though.
        let someone = Borrower::new();
        let theirs = c.acquire_on_behalf_of(someone).await.unwrap();
        // But then we've run out of capacity.
        assert_eq!(c.borrowed_tokens(), 2);
        assert_eq!(
            c.try_acquire_on_behalf_of(Borrower::new()).unwrap_err(),
            TryAcquireError::WouldBlock
        );
        assert!(c.is_borrowing(Borrower::current()) && c.is_borrowing(someone));
        // Until we release one.
        drop(mine);
        assert!(!c.is_borrowing(Borrower::current()) && c.is_borrowing(someone));
        drop(theirs);
        assert_eq!(c.borrowed_tokens(), 0);
        {
            let _t = c.acquire().await.unwrap();
            assert_eq!(c.borrowed_tokens(), 1);
        }

        // A checkpoint: in a cancelled scope it does not complete, and takes nothing.
        let scope = CancelScope::new();
        scope.handle().cancel();
        assert!(scope.run(c.acquire()).await.is_none());
        assert_eq!(c.borrowed_tokens(), 0);

        let (v1, v2, v3) = (Borrower::new(), Borrower::new(), Borrower::new());
        let t1 = c.acquire_on_behalf_of(v1).await.unwrap();
        let t2 = c.acquire_on_behalf_of(v2).await.unwrap();
        trellis::nursery(async |n| {
            let c2 = c.clone();
            n.start_soon(async move { drop(c2.acquire_on_behalf_of(v3).await.unwrap()) });
            settle().await;
            assert_eq!(c.borrowed_tokens(), 2);
            assert_eq!(c.waiting(), 1);
            drop(t2);
            // Fairness: the token went to v3 at the release.
            assert_eq!(c.borrowed_tokens(), 2);
            assert!(c.is_borrowing(v3));
            assert_eq!(c.try_acquire().unwrap_err(), TryAcquireError::WouldBlock);
        })
        .await
        .unwrap();
        drop(t1);
        assert_eq!(
            c.borrowed_tokens(),
            0,
            "v3's token went back when its task dropped it"
        );
    });
}

#[test]
fn test_CapacityLimiter_inf() {
    let _w = Watchdog::new("test_CapacityLimiter_inf");
    let c = CapacityLimiter::new(usize::MAX);
    let _ = format!("{c:?}"); // smoke test
    assert_eq!(c.total_tokens(), usize::MAX);
    assert_eq!(c.borrowed_tokens(), 0);
    assert_eq!(c.available_tokens(), usize::MAX);
    let _t = c.try_acquire().unwrap();
    assert_eq!(c.borrowed_tokens(), 1);
    assert_eq!(c.available_tokens(), usize::MAX - 1);
}

#[test]
fn test_CapacityLimiter_change_total_tokens() {
    run_paused("test_CapacityLimiter_change_total_tokens", async {
        let c = Arc::new(CapacityLimiter::new(2));
        panics_with(
            std::panic::AssertUnwindSafe(|| c.set_total_tokens(0)),
            "total_tokens must be >= 1",
        );
        assert_eq!(c.total_tokens(), 2);

        let b: Vec<Borrower> = (0..5).map(|_| Borrower::new()).collect();
        let release: HashMap<usize, Arc<trellis::sync::Event>> = (0..5)
            .map(|i| (i, Arc::new(trellis::sync::Event::new())))
            .collect();
        trellis::nursery(async |n| {
            for (i, &borrower) in b.iter().enumerate() {
                let (c, release) = (c.clone(), release[&i].clone());
                n.start_soon(async move {
                    let _t = c.acquire_on_behalf_of(borrower).await.unwrap();
                    release.wait().await;
                });
                settle().await;
            }
            let holding = |c: &CapacityLimiter| -> Vec<usize> {
                (0..5).filter(|&i| c.is_borrowing(b[i])).collect()
            };
            assert_eq!(holding(&c), [0, 1]);
            assert_eq!(c.waiting(), 3);
            c.set_total_tokens(c.total_tokens() + 2);
            assert_eq!(holding(&c), [0, 1, 2, 3]);
            assert_eq!(c.waiting(), 1);
            c.set_total_tokens(c.total_tokens() - 3);
            assert_eq!(c.borrowed_tokens(), 4);
            assert_eq!(c.total_tokens(), 1);
            assert_eq!(c.available_tokens(), 0);
            for i in 0..3 {
                release[&i].set();
            }
            settle().await;
            assert_eq!(holding(&c), [3]);
            assert_eq!(c.waiting(), 1);
            release[&3].set();
            settle().await;
            assert_eq!(holding(&c), [4]);
            assert_eq!(c.waiting(), 0);
            release[&4].set();
        })
        .await
        .unwrap();
        assert_eq!(c.borrowed_tokens(), 0);
    });
}

/// Trio's regression test for issue #548: a cancelled acquire leaves no pending borrower
/// behind (here: the borrower can acquire again, and nothing waits).
#[test]
fn test_CapacityLimiter_memleak_548() {
    run_paused("test_CapacityLimiter_memleak_548", async {
        let limiter = Arc::new(CapacityLimiter::new(1));
        let held = limiter.acquire().await.unwrap();
        let b = Borrower::new();
        let scope = CancelScope::new();
        let cancel = scope.handle();
        let l2 = limiter.clone();
        scope
            .run(trellis::nursery(async |n| {
                n.start_soon(async move {
                    drop(l2.acquire_on_behalf_of(b).await);
                });
                settle().await;
                assert_eq!(limiter.waiting(), 1);
                cancel.cancel();
            }))
            .await;
        assert_eq!(limiter.waiting(), 0);
        drop(held);
        // `b` is forgotten: it may borrow again.
        let t = limiter.try_acquire_on_behalf_of(b).unwrap();
        assert!(limiter.is_borrowing(b));
        drop(t);
        assert_eq!(limiter.borrowed_tokens(), 0);
    });
}

#[test]
fn test_generic_lock_exclusion() {
    handoff::generic_lock_exclusion("test_generic_lock_exclusion", || CapacityLimiter::new(1));
}

#[test]
fn test_generic_lock_fifo_fairness() {
    handoff::generic_lock_fifo_fairness("test_generic_lock_fifo_fairness", || {
        CapacityLimiter::new(1)
    });
}

#[test]
fn test_generic_lock_acquire_nowait_blocks_acquire() {
    handoff::generic_lock_acquire_nowait_blocks_acquire(
        "test_generic_lock_acquire_nowait_blocks_acquire",
        || CapacityLimiter::new(1),
    );
}

/// A borrower that is *waiting* for a token is refused a second acquire at once too (with two
/// waits for one borrower, the second would otherwise hang or double-borrow).
#[test]
fn limiter_second_acquire_by_a_waiting_borrower_errors_at_once() {
    run_paused(
        "limiter_second_acquire_by_a_waiting_borrower_errors_at_once",
        async {
            let c = Arc::new(CapacityLimiter::new(1));
            let held = c.try_acquire().unwrap();
            let b = Borrower::new();
            trellis::nursery(async |n| {
                let c2 = c.clone();
                n.start_soon(async move {
                    drop(c2.acquire_on_behalf_of(b).await.unwrap());
                });
                settle().await;
                assert_eq!(c.waiting(), 1);
                assert_eq!(
                    c.acquire_on_behalf_of(b).await.unwrap_err(),
                    AlreadyBorrowing
                );
                assert_eq!(
                    c.try_acquire_on_behalf_of(b).unwrap_err(),
                    TryAcquireError::AlreadyBorrowing
                );
                assert_eq!(c.waiting(), 1);
                drop(held);
            })
            .await
            .unwrap();
            assert_eq!(c.borrowed_tokens(), 0);
            assert!(!c.is_borrowing(b));
        },
    );
}

#[test]
fn limiter_borrower_is_the_current_task() {
    run_paused("limiter_borrower_is_the_current_task", async {
        let c = Arc::new(CapacityLimiter::new(2));
        let _mine = c.acquire().await.unwrap();
        // Another task is another borrower.
        let c2 = c.clone();
        let theirs = trellis::spawn(async move {
            let t = c2.acquire().await.unwrap();
            assert!(c2.acquire().await.is_err());
            let who = t.borrower();
            drop(t);
            who
        })
        .await
        .unwrap();
        assert_ne!(theirs, Borrower::current());
        assert_eq!(c.borrowed_tokens(), 1);
    });
}

#[test]
fn limiter_cancelled_at_hand_off_two_workers() {
    let _w = Watchdog::with_timeout(
        "limiter_cancelled_at_hand_off_two_workers",
        handoff::RACE_WATCHDOG,
    );
    let out = handoff::race(handoff::ROUNDS, || CapacityLimiter::new(1));
    assert_eq!(out.first_won + out.first_cancelled, handoff::ROUNDS);
    eprintln!("limiter hand-off race: {out:?}");
}

/// The total raised on one domain while waiters on both domains are cancelled: every token
/// ends back, and no borrower is left recorded.
#[test]
fn limiter_total_change_vs_cancellations_two_workers() {
    let _w = Watchdog::new("limiter_total_change_vs_cancellations_two_workers");
    let rt = support::rt(2);
    for round in 0..50 {
        let c = Arc::new(CapacityLimiter::new(1));
        let borrowers: Vec<Borrower> = (0..40).map(|_| Borrower::new()).collect();
        rt.block_on(async {
            let held = c.try_acquire().unwrap();
            trellis::nursery(async |n| {
                for (i, &b) in borrowers.iter().enumerate() {
                    let c2 = c.clone();
                    let scope = CancelScope::new();
                    let cancel = scope.handle();
                    n.start_soon_on(trellis::DomainId::new(i % 2), move || async move {
                        scope
                            .run(async {
                                let _t = c2.acquire_on_behalf_of(b).await.unwrap();
                                trellis::yield_now().await;
                            })
                            .await;
                    });
                    if i % 2 == 0 {
                        n.start_soon_on(trellis::DomainId::new((i + 1) % 2), move || async move {
                            cancel.cancel()
                        });
                    }
                }
                while c.waiting() + c.borrowed_tokens() < 2 {
                    trellis::yield_now().await;
                }
                c.set_total_tokens(3 + round % 5);
                drop(held);
            })
            .await
            .unwrap();
        });
        assert_eq!(c.borrowed_tokens(), 0, "round {round}");
        assert_eq!(c.waiting(), 0, "round {round}");
        for &b in &borrowers {
            assert!(!c.is_borrowing(b), "round {round}");
            // Forgotten: each can borrow again.
            drop(c.try_acquire_on_behalf_of(b).unwrap());
        }
    }
}

#[test]
fn limiter_from_plain_threads() {
    let _w = Watchdog::new("limiter_from_plain_threads");
    let c = Arc::new(CapacityLimiter::new(2));
    let inside = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (c, inside) = (c.clone(), inside.clone());
            std::thread::spawn(move || {
                for _ in 0..200 {
                    let t = c.acquire_blocking().unwrap();
                    // One token per thread.
                    assert!(c.try_acquire().is_err());
                    assert!(inside.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2);
                    std::thread::yield_now();
                    inside.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    drop(t);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(c.borrowed_tokens(), 0);
}

#[test]
fn limiter_across_domains() {
    let _w = Watchdog::new("limiter_across_domains");
    assert_eq!(
        handoff::cross_domain_counter(|| CapacityLimiter::new(1), 8, 200),
        8 * 200
    );
}

#[test]
fn limiter_cancelled_after_hand_off_passes_it_on() {
    handoff::cancelled_after_hand_off_passes_it_on(
        "limiter_cancelled_after_hand_off_passes_it_on",
        || CapacityLimiter::new(1),
    );
}
