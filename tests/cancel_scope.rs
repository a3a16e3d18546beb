//! Cancel scopes, grouped by behaviour: what a scope yields, deadlines, cancelling from another
//! thread, which scope catches a cancellation, shields, checkpoints (ARCHITECTURE.md, guarantees
//! G6-G8). Each test is named after the behaviour it pins down. The ports of Trio's own test
//! files are `cancel_trio_run.rs` and `cancel_trio_timeouts.rs`.

mod support;

use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{Watchdog, assert_elapsed, run_paused, run_paused_within};
use trellis::time::{Instant, sleep};
use trellis::{CancelScope, DomainId, TooSlow, move_on_after};

const HOUR: Duration = Duration::from_secs(3600);
/// Bound for the cases that hung before a fix: a hang fails in seconds.
const HANG_WATCHDOG: Duration = Duration::from_secs(10);

/// Sets a flag when dropped: shows that cancelled code was dropped (and when).
struct OnDrop(Arc<AtomicBool>);
impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

// ---------------------------------------------------------------------------------------------
// Results: what a scope yields

#[test]
fn move_on_after_yields_none_when_it_caught_its_cancellation() {
    let _w = Watchdog::new("move_on_after");
    support::rt(2).block_on(async {
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
    support::rt(2).block_on(async {
        let out = trellis::fail_after(Duration::from_millis(5), std::future::pending::<()>()).await;
        assert_eq!(out, Err(TooSlow));
        assert_eq!(
            trellis::fail_after(Duration::from_secs(5), async { 1 }).await,
            Ok(1)
        );
    });
}

#[test]
fn cancelled_scope_with_a_ready_body_keeps_the_value() {
    let _w = support::Watchdog::new("cancelled_scope_with_a_ready_body_keeps_the_value");
    // A body that completes without reaching a checkpoint is not interrupted.
    support::rt(2).block_on(async {
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

// ---------------------------------------------------------------------------------------------
// Deadlines: when they start, moving them, reading them

#[test]
fn relative_deadlines_start_when_the_scope_is_first_polled() {
    let _w = Watchdog::new("relative deadline");
    support::rt(2).block_on(async {
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
fn a_relative_timeout_is_the_deadline_from_the_first_poll_on() {
    run_paused("timeout_visible_in_first_poll", async {
        let scope = CancelScope::new().timeout(Duration::from_secs(5));
        let h = scope.handle();
        assert_eq!(h.deadline(), None, "not started yet");
        let start = Instant::now();
        let out = scope
            .run(async move { h.deadline() })
            .await
            .expect("no cancel");
        assert_eq!(out, Some(start + Duration::from_secs(5)));
    });
}

#[test]
fn set_deadline_before_the_first_await_is_not_undone_by_the_timeout() {
    run_paused("set_deadline_in_first_poll", async {
        let start = Instant::now();
        let scope = CancelScope::new().timeout(Duration::from_millis(30));
        let h = scope.handle();
        let out = scope
            .run(async move {
                h.set_deadline(Instant::now() + Duration::from_millis(300));
                sleep(Duration::from_millis(100)).await;
                7
            })
            .await;
        assert_eq!(out, Some(7), "the later deadline replaced the timeout");
        assert_elapsed(start, Duration::from_millis(100));
    });
}

#[test]
fn deadline_can_be_moved_while_running() {
    let _w = Watchdog::new("set_deadline");
    support::rt(2).block_on(async {
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
fn cancel_called_is_true_once_the_deadline_passed_before_the_scope_is_polled_again() {
    let _w = Watchdog::with_timeout("cancel_called_when_read", Duration::from_secs(20));
    let rt = support::rt(1);
    rt.block_on(async {
        // Not entered yet.
        let idle = CancelScope::new().deadline(Instant::now() + Duration::from_millis(5));
        let idle_h = idle.handle();
        std::thread::sleep(Duration::from_millis(10));
        assert!(idle_h.cancel_called(), "a passed deadline is a cancel");
        // Running, in its first poll (its timer cannot have fired: nothing else runs here).
        let busy = CancelScope::new().deadline(Instant::now() + Duration::from_millis(5));
        let busy_h = busy.handle();
        let out = busy
            .run(async move {
                std::thread::sleep(Duration::from_millis(10));
                busy_h.cancel_called()
            })
            .await;
        assert_eq!(
            out,
            Some(true),
            "no checkpoint reached: the body keeps its value"
        );
        // Exited before its deadline: reading later does not cancel it.
        let done = CancelScope::new().deadline(Instant::now() + Duration::from_millis(5));
        let done_h = done.handle();
        assert_eq!(done.run(async { 1 }).await, Some(1));
        std::thread::sleep(Duration::from_millis(10));
        assert!(!done_h.cancel_called());
    });
}

// ---------------------------------------------------------------------------------------------
// Across threads

#[test]
fn cancel_from_another_thread_wakes_and_drops_the_code() {
    let _w = Watchdog::new("cross-thread cancel");
    let rt = support::rt(2);
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

// ---------------------------------------------------------------------------------------------
// Which scope catches

#[test]
fn which_scope_catches_the_outer_one_when_both_are_cancelled() {
    let _w = Watchdog::new("which scope catches");
    support::rt(2).block_on(async {
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
    support::rt(2).block_on(async {
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
fn a_scope_awaited_after_its_first_enclosing_scope_was_cancelled_completes() {
    run_paused("scope_outlives_its_first_parent", async {
        let start = Instant::now();
        let mut op = pin!(trellis::fail_after(Duration::from_secs(1), sleep(HOUR)));
        let first = trellis::move_on_after(Duration::from_millis(10), op.as_mut()).await;
        assert_eq!(first, None);
        // The work inherited the cancellation of the scope it was first polled in; nobody
        // encloses it now, so it catches itself instead of waiting for that scope.
        assert_eq!(op.await, Err(TooSlow));
        assert_elapsed(start, Duration::from_millis(10));

        let mut run = pin!(CancelScope::new().run(sleep(HOUR)));
        let first = trellis::move_on_after(Duration::from_millis(10), run.as_mut()).await;
        assert_eq!(first, None);
        assert_eq!(run.await, None);
    });
}

#[test]
fn a_scope_awaited_inside_another_cancelled_scope_lets_that_one_catch() {
    run_paused("moved_scope_defers_to_new_catcher", async {
        let mut run = pin!(CancelScope::new().run(sleep(HOUR)));
        assert_eq!(
            trellis::move_on_after(Duration::from_millis(10), run.as_mut()).await,
            None
        );
        let catcher = CancelScope::new();
        let ch = catcher.handle();
        ch.cancel();
        let out = catcher.run(run.as_mut()).await;
        assert_eq!(out, None);
        assert!(
            ch.cancelled_caught(),
            "the cancelled scope enclosing the poll caught"
        );
    });
}

/// The nursery form of "a scope first polled inside another scope, then awaited after that
/// scope was cancelled": the nursery's body is cancelled by a timeout around it, the timeout
/// gives up (its future only borrows the nursery), and the nursery is then awaited on its own.
/// It must complete, not wait forever for the gone scope to catch.
#[test]
fn nursery_first_polled_in_a_cancelled_scope_then_awaited_completes() {
    run_paused_within(
        "nursery_first_polled_in_a_cancelled_scope_then_awaited_completes",
        HANG_WATCHDOG,
        async {
            let mut fut = Box::pin(trellis::nursery(async |n| {
                n.start_soon(sleep(Duration::from_secs(1)));
                sleep(Duration::from_secs(2)).await;
            }));
            assert!(
                move_on_after(Duration::from_millis(10), &mut fut)
                    .await
                    .is_none()
            );
            assert!(fut.await.is_ok());
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Shields

#[test]
fn shield_defers_outer_cancellation_until_it_finishes() {
    let _w = Watchdog::new("shield");
    support::rt(2).block_on(async {
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
    support::rt(2).block_on(async {
        let r = CancelScope::new()
            .shield(true)
            .timeout(Duration::from_millis(5))
            .run(std::future::pending::<()>())
            .await;
        assert_eq!(r, None);
    });
}

#[test]
fn a_shielded_scopes_own_timeout_fires_inside_a_cancelled_scope() {
    run_paused("shield_timeout_in_cancelled_scope", async {
        let start = Instant::now();
        let outer = CancelScope::new();
        let oh = outer.handle();
        let out = outer
            .run(async move {
                oh.cancel();
                let inner = CancelScope::new()
                    .timeout(Duration::from_millis(50))
                    .shield(true);
                let ih = inner.handle();
                assert_eq!(inner.run(sleep(HOUR)).await, None);
                assert!(ih.cancelled_caught());
                assert_elapsed(start, Duration::from_millis(50));
                trellis::checkpoint().await;
                unreachable!("the outer cancellation lands after the shield");
            })
            .await;
        assert_eq!(out, None::<()>);
    });
}

#[test]
fn set_deadline_on_a_shield_inside_a_cancelled_scope_fires() {
    run_paused("shield_set_deadline_in_cancelled_scope", async {
        let start = Instant::now();
        let outer = CancelScope::new();
        let oh = outer.handle();
        outer
            .run(async move {
                oh.cancel();
                let inner = CancelScope::new().shield(true);
                let ih = inner.handle();
                let out = inner
                    .run(async move {
                        sleep(Duration::from_millis(5)).await;
                        ih.set_deadline(Instant::now() + Duration::from_millis(20));
                        sleep(HOUR).await;
                    })
                    .await;
                assert_eq!(out, None);
                assert_elapsed(start, Duration::from_millis(25));
            })
            .await;
    });
}

#[test]
fn a_cancelled_child_entering_a_shielded_scope_with_a_deadline_still_times_out() {
    let _w = Watchdog::with_timeout("child_shield_deadline", Duration::from_secs(20));
    let rt = support::paused_rt(2);
    rt.block_on(async {
        let start = Instant::now();
        let r = trellis::nursery(async |n| {
            n.start_soon_on(DomainId::new(1), move || async move {
                let at = Instant::now() + Duration::from_millis(40);
                let out = CancelScope::new()
                    .deadline(at)
                    .shield(true)
                    .run(sleep(HOUR))
                    .await;
                assert_eq!(out, None);
                assert_elapsed(start, Duration::from_millis(40));
            });
            n.cancel(); // the child starts in a cancelled nursery
        })
        .await;
        assert!(r.is_ok(), "{r:?}");
    });
}

#[test]
fn cancel_requested_sees_through_a_shield() {
    let _w = Watchdog::new("cancel_requested");
    support::rt(2).block_on(async {
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

// ---------------------------------------------------------------------------------------------
// Checkpoints

#[test]
fn every_runtime_operation_is_a_checkpoint_even_when_ready() {
    let _w = Watchdog::new("checkpoints");
    support::rt(2).block_on(async {
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

/// Cancellation-point sweep: a task with several checkpoints of different kinds is cancelled
/// after its k-th poll, for every k; each time its cleanup runs, nothing leaks, and no step
/// after the cancellation runs.
#[test]
fn cancellation_point_sweep() {
    let _w = Watchdog::new("cancellation_point_sweep");
    const STEPS: usize = 6;
    let rt = support::rt(2);
    for k in 0..=STEPS {
        let steps = Arc::new(AtomicUsize::new(0));
        let cleaned = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (s, c) = (steps.clone(), cleaned.clone());
        let scope = CancelScope::new();
        let h = scope.handle();
        let out = rt
            .block_on(rt.spawn(scope.run(async move {
                let _cleanup = OnDrop(c);
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
