//! The hand-off race shared by the `sync_*` tests: a unit is released on one domain while the
//! waiter it is handed to is cancelled on the other, over many rounds on two workers; a second
//! waiter queued behind must get the unit, and at the end every unit is back, once.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use trellis::{CancelScope, DomainId};

use super::wait_until;

/// A fair primitive with units to acquire, as seen by the race.
pub(crate) trait Units: Send + Sync + 'static {
    /// What holds a unit.
    type Guard<'a>: Send
    where
        Self: 'a;
    /// Acquires a unit (the current task is the borrower, where that matters).
    fn acquire(&self) -> impl Future<Output = Self::Guard<'_>> + Send + '_;
    /// Units free now.
    fn free(&self) -> usize;
    /// Acquires queued.
    fn waiting(&self) -> usize;
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
                        std::hint::spin_loop();
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
                if inside.fetch_add(1, SeqCst) != 0 {
                    overlap.store(true, SeqCst);
                }
                trellis::yield_now().await;
                inside.fetch_sub(1, SeqCst);
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
            // The canceller (domain 1): arms the holder, spins a varying while, cancels.
            let canceller = {
                let (ready, armed) = (ready.clone(), armed.clone());
                trellis::spawn_on(DomainId::new(1), move || async move {
                    while !ready.load(SeqCst) {
                        trellis::yield_now().await;
                    }
                    armed.store(true, SeqCst);
                    for _ in 0..(round % 97) * 4 {
                        std::hint::spin_loop();
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
