//! Panic isolation (ARCHITECTURE.md, invariant I5): a panicking task yields `JoinError::is_panic` with its
//! payload, never kills its worker, and never loses other tasks.
#![cfg(panic = "unwind")]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use support::{Counter, Tracker, Watchdog, panic_message, wait_until};

#[test]
fn panicking_task_gives_a_panic_join_error_with_the_payload() {
    let _wd = Watchdog::new("panicking_task_gives_a_panic_join_error_with_the_payload");
    let rt = support::rt_named(2, "trl-panic");
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
    let rt = support::rt_named(1, "trl-panic");
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
    let rt = support::rt_named(1, "trl-panic");
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
    let rt = support::rt_named(2, "trl-panic");
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
    let rt = support::rt_named(1, "trl-panic");
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
    let rt = support::rt_named(1, "trl-panic");
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
    let rt = support::rt_named(1, "trl-panic");
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

/// A waker whose `wake` panics (a buggy foreign executor).
struct PanickingWaker(Counter);

impl std::task::Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        self.0.incr();
        panic!("this waker panics when woken");
    }
}

/// Issue 10, defect 9: a user waker that panics when a timer fires it used to unwind out of the
/// worker (killing it, and with it the runtime). The panic is caught and reported; the other
/// timers due at the same time still fire and the worker keeps running tasks.
#[test]
fn panicking_waker_fired_by_a_timer_is_contained() {
    let _w = Watchdog::with_timeout(
        "panicking_waker_fired_by_a_timer_is_contained",
        Duration::from_secs(30),
    );
    let rt = support::rt(1);
    let woken = Counter::new();
    let (w2, seen) = (woken.clone(), woken.clone());
    let task = rt.spawn(async move {
        use std::future::Future;
        let waker = std::task::Waker::from(Arc::new(PanickingWaker(w2)));
        let at = trellis::time::Instant::now() + Duration::from_millis(5);
        // Register a timer with the panicking waker, and others at the same deadline.
        let mut bad = Box::pin(trellis::time::sleep_until(at));
        assert!(
            bad.as_mut()
                .poll(&mut std::task::Context::from_waker(&waker))
                .is_pending()
        );
        let mut fired = 0;
        for _ in 0..3 {
            trellis::time::sleep_until(at).await;
            fired += 1;
        }
        // Under load the three sleeps can all find `at` passed at their first poll, before the
        // timer queue fired anything: keep `bad` registered until its timer has fired (each
        // sleep below lets the queue fire its due timers).
        while seen.get() == 0 {
            trellis::time::sleep(Duration::from_millis(1)).await;
        }
        drop(bad);
        fired
    });
    match support::join_within(task, Duration::from_secs(10)) {
        Some(r) => assert_eq!(r.unwrap(), 3),
        None => panic!("the task never finished: the panicking waker took the worker down"),
    }
    assert_eq!(woken.get(), 1, "the panicking waker was woken once");
    let after = rt.spawn(async { trellis::time::sleep(Duration::from_millis(1)).await });
    assert!(
        support::join_within(after, Duration::from_secs(10)).is_some_and(|r| r.is_ok()),
        "the runtime stopped running tasks after the waker's panic"
    );
}
