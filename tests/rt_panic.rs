//! Panic isolation (ARCHITECTURE.md, invariant I5): a panicking task yields `JoinError::is_panic` with its
//! payload, never kills its worker, and never loses other tasks.
#![cfg(panic = "unwind")]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use support::{Counter, Tracker, Watchdog, panic_message, wait_until};
use trellis::Runtime;

fn build(workers: usize) -> Runtime {
    Runtime::builder()
        .workers(workers)
        .thread_name("trl-panic")
        .build()
        .expect("build runtime")
}

#[test]
fn panicking_task_gives_a_panic_join_error_with_the_payload() {
    let _wd = Watchdog::new("panicking_task_gives_a_panic_join_error_with_the_payload");
    let rt = build(2);
    let err = rt
        .block_on(rt.spawn(async {
            trellis::yield_now().await;
            panic!("boom {}", 42);
        }))
        .expect_err("the task panicked");
    assert!(err.is_panic(), "{err:?}");
    assert!(!err.is_cancelled());
    // `panic!("boom {}", 42)` may carry a `String` or (format args folded at compile time) a
    // `&'static str`; either way the message is intact.
    assert_eq!(panic_message(&*err.into_panic()), "boom 42");
}

#[test]
fn panic_payload_of_any_type_is_retrievable() {
    let _wd = Watchdog::new("panic_payload_of_any_type_is_retrievable");
    #[derive(Debug, PartialEq)]
    struct Custom(u32);
    let rt = build(1);
    let err = rt
        .block_on(rt.spawn(async {
            std::panic::panic_any(Custom(7));
        }))
        .unwrap_err();
    assert!(err.is_panic());
    let payload = err.into_panic();
    assert_eq!(payload.downcast_ref::<Custom>(), Some(&Custom(7)));

    let err = rt
        .block_on(async { trellis::spawn(async { panic!("static str payload") }).await })
        .unwrap_err();
    assert_eq!(
        err.into_panic().downcast_ref::<&'static str>(),
        Some(&"static str payload")
    );
}

#[test]
fn worker_lives_on_after_a_panic() {
    let _wd = Watchdog::new("worker_lives_on_after_a_panic");
    let rt = build(1);
    let before = rt
        .block_on(rt.spawn(async { std::thread::current().id() }))
        .unwrap();
    let err = rt
        .block_on(rt.spawn(async { panic!("first") }))
        .unwrap_err();
    assert!(err.is_panic());
    let after = rt
        .block_on(rt.spawn(async { std::thread::current().id() }))
        .unwrap();
    assert_eq!(
        before, after,
        "the single worker thread must survive a task panic (not be replaced)"
    );
    assert_eq!(rt.workers(), 1);
}

#[test]
fn many_panics_lose_no_other_task() {
    let _wd = Watchdog::new("many_panics_lose_no_other_task");
    let rt = build(2);
    let tracker = Tracker::new();
    let ok_ran = Arc::new(AtomicUsize::new(0));
    let (panics, oks) = rt.block_on(async {
        let mut hs = Vec::new();
        for i in 0..1000usize {
            let ok_ran = ok_ran.clone();
            hs.push(trellis::spawn(tracker.track(async move {
                if i % 7 == 3 {
                    trellis::yield_now().await;
                }
                if i % 2 == 0 {
                    panic!("task {i}");
                }
                ok_ran.fetch_add(1, SeqCst);
                i
            })));
        }
        let mut panics = 0;
        let mut oks = 0;
        for (i, h) in hs.into_iter().enumerate() {
            match h.await {
                Ok(v) => {
                    assert_eq!(v, i);
                    oks += 1;
                }
                Err(e) => {
                    assert!(e.is_panic(), "task {i}: {e:?}");
                    assert_eq!(panic_message(&*e.into_panic()), format!("task {i}"));
                    panics += 1;
                }
            }
        }
        (panics, oks)
    });
    assert_eq!((panics, oks), (500, 500));
    assert_eq!(ok_ran.load(SeqCst), 500);
    drop(rt);
    assert_eq!(
        tracker.dropped.get(),
        1000,
        "panicked futures are dropped too"
    );
}

#[test]
fn panic_with_detached_handle_is_not_fatal() {
    let _wd = Watchdog::new("panic_with_detached_handle_is_not_fatal");
    let rt = build(1);
    let tracker = Tracker::new();
    for _ in 0..10 {
        drop(rt.spawn(tracker.track(async { panic!("nobody is listening") })));
    }
    assert!(wait_until(Duration::from_secs(30), || tracker
        .dropped
        .get()
        == 10));
    assert_eq!(rt.block_on(rt.spawn(async { 3 })).unwrap(), 3);
}

/// A future that panics when dropped.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("panic in Drop");
        }
    }
}

#[test]
fn panic_in_drop_during_abort_does_not_kill_the_worker() {
    let _wd = Watchdog::new("panic_in_drop_during_abort_does_not_kill_the_worker");
    let rt = build(1);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let polled = Counter::new();
    let p = polled.clone();
    let h = rt.spawn(async move {
        let _guard = PanicOnDrop;
        p.incr();
        let _ = rx.await;
    });
    assert!(wait_until(Duration::from_secs(30), || polled.get() == 1));
    h.abort();
    // Either classification is acceptable; the handle must resolve.
    let err = rt.block_on(h).expect_err("aborted");
    assert!(err.is_cancelled() || err.is_panic(), "{err:?}");
    drop(tx);
    // The worker survived.
    assert_eq!(rt.block_on(rt.spawn(async { 4 })).unwrap(), 4);
}

#[test]
fn panic_in_output_drop_with_detached_handle_is_not_fatal() {
    let _wd = Watchdog::new("panic_in_output_drop_with_detached_handle_is_not_fatal");
    let rt = build(1);
    let done = Counter::new();
    let d = done.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    // The handle is dropped before the task completes, so the runtime drops the output.
    drop(rt.spawn(async move {
        let _ = rx.await;
        d.incr();
        PanicOnDrop
    }));
    tx.send(()).unwrap();
    assert!(wait_until(Duration::from_secs(30), || done.get() == 1));
    assert_eq!(rt.block_on(rt.spawn(async { 5 })).unwrap(), 5);
}
