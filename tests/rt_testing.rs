//! `trellis::testing::wait_all_tasks_blocked` (Trio's): returns once every other task is
//! blocked, with the paused clock unchanged; the clock jumps only at the next moment
//! everything is blocked.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use support::{Watchdog, assert_elapsed, panic_message, paused_runtime};
use trellis::testing::wait_all_tasks_blocked;
use trellis::time::{Instant, sleep};

#[test]
fn wait_all_tasks_blocked_returns_once_every_task_blocks() {
    let _wd = Watchdog::new("wait_all_tasks_blocked_returns_once_every_task_blocks");
    let rt = paused_runtime(2);
    rt.block_on(async {
        let (tx, rx) = trellis::channel::bounded::<()>(0);
        let reached = Arc::new(AtomicUsize::new(0));
        for _ in 0..4 {
            let (rx, reached) = (rx.clone(), reached.clone());
            drop(trellis::spawn(async move {
                // Busy first: many polls before the blocking point.
                for _ in 0..200 {
                    trellis::yield_now().await;
                }
                reached.fetch_add(1, SeqCst);
                let _ = rx.recv().await;
            }));
        }
        let t0 = Instant::now();
        wait_all_tasks_blocked().await;
        assert_eq!(reached.load(SeqCst), 4);
        assert_elapsed(t0, Duration::ZERO);
        drop(tx);
    });
}

/// With timers pending, the waiter returns first, at the same virtual time; the clock jumps
/// at the next moment everything is blocked.
#[test]
fn wait_all_tasks_blocked_comes_before_the_clock_jump() {
    let _wd = Watchdog::new("wait_all_tasks_blocked_comes_before_the_clock_jump");
    let rt = paused_runtime(2);
    rt.block_on(async {
        let t0 = Instant::now();
        let woke = Arc::new(AtomicBool::new(false));
        let sleeper = trellis::spawn({
            let woke = woke.clone();
            async move {
                sleep(Duration::from_secs(10)).await;
                woke.store(true, SeqCst);
            }
        });
        // From a task, too.
        let waiter = trellis::spawn(async move {
            wait_all_tasks_blocked().await;
            Instant::now()
        });
        let seen = waiter.await.unwrap();
        assert_eq!(seen, t0);
        assert!(!woke.load(SeqCst));
        sleeper.await.unwrap();
        assert_elapsed(t0, Duration::from_secs(10));
    });
}

/// Several waiters return at the same moment; one dropped before that is forgotten (the
/// next moment everything blocks is then a plain clock jump).
#[test]
fn wait_all_tasks_blocked_wakes_every_waiter() {
    let _wd = Watchdog::new("wait_all_tasks_blocked_wakes_every_waiter");
    let rt = paused_runtime(1);
    rt.block_on(async {
        // A waiter inside a scope with a deadline: everything blocks at once, so it returns
        // before the deadline's jump.
        let t0 = Instant::now();
        let out = trellis::move_on_after(Duration::from_secs(1), wait_all_tasks_blocked()).await;
        assert_eq!(out, Some(()));
        assert_elapsed(t0, Duration::ZERO);
        // A waiter dropped (here: cancelled at once) leaves nothing behind.
        let scope = trellis::CancelScope::new();
        scope.handle().cancel();
        assert_eq!(scope.run(wait_all_tasks_blocked()).await, None);
        sleep(Duration::from_secs(2)).await; // a plain jump
        assert_elapsed(t0, Duration::from_secs(2));
        let waiters: Vec<_> = (0..3)
            .map(|_| trellis::spawn(wait_all_tasks_blocked()))
            .collect();
        for w in waiters {
            w.await.unwrap();
        }
        assert_elapsed(t0, Duration::from_secs(2));
    });
}

#[test]
fn wait_all_tasks_blocked_needs_a_paused_clock() {
    let _wd = Watchdog::new("wait_all_tasks_blocked_needs_a_paused_clock");
    let rt = trellis::Runtime::builder().workers(1).build().unwrap();
    let err = rt.block_on(rt.spawn(wait_all_tasks_blocked())).unwrap_err();
    let msg = panic_message(err.into_panic().as_ref());
    assert!(msg.contains("needs a paused clock"), "{msg}");
}
