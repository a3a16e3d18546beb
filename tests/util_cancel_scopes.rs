//! `move_on_when` / `run_and_cancelling`: trio-util's `tests/test_cancel_scopes.py` case by
//! case (same names), then the edge cases of section 1.7 of the semantics reference. Times are
//! virtual (a paused clock, as trio-util's `autojump_clock`), so elapsed times are exact.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{Counter, DropToken, Watchdog, assert_elapsed, paused_rt};
use trellis::time::{Instant, sleep};
use trellis::util::{AsyncBool, move_on_when, move_on_when_in, run_and_cancelling};
use trellis::{CancelHandle, CancelScope, NurseryError, TaskFailure};

/// One second of virtual time.
const S: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct KeyError(&'static str);

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyError({})", self.0)
    }
}

impl std::error::Error for KeyError {}

fn only_error(err: &NurseryError) -> &KeyError {
    assert_eq!(err.len(), 1, "{err}");
    err.find::<KeyError>().expect("a KeyError")
}

/// trio's `Event.wait` on an `AsyncBool` standing in for the event.
fn wait_set(event: &Arc<AsyncBool>) -> impl Future<Output = ()> + Send + 'static {
    let event = event.clone();
    async move {
        event.wait_value(|v| *v).await;
    }
}

/// Never returns; counts its drop.
async fn forever(drops: Counter) {
    let _token = DropToken(drops);
    std::future::pending::<()>().await;
}

/// trio-util's `AsyncMock`: records the arguments it was awaited with.
type Calls = Arc<Mutex<Vec<(&'static str, i32)>>>;

async fn mock(calls: Calls, arg: &'static str, bar: i32) {
    calls.lock().unwrap().push((arg, bar));
}

// ---- tests/test_cancel_scopes.py ----

#[test]
fn test_move_on_when() {
    let _w = Watchdog::new("test_move_on_when");
    paused_rt(2).block_on(async {
        let event = AsyncBool::shared(false);

        let mut scope: Option<CancelHandle> = None;
        let out = move_on_when(wait_set(&event), async |s| {
            scope = Some(s);
            // the body exits normally even if the trigger doesn't return
        })
        .await
        .unwrap();
        let scope = scope.unwrap();
        assert_eq!(out, Some(()));
        assert!(!scope.cancel_called());
        assert!(!scope.cancelled_caught());

        let t0 = Instant::now();
        let mut set_event = false;
        let mut scope: Option<CancelHandle> = None;
        let out = move_on_when(wait_set(&event), async |s| {
            scope = Some(s);
            sleep(S).await;
            assert!(!event.get());
            event.set(true);
            set_event = true;
            std::future::pending::<()>().await;
        })
        .await
        .unwrap();
        let scope = scope.unwrap();
        assert_eq!(out, None);
        assert!(set_event);
        assert!(scope.cancel_called());
        assert!(scope.cancelled_caught());
        assert_elapsed(t0, S);
    });
}

#[test]
fn test_move_on_when_deadline() {
    let _w = Watchdog::new("test_move_on_when_deadline");
    paused_rt(2).block_on(async {
        let t0 = Instant::now();
        let mut scope: Option<CancelHandle> = None;
        let out = move_on_when(std::future::pending::<()>(), async |s| {
            s.set_deadline(Instant::now() + S);
            scope = Some(s);
            std::future::pending::<()>().await;
        })
        .await
        .unwrap();
        let scope = scope.unwrap();
        assert_eq!(out, None);
        assert_elapsed(t0, S);
        assert!(scope.cancel_called());
        assert!(scope.cancelled_caught());
    });
}

#[test]
fn test_move_on_when_args() {
    // trio-util passes `fn, *args, **kwargs`; here the trigger is a future built with its
    // arguments. It is always awaited, even though the body returns at once.
    let _w = Watchdog::new("test_move_on_when_args");
    paused_rt(2).block_on(async {
        let calls = Calls::default();
        move_on_when(mock(calls.clone(), "foo", 10), async |_| {})
            .await
            .unwrap();
        assert_eq!(*calls.lock().unwrap(), [("foo", 10)]);
    });
}

#[test]
fn test_run_and_cancelling() {
    let _w = Watchdog::new("test_run_and_cancelling");
    paused_rt(2).block_on(async {
        let event = AsyncBool::shared(false);
        let e = event.clone();
        let task = async move {
            e.set(true);
            std::future::pending::<()>().await;
        };
        run_and_cancelling(task, async {
            // the body exits normally and cancels the task
        })
        .await
        .unwrap();
        assert!(event.get());

        let t0 = Instant::now();
        let mut event2 = false;
        run_and_cancelling(sleep(S), async {
            sleep(2 * S).await;
            // the background task already returned; this body still completes
            event2 = true;
        })
        .await
        .unwrap();
        assert!(event2);
        assert_elapsed(t0, 2 * S);
    });
}

#[test]
fn test_run_and_cancelling_args() {
    let _w = Watchdog::new("test_run_and_cancelling_args");
    paused_rt(2).block_on(async {
        let calls = Calls::default();
        run_and_cancelling(mock(calls.clone(), "foo", 10), async {})
            .await
            .unwrap();
        assert_eq!(*calls.lock().unwrap(), [("foo", 10)]);
    });
}

// ---- section 1.7 edge cases: move_on_when ----

#[test]
fn move_on_when_returns_the_body_value_and_the_body_may_borrow() {
    let _w = Watchdog::new("body value");
    paused_rt(2).block_on(async {
        let mut log = Vec::new();
        let out = move_on_when(sleep(S), async |_| {
            log.push("ran");
            sleep(S / 2).await;
            Ok::<_, KeyError>(42)
        })
        .await
        .unwrap();
        assert_eq!(out, Some(42));
        assert_eq!(log, ["ran"]);
    });
}

#[test]
fn move_on_when_body_error_is_grouped_and_cancels_the_trigger() {
    // A `KeyError` from the body comes out as ExceptionGroup([KeyError]) (verified).
    let _w = Watchdog::new("body error");
    paused_rt(2).block_on(async {
        let drops = Counter::new();
        let t0 = Instant::now();
        let err = move_on_when(forever(drops.clone()), async |_| {
            sleep(S).await;
            Err::<(), _>(KeyError("body"))
        })
        .await
        .unwrap_err();
        assert_eq!(only_error(&err).0, "body");
        assert_eq!(drops.get(), 1, "the trigger was cancelled and dropped");
        assert_elapsed(t0, S);
    });
}

#[test]
fn move_on_when_trigger_error_cancels_the_body_and_propagates() {
    let _w = Watchdog::new("trigger error");
    paused_rt(2).block_on(async {
        let drops = Counter::new();
        let t0 = Instant::now();
        let mut scope: Option<CancelHandle> = None;
        let trigger = async {
            sleep(S).await;
            Err::<(), _>(KeyError("trigger"))
        };
        let err = move_on_when(trigger, async |s| {
            scope = Some(s);
            forever(drops.clone()).await;
        })
        .await
        .unwrap_err();
        assert_eq!(only_error(&err).0, "trigger");
        assert_eq!(drops.get(), 1, "the body was cancelled and dropped");
        assert_elapsed(t0, S);
        // A failing trigger does not cancel the yielded scope (the nursery's does).
        let scope = scope.unwrap();
        assert!(!scope.cancel_called());
        assert!(!scope.cancelled_caught());
    });
}

#[test]
fn move_on_when_body_panic_is_a_failure() {
    let _w = Watchdog::new("body panic");
    paused_rt(2).block_on(async {
        let drops = Counter::new();
        let err = move_on_when(forever(drops.clone()), async |_| {
            sleep(S).await;
            panic!("body panicked");
        })
        .await
        .unwrap_err();
        assert_eq!(err.len(), 1);
        assert!(matches!(err.failures()[0], TaskFailure::Panic(_)));
        assert!(err.to_string().contains("body panicked"), "{err}");
        assert_eq!(drops.get(), 1);
    });
}

#[test]
fn move_on_when_trigger_that_returns_at_once_interrupts_the_body_at_its_first_checkpoint() {
    let _w = Watchdog::new("trigger at once");
    paused_rt(2).block_on(async {
        let t0 = Instant::now();
        let mut reached = false;
        let out = move_on_when(async {}, async |_| {
            sleep(S).await;
            reached = true;
        })
        .await
        .unwrap();
        assert_eq!(out, None);
        assert!(!reached);
        assert_elapsed(t0, Duration::ZERO);
    });
}

#[test]
fn move_on_when_body_can_cancel_its_own_scope() {
    let _w = Watchdog::new("own cancel");
    paused_rt(2).block_on(async {
        let mut scope: Option<CancelHandle> = None;
        let out = move_on_when(std::future::pending::<()>(), async |s| {
            s.cancel();
            scope = Some(s);
            trellis::checkpoint().await;
            unreachable!("cancelled at the checkpoint");
        })
        .await
        .unwrap();
        assert_eq!(out, None::<()>);
        assert!(scope.unwrap().cancelled_caught());
    });
}

#[test]
fn move_on_when_in_with_a_timeout() {
    let _w = Watchdog::new("timeout");
    paused_rt(2).block_on(async {
        let t0 = Instant::now();
        let scope = CancelScope::new().timeout(2 * S);
        let handle = scope.handle();
        let out = move_on_when_in(scope, sleep(3 * S), async |_| {
            std::future::pending::<()>().await;
        })
        .await
        .unwrap();
        assert_eq!(out, None);
        assert!(handle.cancelled_caught());
        assert_elapsed(t0, 2 * S);
    });
}

#[test]
fn move_on_when_shield_protects_the_body_from_enclosing_cancellation() {
    // A shielded scope: an enclosing cancellation at 1 s does not reach the body, which
    // completes at 2 s; then the enclosing scope catches (the value is lost, as in Trio where
    // the code after the `async with` block does not run).
    let _w = Watchdog::new("shield");
    paused_rt(2).block_on(async {
        let t0 = Instant::now();
        let mut finished = false;
        let trigger_drops = Counter::new();
        let out = trellis::move_on_after(S, async {
            move_on_when_in(
                CancelScope::new().shield(true),
                forever(trigger_drops.clone()),
                async |_| {
                    sleep(2 * S).await;
                    finished = true;
                },
            )
            .await
        })
        .await;
        assert!(out.is_none());
        assert!(finished);
        assert_eq!(trigger_drops.get(), 1);
        assert_elapsed(t0, 2 * S);
    });
}

#[test]
fn move_on_when_shield_protects_the_body_from_a_failing_trigger() {
    let _w = Watchdog::new("shield vs failing trigger");
    paused_rt(2).block_on(async {
        let t0 = Instant::now();
        let mut finished = false;
        let trigger = async {
            sleep(S).await;
            Err::<(), _>(KeyError("trigger"))
        };
        let err = move_on_when_in(CancelScope::new().shield(true), trigger, async |_| {
            sleep(2 * S).await;
            finished = true;
        })
        .await
        .unwrap_err();
        assert_eq!(only_error(&err).0, "trigger");
        assert!(finished);
        assert_elapsed(t0, 2 * S);
    });
}

#[test]
fn move_on_when_shield_does_not_stop_the_trigger() {
    // The trigger cancels this very scope: a shield is no protection against it.
    let _w = Watchdog::new("shield vs trigger");
    paused_rt(2).block_on(async {
        let t0 = Instant::now();
        let scope = CancelScope::new().shield(true);
        let handle = scope.handle();
        let out = move_on_when_in(scope, sleep(S), async |_| {
            sleep(2 * S).await;
        })
        .await
        .unwrap();
        assert_eq!(out, None);
        assert!(handle.cancelled_caught());
        assert_elapsed(t0, S);
    });
}

#[test]
fn move_on_when_enclosing_cancellation_is_caught_by_the_enclosing_scope() {
    let _w = Watchdog::new("enclosing");
    paused_rt(2).block_on(async {
        let t0 = Instant::now();
        let drops = Counter::new();
        let mut scope: Option<CancelHandle> = None;
        let out = trellis::move_on_after(S, async {
            move_on_when(forever(drops.clone()), async |s| {
                scope = Some(s);
                std::future::pending::<()>().await;
            })
            .await
        })
        .await;
        assert!(out.is_none());
        assert_eq!(drops.get(), 1);
        assert!(!scope.unwrap().cancelled_caught());
        assert_elapsed(t0, S);
    });
}

// ---- section 1.7 edge cases: run_and_cancelling ----

#[test]
fn run_and_cancelling_returns_the_body_value() {
    let _w = Watchdog::new("rac value");
    paused_rt(2).block_on(async {
        let drops = Counter::new();
        let local = String::from("borrowed");
        let out = run_and_cancelling(forever(drops.clone()), async {
            sleep(S).await;
            Ok::<_, KeyError>(local.len())
        })
        .await
        .unwrap();
        assert_eq!(out, 8);
        assert_eq!(drops.get(), 1, "the background task was cancelled");
    });
}

#[test]
fn run_and_cancelling_background_error_cancels_the_body_and_propagates() {
    let _w = Watchdog::new("rac background error");
    paused_rt(2).block_on(async {
        let drops = Counter::new();
        let t0 = Instant::now();
        let background = async {
            sleep(S).await;
            Err::<(), _>(KeyError("background"))
        };
        let err = run_and_cancelling(background, forever(drops.clone()))
            .await
            .unwrap_err();
        assert_eq!(only_error(&err).0, "background");
        assert_eq!(drops.get(), 1, "the body was cancelled and dropped");
        assert_elapsed(t0, S);
    });
}

#[test]
fn run_and_cancelling_body_error_is_grouped_and_cancels_the_background() {
    let _w = Watchdog::new("rac body error");
    paused_rt(2).block_on(async {
        let drops = Counter::new();
        let err = run_and_cancelling(forever(drops.clone()), async {
            sleep(S).await;
            Err::<(), _>(KeyError("body"))
        })
        .await
        .unwrap_err();
        assert_eq!(only_error(&err).0, "body");
        assert_eq!(drops.get(), 1);
    });
}

#[test]
fn run_and_cancelling_is_cancelled_by_an_enclosing_scope() {
    let _w = Watchdog::new("rac enclosing");
    paused_rt(2).block_on(async {
        let drops = Counter::new();
        let t0 = Instant::now();
        let out = trellis::move_on_after(
            S,
            run_and_cancelling(forever(drops.clone()), forever(drops.clone())),
        )
        .await;
        assert!(out.is_none());
        assert_eq!(drops.get(), 2);
        assert_elapsed(t0, S);
    });
}

#[test]
fn never_returning_bodies_compile() {
    let _w = Watchdog::new("never bodies");
    paused_rt(2).block_on(async {
        let t0 = Instant::now();
        let out = move_on_when(sleep(S), async |_| {
            loop {
                sleep(S / 4).await;
            }
        })
        .await
        .unwrap();
        assert!(out.is_none());
        assert_elapsed(t0, S);
    });
}
