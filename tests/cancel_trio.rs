//! Trio's cancellation and nursery tests (`trio/_core/_tests/test_run.py`), ported by name where
//! they apply to Rust, plus a cancellation-point sweep.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::Watchdog;
use trellis::time::sleep;
use trellis::{CancelScope, TaskFailure};

fn rt() -> trellis::Runtime {
    trellis::Runtime::builder().workers(2).build().unwrap()
}

struct SetOnDrop(Arc<AtomicBool>);
impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

#[test]
fn test_cancel_shielding() {
    let _w = Watchdog::new("test_cancel_shielding");
    rt().block_on(async {
        let outer = CancelScope::new();
        let oh = outer.handle();
        let out = outer
            .run(async move {
                oh.cancel();
                let inner = CancelScope::new().shield(true);
                let ih = inner.handle();
                // Shielded: checkpoints do not raise.
                let r = inner
                    .run(async move {
                        sleep(Duration::from_millis(1)).await;
                        trellis::checkpoint().await;
                        ih.cancel(); // its own cancel still applies
                        trellis::checkpoint().await;
                        unreachable!()
                    })
                    .await;
                assert_eq!(r, None::<()>);
                trellis::checkpoint().await;
                unreachable!("outside the shield the outer cancel applies")
            })
            .await;
        assert_eq!(out, None::<()>);
    });
}

#[test]
fn test_precancelled_task() {
    // A task started in an already-cancelled nursery runs to its first checkpoint, then stops.
    let _w = Watchdog::new("test_precancelled_task");
    let reached = Arc::new(AtomicUsize::new(0));
    let r = reached.clone();
    rt().block_on(async {
        trellis::nursery(async |n| {
            n.cancel();
            n.start_soon(async move {
                r.fetch_add(1, SeqCst);
                trellis::checkpoint().await;
                r.fetch_add(100, SeqCst);
            });
        })
        .await
        .unwrap();
    });
    assert_eq!(reached.load(SeqCst), 1);
}

#[test]
fn test_child_crash_wakes_parent() {
    let _w = Watchdog::new("test_child_crash_wakes_parent");
    let err = rt()
        .block_on(trellis::nursery(async |n| {
            n.start_soon(async { panic!("crash") });
            sleep(Duration::from_secs(3600)).await; // woken and cancelled by the crash
        }))
        .unwrap_err();
    assert_eq!(err.len(), 1);
    assert!(matches!(err.failures()[0], TaskFailure::Panic(_)));
}

#[test]
fn test_two_child_crashes() {
    let _w = Watchdog::new("test_two_child_crashes");
    let err = rt()
        .block_on(trellis::nursery(async |n| {
            // Both crash in their first poll, before any checkpoint: both are reported.
            n.start_soon(async { Err::<(), _>("first") });
            n.start_soon(async { panic!("second") });
        }))
        .unwrap_err();
    assert_eq!(err.len(), 2, "{err}");
}

#[test]
fn test_nursery_start_with_cancelled_nursery() {
    let _w = Watchdog::new("test_nursery_start_with_cancelled_nursery");
    rt().block_on(async {
        let r = trellis::nursery(async |n| {
            n.cancel();
            // The child is cancelled at its first checkpoint, before `started`.
            let started = n
                .start(|status: trellis::TaskStatus<()>| async move {
                    trellis::checkpoint().await;
                    status.started(());
                })
                .await;
            let _ = started; // the body itself is cancelled at this await, or sees the error
        })
        .await;
        assert!(r.is_ok());
    });
}

#[test]
fn test_very_deep_cancel_scope_nesting() {
    let _w = Watchdog::new("test_very_deep_cancel_scope_nesting");
    fn nest(
        depth: usize,
        h: trellis::CancelHandle,
    ) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move {
            if depth == 0 {
                h.cancel();
                trellis::checkpoint().await;
                unreachable!();
            }
            CancelScope::new().run(nest(depth - 1, h)).await;
            unreachable!("the outermost scope catches");
        })
    }
    use std::future::Future;
    rt().block_on(async {
        let outer = CancelScope::new();
        let h = outer.handle();
        let t = trellis::spawn(outer.run(nest(500, h.clone())));
        assert_eq!(t.await.unwrap(), None);
        assert!(h.cancelled_caught());
    });
}

#[test]
fn test_locals_destroyed_promptly_on_cancel() {
    let _w = Watchdog::new("test_locals_destroyed_promptly_on_cancel");
    rt().block_on(async {
        let dropped = Arc::new(AtomicBool::new(false));
        let d = dropped.clone();
        let scope = CancelScope::new();
        let h = scope.handle();
        let task = trellis::spawn(scope.run(async move {
            let _local = SetOnDrop(d);
            std::future::pending::<()>().await;
        }));
        sleep(Duration::from_millis(2)).await;
        h.cancel();
        assert_eq!(task.await.unwrap(), None);
        assert!(dropped.load(SeqCst), "dropped before the scope returned");
    });
}

/// Cancellation-point sweep: a task with several checkpoints of different kinds is cancelled
/// after its k-th poll, for every k; each time its cleanup runs, nothing leaks, and no step
/// after the cancellation runs.
#[test]
fn cancellation_point_sweep() {
    let _w = Watchdog::new("cancellation_point_sweep");
    const STEPS: usize = 6;
    let rt = rt();
    for k in 0..=STEPS {
        let steps = Arc::new(AtomicUsize::new(0));
        let cleaned = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (s, c) = (steps.clone(), cleaned.clone());
        let scope = CancelScope::new();
        let h = scope.handle();
        let out = rt
            .block_on(rt.spawn(scope.run(async move {
                let _cleanup = SetOnDrop(c);
                let step = |i: usize| {
                    if i == k {
                        h.cancel(); // cancel "from the outside" after k steps
                    }
                    s.fetch_add(1, SeqCst);
                };
                step(0);
                trellis::yield_now().await;
                step(1);
                sleep(Duration::ZERO).await;
                step(2);
                trellis::checkpoint().await;
                step(3);
                trellis::spawn(async {}).await.unwrap();
                step(4);
                sleep(Duration::from_millis(1)).await;
                step(5);
                trellis::move_on_after(Duration::from_secs(1), trellis::yield_now()).await;
                step(6);
                log.lock().unwrap().push(k);
            })))
            .unwrap();
        assert!(cleaned.load(SeqCst), "k={k}: cleanup ran");
        if k < STEPS {
            assert_eq!(out, None, "k={k}: cancelled");
            assert_eq!(
                steps.load(SeqCst),
                k + 1,
                "k={k}: stopped at the next checkpoint"
            );
        } else {
            // Cancelled after the last step: the body finishes without another checkpoint.
            assert_eq!(steps.load(SeqCst), STEPS + 1);
        }
    }
}
