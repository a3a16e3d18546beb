//! The scope core (`runtime/src/scope/body.rs`): a deadline known from entry, armed outside the
//! cancelled context, `cancel_called` computed when read, and a scope that never waits for a
//! catcher that is gone. Each test is named after the behaviour it pins down.

mod support;

use std::pin::pin;
use std::time::Duration;

use support::{Watchdog, assert_elapsed, run_paused};
use trellis::time::{Instant, sleep};
use trellis::{CancelScope, DomainId, TooSlow};

const HOUR: Duration = Duration::from_secs(3600);

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
    let rt = support::paused_runtime(2);
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
fn cancel_called_is_true_once_the_deadline_passed_before_the_scope_is_polled_again() {
    let _w = Watchdog::with_timeout("cancel_called_when_read", Duration::from_secs(20));
    let rt = trellis::Runtime::builder().workers(1).build().unwrap();
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
