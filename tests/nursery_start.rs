//! `Nursery::start` under cancellation: a checkpoint that starts nothing in a cancelled scope,
//! and a child whose outcome reaches exactly one party (the `start` caller while it waits, the
//! nursery once the caller is gone). Trio's `test_nursery_start` cases about cancellation are
//! here too, with the places Trellis differs on purpose (documented on `Nursery::start`).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::Duration;

use support::{Counter, Watchdog, run_paused};
use trellis::time::sleep;
use trellis::{CancelScope, NotStarted, TaskFailure, TaskStatus};

#[derive(Debug)]
struct Boom(&'static str);
impl std::fmt::Display for Boom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}
impl std::error::Error for Boom {}

#[test]
fn start_in_a_cancelled_scope_does_not_complete_even_if_started_was_called_at_once() {
    let _w = Watchdog::with_timeout("start_in_cancelled_scope", Duration::from_secs(20));
    let rt = support::rt(2);
    let built = Counter::new();
    let b = built.clone();
    let r = rt.block_on(trellis::nursery(async |n| {
        let scope = CancelScope::new();
        let h = scope.handle();
        h.cancel();
        let out = scope
            .run(n.start(move |status: TaskStatus<u32>| {
                b.incr();
                status.started(5); // before `start` even looks
                async {}
            }))
            .await;
        assert!(out.is_none(), "a checkpoint in a cancelled scope: {out:?}");
        assert!(h.cancelled_caught());
    }));
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(built.get(), 0, "a cancelled start starts nothing");
}

#[test]
fn a_failure_before_started_reaches_the_nursery_once_the_start_caller_is_gone() {
    run_paused("start_caller_gone", async {
        let r = trellis::nursery(async |n| {
            let out = trellis::move_on_after(
                Duration::from_millis(10),
                n.start(|_s: TaskStatus<()>| async {
                    sleep(Duration::from_millis(50)).await;
                    Err::<(), _>(Boom("late"))
                }),
            )
            .await;
            assert!(out.is_none());
        })
        .await;
        let err = r.expect_err("the abandoned child's failure fails the nursery");
        assert_eq!(err.len(), 1);
        assert_eq!(err.find::<Boom>().map(|b| b.0), Some("late"));
    });
}

#[test]
fn a_value_started_after_the_caller_left_is_dropped_and_the_child_runs_on() {
    run_paused("start_caller_gone_then_started", async {
        let ran_on = Arc::new(AtomicBool::new(false));
        let r = ran_on.clone();
        let result = trellis::nursery(async |n| {
            let out = trellis::move_on_after(
                Duration::from_millis(10),
                n.start(move |s: TaskStatus<u8>| async move {
                    sleep(Duration::from_millis(20)).await;
                    s.started(1);
                    sleep(Duration::from_millis(20)).await;
                    r.store(true, SeqCst);
                }),
            )
            .await;
            assert!(out.is_none());
        })
        .await;
        assert!(result.is_ok(), "{result:?}");
        assert!(ran_on.load(SeqCst), "the child stayed in the nursery");
    });
}

#[test]
fn a_child_failure_before_started_reaches_exactly_one_party_when_a_sibling_cancels_the_caller() {
    let _w = Watchdog::with_timeout("start_race", Duration::from_secs(60));
    let rt = support::rt(2);
    for round in 0..300 {
        let seen_by_caller = Arc::new(AtomicBool::new(false));
        let seen = seen_by_caller.clone();
        let built = Counter::new();
        let b = built.clone();
        let r = rt.block_on(trellis::nursery(async |n| {
            n.start_soon(async { Err::<(), _>(Boom("sibling")) });
            // The child fails in its first poll (no checkpoint), so its failure exists whenever
            // the child does (a `start` reached after the sibling's cancel starts nothing).
            let started = n
                .start(move |_s: TaskStatus<()>| {
                    b.incr();
                    async { Err::<(), _>(Boom("child")) }
                })
                .await;
            if let Err(TaskFailure::Error(e)) = &started {
                assert_eq!(e.downcast_ref::<Boom>().map(|b| b.0), Some("child"));
                seen.store(true, SeqCst);
            }
            trellis::checkpoint().await;
        }));
        let err = r.expect_err("the sibling's failure");
        let in_nursery = err
            .failures()
            .iter()
            .filter(|f| matches!(f, TaskFailure::Error(e) if e.to_string() == "child"))
            .count();
        let by_caller = usize::from(seen_by_caller.load(SeqCst));
        assert_eq!(
            in_nursery + by_caller,
            built.get(),
            "round {round}: the child's failure reached {in_nursery} nursery + {by_caller} caller: {err}"
        );
    }
}

// Trio's `test_nursery_start`, the cases about cancellation. In Trio a `start` in a cancelled
// scope runs the child under the caller's scope until `started`; in Trellis the child runs in
// the nursery's scope, so a `start` in a cancelled scope starts nothing: all three cases end
// with the caller's scope catching, and no child.

#[test]
fn test_nursery_start_just_started_in_a_cancelled_scope() {
    run_paused("test_nursery_start_just_started", async {
        let r = trellis::nursery(async |n| {
            let cs = CancelScope::new();
            let h = cs.handle();
            h.cancel();
            let out = cs
                .run(n.start(|status: TaskStatus<&str>| async move {
                    status.started("hi");
                    trellis::checkpoint().await;
                }))
                .await;
            assert!(out.is_none());
            assert!(h.cancelled_caught());
        })
        .await;
        assert!(r.is_ok());
    });
}

#[test]
fn test_nursery_start_started_with_no_checkpoint_in_a_cancelled_scope() {
    // Trio: `start` returns normally and the scope does not catch. Trellis: `start` is a
    // checkpoint, so the cancelled scope catches (the child is never started).
    run_paused("test_nursery_start_no_checkpoint", async {
        let r = trellis::nursery(async |n| {
            let cs = CancelScope::new();
            let h = cs.handle();
            h.cancel();
            let out = cs
                .run(n.start(|status: TaskStatus<()>| async move { status.started(()) }))
                .await;
            assert!(out.is_none());
            assert!(h.cancelled_caught());
        })
        .await;
        assert!(r.is_ok());
    });
}

#[test]
fn test_nursery_start_raise_after_started_in_a_cancelled_scope() {
    // Trio: the KeyError comes out of `start`. Trellis: nothing is started, nothing fails.
    run_paused("test_nursery_start_raise_after_started", async {
        let r = trellis::nursery(async |n| {
            let cs = CancelScope::new();
            cs.handle().cancel();
            let out = cs
                .run(n.start(|status: TaskStatus<()>| async move {
                    status.started(());
                    Err::<(), _>(Boom("whoopsiedaisy"))
                }))
                .await;
            assert!(out.is_none());
        })
        .await;
        assert!(r.is_ok(), "{r:?}");
    });
}

#[test]
fn test_nursery_start_child_exits_without_started() {
    run_paused("test_nursery_start_nothing", async {
        let r = trellis::nursery(async |n| {
            let out = n.start(|_s: TaskStatus<()>| async {}).await;
            match out {
                Err(TaskFailure::Error(e)) => assert!(e.downcast_ref::<NotStarted>().is_some()),
                other => panic!("expected NotStarted, got {other:?}"),
            }
        })
        .await;
        assert!(r.is_ok());
    });
}

#[test]
fn an_empty_nursery_in_a_cancelled_scope_returns_and_the_next_checkpoint_is_cancelled() {
    // Trio: a nursery's exit is a schedule point, not a cancellation point.
    run_paused("empty_nursery_in_cancelled_scope", async {
        let cs = CancelScope::new();
        let h = cs.handle();
        h.cancel();
        let out = cs
            .run(async {
                let r = trellis::nursery(async |_n| {}).await;
                assert!(r.is_ok());
                trellis::checkpoint().await;
                unreachable!("the next checkpoint is cancelled");
            })
            .await;
        assert_eq!(out, None::<()>);
        assert!(h.cancelled_caught());
    });
}

#[test]
fn a_nursery_whose_body_was_cancelled_leaves_the_catch_to_the_enclosing_scope() {
    run_paused("cancelled_body_nursery_in_cancelled_scope", async {
        let cs = CancelScope::new();
        let h = cs.handle();
        h.cancel();
        let out = cs
            .run(async {
                let r = trellis::nursery(async |_n| {
                    trellis::checkpoint().await;
                })
                .await;
                unreachable!("the cancelled body's nursery does not return: {r:?}");
            })
            .await;
        assert_eq!(out, None::<()>);
        assert!(h.cancelled_caught());
    });
}

#[test]
fn a_nursery_in_a_cancelled_scope_still_reports_its_failures() {
    // Trio: the child's error and the Cancelled are mixed; the error propagates.
    run_paused("nursery_failure_in_cancelled_scope", async {
        let cs = CancelScope::new();
        cs.handle().cancel();
        let out = cs
            .run(async {
                trellis::nursery(async |n| {
                    n.start_soon(async { Err::<(), _>(Boom("child")) });
                })
                .await
            })
            .await;
        let r = out.expect("a failure is returned, not swallowed by the catch");
        assert_eq!(r.unwrap_err().find::<Boom>().map(|b| b.0), Some("child"));
    });
}
