//! Cancel scopes: ARCHITECTURE.md, guarantees G6-G8, each test named after its item.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use support::Watchdog;
use trellis::time::{Instant, sleep};
use trellis::{CancelScope, TooSlow};

fn rt() -> trellis::Runtime {
    trellis::Runtime::builder().workers(2).build().unwrap()
}

/// Sets a flag when dropped: shows that cancelled code was dropped (and when).
struct OnDrop(Arc<AtomicBool>);
impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

#[test]
fn move_on_after_yields_none_when_it_caught_its_cancellation() {
    let _w = Watchdog::new("move_on_after");
    rt().block_on(async {
        let out =
            trellis::move_on_after(Duration::from_millis(10), sleep(Duration::from_secs(3))).await;
        assert_eq!(out, None);
        let out = trellis::move_on_after(Duration::from_secs(3), async { 5 }).await;
        assert_eq!(out, Some(5));
    });
}

#[test]
fn fail_after_yields_too_slow_on_deadline_and_on_explicit_cancel() {
    let _w = Watchdog::new("fail_after");
    rt().block_on(async {
        let out = trellis::fail_after(Duration::from_millis(5), std::future::pending::<()>()).await;
        assert_eq!(out, Err(TooSlow));
        assert_eq!(
            trellis::fail_after(Duration::from_secs(5), async { 1 }).await,
            Ok(1)
        );
    });
}

#[test]
fn relative_deadlines_start_when_the_scope_is_first_polled() {
    let _w = Watchdog::new("relative deadline");
    rt().block_on(async {
        let scope = CancelScope::new().timeout(Duration::from_millis(30));
        let handle = scope.handle();
        assert_eq!(handle.deadline(), None, "no deadline before the first poll");
        std::thread::sleep(Duration::from_millis(50)); // longer than the timeout, before polling
        let before = Instant::now();
        let out = scope
            .run(async {
                trellis::yield_now().await;
                1
            })
            .await;
        assert_eq!(out, Some(1), "the clock had not started");
        assert!(handle.deadline().unwrap() >= before);
    });
}

#[test]
fn deadline_can_be_moved_while_running() {
    let _w = Watchdog::new("set_deadline");
    rt().block_on(async {
        let scope = CancelScope::new().timeout(Duration::from_secs(3600));
        let handle = scope.handle();
        let mover = handle.clone();
        let task = trellis::spawn(scope.run(std::future::pending::<()>()));
        trellis::time::sleep(Duration::from_millis(5)).await;
        mover.set_deadline(Instant::now() + Duration::from_millis(5));
        assert_eq!(task.await.unwrap(), None);
        assert!(handle.cancelled_caught());
        assert!(handle.cancel_called());
    });
}

#[test]
fn cancel_from_another_thread_wakes_and_drops_the_code() {
    let _w = Watchdog::new("cross-thread cancel");
    let rt = rt();
    let dropped = Arc::new(AtomicBool::new(false));
    let scope = CancelScope::new();
    let handle = scope.handle();
    let guard = OnDrop(dropped.clone());
    let task = rt.spawn(scope.run(async move {
        let _guard = guard;
        std::future::pending::<()>().await
    }));
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(10));
        handle.cancel();
        handle.cancel(); // idempotent
    })
    .join()
    .unwrap();
    assert_eq!(rt.block_on(task).unwrap(), None);
    assert!(dropped.load(SeqCst));
}

#[test]
fn which_scope_catches_the_outer_one_when_both_are_cancelled() {
    let _w = Watchdog::new("which scope catches");
    rt().block_on(async {
        let outer = CancelScope::new();
        let inner = CancelScope::new();
        let (oh, ih) = (outer.handle(), inner.handle());
        let (oh2, ih2) = (oh.clone(), ih.clone());
        let out = outer
            .run(async move {
                let r = inner
                    .run(async move {
                        ih2.cancel();
                        oh2.cancel();
                        trellis::checkpoint().await;
                        unreachable!("cancelled at the checkpoint")
                    })
                    .await;
                let _: Option<()> = r;
                unreachable!("the outer scope catches; code after the inner scope never runs")
            })
            .await;
        let _: Option<()> = out;
        assert!(out.is_none());
        assert!(oh.cancelled_caught(), "outer caught");
        assert!(!ih.cancelled_caught(), "inner did not");
        assert!(ih.cancel_called() && oh.cancel_called());
    });
}

#[test]
fn inner_scope_catches_its_own_cancellation() {
    let _w = Watchdog::new("inner catches");
    rt().block_on(async {
        let outer = CancelScope::new();
        let oh = outer.handle();
        let out = outer
            .run(async {
                let inner = CancelScope::new();
                inner.handle().cancel();
                let r = inner.run(trellis::checkpoint()).await;
                assert_eq!(r, None);
                7
            })
            .await;
        assert_eq!(out, Some(7));
        assert!(!oh.cancelled_caught());
    });
}

#[test]
fn shield_defers_outer_cancellation_until_it_finishes() {
    let _w = Watchdog::new("shield");
    rt().block_on(async {
        let outer = CancelScope::new();
        let cancel = outer.handle();
        let steps = Arc::new(AtomicUsize::new(0));
        let s = steps.clone();
        let out = outer
            .run(async move {
                let shielded = trellis::shielded(async {
                    cancel.cancel();
                    // Checkpoints inside the shield do not stop it.
                    for _ in 0..3 {
                        trellis::yield_now().await;
                        sleep(Duration::from_millis(1)).await;
                        s.fetch_add(1, SeqCst);
                    }
                    "flushed"
                })
                .await;
                assert_eq!(shielded, "flushed");
                s.fetch_add(100, SeqCst); // runs: no checkpoint between the shield and here
                trellis::checkpoint().await;
                s.fetch_add(1000, SeqCst); // never runs
            })
            .await;
        assert_eq!(out, None);
        assert_eq!(steps.load(SeqCst), 103);
    });
}

#[test]
fn shielded_scope_still_obeys_its_own_deadline() {
    let _w = Watchdog::new("shield deadline");
    rt().block_on(async {
        let r = CancelScope::new()
            .shield(true)
            .timeout(Duration::from_millis(5))
            .run(std::future::pending::<()>())
            .await;
        assert_eq!(r, None);
    });
}

#[test]
fn cancel_requested_sees_through_a_shield() {
    let _w = Watchdog::new("cancel_requested");
    rt().block_on(async {
        let outer = CancelScope::new();
        let cancel = outer.handle();
        let said_goodbye = Arc::new(AtomicBool::new(false));
        let g = said_goodbye.clone();
        let out = outer
            .run(async move {
                trellis::shielded(async {
                    let canceller = trellis::spawn(async move {
                        sleep(Duration::from_millis(5)).await;
                        cancel.cancel();
                    });
                    trellis::cancel_requested().await;
                    g.store(true, SeqCst); // graceful cleanup under the shield
                    canceller.await.unwrap();
                })
                .await;
                trellis::checkpoint().await;
            })
            .await;
        assert_eq!(out, None);
        assert!(said_goodbye.load(SeqCst));
    });
}

#[test]
fn every_runtime_operation_is_a_checkpoint_even_when_ready() {
    let _w = Watchdog::new("checkpoints");
    rt().block_on(async {
        let scope = CancelScope::new();
        scope.handle().cancel();
        let reached = Arc::new(AtomicUsize::new(0));
        let r = reached.clone();
        let out = scope
            .run(async move {
                r.fetch_add(1, SeqCst); // code before the first checkpoint runs
                sleep(Duration::ZERO).await; // ready at once, still a checkpoint
                r.fetch_add(1, SeqCst);
            })
            .await;
        assert_eq!(out, None);
        assert_eq!(reached.load(SeqCst), 1);
    });
}

#[test]
fn cancelled_scope_with_a_ready_body_keeps_the_value() {
    let _w = support::Watchdog::new("cancelled_scope_with_a_ready_body_keeps_the_value");
    // A body that completes without reaching a checkpoint is not interrupted.
    rt().block_on(async {
        let scope = CancelScope::new();
        let h = scope.handle();
        let out = scope
            .run(async move {
                h.cancel();
                42
            })
            .await;
        assert_eq!(out, Some(42));
    });
}
