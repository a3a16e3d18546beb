//! The hand-off race shared by the `sync_*` tests: a unit is released on one domain while the
//! waiter it is handed to is cancelled on the other, over many rounds on two workers; a second
//! waiter queued behind must get the unit, and at the end every unit is back, once.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use trellis::{CancelScope, DomainId};

use super::wait_until;

/// Rounds of [`race`] per primitive: enough for both outcomes (the cancelled waiter had, or
/// had not, completed its acquire) to show up many times, few enough to stay quick on a
/// loaded 2-core machine.
pub(crate) const ROUNDS: usize = 300;

/// The watchdog of a [`race`] test: generous, since under load each round waits for the OS to
/// schedule the other worker.
pub(crate) const RACE_WATCHDOG: std::time::Duration = std::time::Duration::from_secs(180);

/// A fair primitive with units to acquire, as seen by the race.
pub(crate) trait Units: Send + Sync + 'static {
    /// What holds a unit.
    type Guard<'a>: Send
    where
        Self: 'a;
    /// Acquires a unit (the current task is the borrower, where that matters).
    fn acquire(&self) -> impl Future<Output = Self::Guard<'_>> + Send + '_;
    /// Takes a unit if one is free and nobody waits.
    fn try_acquire(&self) -> Option<Self::Guard<'_>>;
    /// Units free now.
    fn free(&self) -> usize;
    /// Acquires queued.
    fn waiting(&self) -> usize;
}

/// Membership of the critical section, left on drop.
struct Inside<'a>(&'a AtomicUsize);

impl<'a> Inside<'a> {
    fn enter(inside: &'a AtomicUsize, overlap: &AtomicBool) -> Inside<'a> {
        if inside.fetch_add(1, SeqCst) != 0 {
            overlap.store(true, SeqCst);
        }
        Inside(inside)
    }
}

impl Drop for Inside<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

/// How the rounds came out.
#[derive(Debug, Default)]
pub(crate) struct Outcomes {
    /// Rounds where the cancelled waiter had completed its acquire (it reported success).
    pub(crate) first_won: usize,
    /// Rounds where it was cancelled holding nothing.
    pub(crate) first_cancelled: usize,
}

/// `rounds` rounds on a fresh two-worker runtime; `make` builds a primitive with one free unit
/// (after `hold` took it, none). Panics (naming the round) on a lost or duplicated unit.
pub(crate) fn race<P: Units>(rounds: usize, make: impl Fn() -> P) -> Outcomes {
    let rt = trellis::Runtime::builder().workers(2).build().unwrap();
    let mut out = Outcomes::default();
    for round in 0..rounds {
        let p = Arc::new(make());
        assert_eq!(
            p.free(),
            1,
            "round {round}: the primitive starts with one unit"
        );
        let inside = Arc::new(AtomicUsize::new(0));
        let overlap = Arc::new(AtomicBool::new(false));
        let ready = Arc::new(AtomicBool::new(false));
        let armed = Arc::new(AtomicBool::new(false));
        let scope = CancelScope::new();
        let cancel = scope.handle();
        let got_first = Arc::new(AtomicBool::new(false));

        let first_won = rt.block_on(async {
            // The holder (domain 0): takes the unit, waits until both waiters are queued, then
            // releases it as soon as the canceller is armed.
            let holder = {
                let (p, ready, armed) = (p.clone(), ready.clone(), armed.clone());
                trellis::spawn_on(DomainId::new(0), move || async move {
                    let g = p.acquire().await;
                    while p.waiting() < 2 {
                        trellis::yield_now().await;
                    }
                    ready.store(true, SeqCst);
                    while !armed.load(SeqCst) {
                        // Gives the core away under load: the other worker may share it.
                        std::thread::yield_now();
                    }
                    // Odd rounds delay the release, even rounds the cancel, by a varying while.
                    if round % 2 == 1 {
                        for _ in 0..(round % 89) * 32 {
                            std::hint::spin_loop();
                        }
                    }
                    drop(g);
                })
            };
            while p.free() != 0 {
                trellis::yield_now().await;
            }
            let critical = |p: Arc<P>,
                            inside: Arc<AtomicUsize>,
                            overlap: Arc<AtomicBool>,
                            got: Arc<AtomicBool>| async move {
                let g = p.acquire().await;
                got.store(true, SeqCst);
                // Leaves on drop too: a cancel at the yield drops this future while inside.
                let _inside = Inside::enter(&inside, &overlap);
                trellis::yield_now().await;
                drop(_inside);
                drop(g);
            };
            // The first waiter, cancelled in the race; the second, queued behind it.
            let first = trellis::spawn(scope.run(critical(
                p.clone(),
                inside.clone(),
                overlap.clone(),
                got_first.clone(),
            )));
            while p.waiting() < 1 {
                trellis::yield_now().await;
            }
            let got_second = Arc::new(AtomicBool::new(false));
            let second = trellis::spawn(critical(
                p.clone(),
                inside.clone(),
                overlap.clone(),
                got_second.clone(),
            ));
            // The canceller (domain 1): arms the holder, (on even rounds) spins, cancels.
            let canceller = {
                let (ready, armed) = (ready.clone(), armed.clone());
                trellis::spawn_on(DomainId::new(1), move || async move {
                    while !ready.load(SeqCst) {
                        trellis::yield_now().await;
                    }
                    armed.store(true, SeqCst);
                    if round % 2 == 0 {
                        for _ in 0..(round % 97) * 32 {
                            std::hint::spin_loop();
                        }
                    }
                    cancel.cancel();
                })
            };
            holder.await.unwrap();
            canceller.await.unwrap();
            let completed = first.await.unwrap().is_some();
            second.await.unwrap();
            assert!(
                got_second.load(SeqCst),
                "round {round}: the second waiter got nothing"
            );
            // A first waiter whose whole body ran did acquire.
            assert!(!completed || got_first.load(SeqCst));
            got_first.load(SeqCst)
        });
        assert!(
            !overlap.load(SeqCst),
            "round {round}: two holders at once (duplicated unit)"
        );
        assert!(
            wait_until(Duration::from_secs(10), || p.free() == 1),
            "round {round}: {} units free at the end (lost or duplicated)",
            p.free()
        );
        assert_eq!(p.waiting(), 0, "round {round}: waiters left");
        if first_won {
            out.first_won += 1;
        } else {
            out.first_cancelled += 1;
        }
    }
    out
}

/// Trio's `test_generic_lock_exclusion`: 5 tasks x 10 loops take the unit of `p` (one unit)
/// and yield twice inside; never two inside at once. On the paused one-worker runtime.
pub(crate) fn generic_lock_exclusion<P: Units>(test: &'static str, make: fn() -> P) {
    super::run_paused(test, async move {
        const LOOPS: usize = 10;
        const WORKERS: usize = 5;
        let p = Arc::new(make());
        let inside = Arc::new(AtomicBool::new(false));
        let acquires = Arc::new(AtomicUsize::new(0));
        trellis::nursery(async |n| {
            for _ in 0..WORKERS {
                let (p, inside, acquires) = (p.clone(), inside.clone(), acquires.clone());
                n.start_soon(async move {
                    for _ in 0..LOOPS {
                        let g = p.acquire().await;
                        acquires.fetch_add(1, SeqCst);
                        assert!(
                            !inside.swap(true, SeqCst),
                            "two tasks in the critical section"
                        );
                        trellis::checkpoint().await;
                        trellis::checkpoint().await;
                        assert!(inside.swap(false, SeqCst));
                        drop(g);
                    }
                });
            }
        })
        .await
        .unwrap();
        assert!(!inside.load(SeqCst));
        assert_eq!(acquires.load(SeqCst), LOOPS * WORKERS);
    });
}

/// Trio's `test_generic_lock_fifo_fairness`: three tasks loop over take / record / release;
/// after the first round they take turns in the same order. Adapted: Trio's acquire is also a
/// schedule point (it yields even when the lock is free), Trellis's is not (a cancellation
/// point and the cooperative budget, as every runtime operation), so each task yields once
/// while holding the unit: the others queue meanwhile, and the release hands the unit to the
/// oldest of them while the releaser, acquiring again, queues last.
pub(crate) fn generic_lock_fifo_fairness<P: Units>(test: &'static str, make: fn() -> P) {
    super::run_paused(test, async move {
        const LOOPS: usize = 5;
        let p = Arc::new(make());
        let initial = Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = Arc::new(std::sync::Mutex::new(Vec::new()));
        trellis::nursery(async |n| {
            for name in 1..=3 {
                let (p, initial, record) = (p.clone(), initial.clone(), record.clone());
                n.start_soon(async move {
                    initial.lock().unwrap().push(name);
                    for _ in 0..LOOPS {
                        let g = p.acquire().await;
                        record.lock().unwrap().push(name);
                        trellis::checkpoint().await;
                        drop(g);
                    }
                });
            }
        })
        .await
        .unwrap();
        let initial = initial.lock().unwrap().clone();
        let record = record.lock().unwrap().clone();
        assert_eq!(record.len(), 3 * LOOPS);
        for i in 0..LOOPS {
            assert_eq!(
                record[3 * i..3 * (i + 1)],
                initial[..],
                "round {i}: {record:?}"
            );
        }
    });
}

/// Trio's `test_generic_lock_acquire_nowait_blocks_acquire`: with the unit taken by
/// `try_acquire`, a task's acquire waits until that unit is released.
pub(crate) fn generic_lock_acquire_nowait_blocks_acquire<P: Units>(
    test: &'static str,
    make: fn() -> P,
) {
    super::run_paused(test, async move {
        let p = Arc::new(make());
        let record = Arc::new(std::sync::Mutex::new(Vec::new()));
        trellis::nursery(async |n| {
            let held = p.try_acquire().expect("the unit is free");
            let (p2, r) = (p.clone(), record.clone());
            n.start_soon(async move {
                r.lock().unwrap().push("started");
                drop(p2.acquire().await);
                r.lock().unwrap().push("finished");
            });
            super::settle().await;
            assert_eq!(*record.lock().unwrap(), ["started"]);
            drop(held);
        })
        .await
        .unwrap();
        assert_eq!(*record.lock().unwrap(), ["started", "finished"]);
    });
}

/// `tasks` tasks, spread over both domains of a two-worker runtime, each take the unit of `p`
/// `iters` times and bump a counter with a plain load and store (a lost update if two were
/// inside at once). Returns the counter.
pub(crate) fn cross_domain_counter<P: Units>(
    make: impl Fn() -> P,
    tasks: usize,
    iters: usize,
) -> usize {
    let rt = trellis::Runtime::builder().workers(2).build().unwrap();
    let p = Arc::new(make());
    let counter = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        trellis::nursery(async |n| {
            for t in 0..tasks {
                let (p, counter) = (p.clone(), counter.clone());
                n.start_soon_on(DomainId::new(t % 2), move || async move {
                    for _ in 0..iters {
                        let g = p.acquire().await;
                        let v = counter.load(SeqCst);
                        trellis::yield_now().await;
                        counter.store(v + 1, SeqCst);
                        drop(g);
                    }
                });
            }
        })
        .await
        .unwrap();
    });
    assert_eq!(p.free(), 1);
    assert_eq!(p.waiting(), 0);
    counter.load(SeqCst)
}

/// The hand-off and the cancellation in a fixed order, on the paused one-worker runtime: the
/// unit is handed to the first waiter, whose scope is cancelled before it runs; its drop
/// passes the unit on to the second waiter. The first reports nothing acquired.
pub(crate) fn cancelled_after_hand_off_passes_it_on<P: Units>(test: &'static str, make: fn() -> P) {
    super::run_paused(test, async move {
        let p = Arc::new(make());
        let held = p.try_acquire().expect("the unit is free");
        let got = Arc::new(AtomicUsize::new(0));
        let scope = CancelScope::new();
        let cancel = scope.handle();
        let first = {
            let (p, got) = (p.clone(), got.clone());
            trellis::spawn(scope.run(async move {
                let _g = p.acquire().await;
                got.fetch_add(1, SeqCst);
            }))
        };
        super::settle().await;
        let done = Arc::new(trellis::sync::Event::new());
        let second = {
            let (p, got, done) = (p.clone(), got.clone(), done.clone());
            trellis::spawn(async move {
                let _g = p.acquire().await;
                got.fetch_add(10, SeqCst);
                done.wait().await;
            })
        };
        super::settle().await;
        assert_eq!(p.waiting(), 2);
        drop(held); // handed to the first waiter, which has not run yet
        assert_eq!(p.free(), 0);
        cancel.cancel(); // before it runs: it is dropped at its checkpoint
        assert_eq!(first.await.unwrap(), None);
        super::settle().await;
        assert_eq!(got.load(SeqCst), 10, "only the second waiter acquired");
        assert_eq!(p.free(), 0);
        done.set();
        second.await.unwrap();
        assert_eq!(p.free(), 1);
        assert_eq!(p.waiting(), 0);
    });
}
