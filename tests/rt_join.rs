//! `JoinHandle`: awaiting, `abort` before the first poll / while parked / while running / after
//! completion, `is_finished`, detach on drop, and `JoinError`'s accessors and formatting.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::mpsc;
use std::time::Duration;

use support::{Counter, Out, Tracker, Watchdog, spin_until, wait_until};

const LIMIT: Duration = Duration::from_secs(30);

#[test]
fn abort_before_first_poll() {
    let _wd = Watchdog::new("abort_before_first_poll");
    let rt = support::rt_named(1, "trl-join");
    let mut occupied = support::occupy_workers(&rt);
    let tracker = Tracker::new();
    let h = rt.spawn(tracker.track(async { 1 }));
    h.abort();
    occupied.release();
    let err = rt.block_on(h).expect_err("aborted before its first poll");
    assert!(err.is_cancelled(), "{err:?}");
    assert!(!err.is_panic());
    assert_eq!(
        tracker.polled.get(),
        0,
        "an aborted task must not be polled"
    );
    assert!(wait_until(LIMIT, || tracker.dropped.get() == 1));
    occupied.join(&rt);
    drop(rt);
    assert_eq!(tracker.dropped.get(), 1, "future dropped exactly once");
}

#[test]
fn abort_while_parked() {
    let _wd = Watchdog::new("abort_while_parked");
    let rt = support::rt_named(2, "trl-join");
    let tracker = Tracker::new();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let h = rt.spawn(tracker.track(async move {
        let _ = rx.await;
        1
    }));
    assert!(wait_until(LIMIT, || tracker.polled.get() == 1));
    assert!(!h.is_finished());
    h.abort();
    let err = rt.block_on(h).expect_err("aborted while parked");
    assert!(err.is_cancelled(), "{err:?}");
    assert!(wait_until(LIMIT, || tracker.dropped.get() == 1));
    // The receiver went with the future; waking the cancelled task is harmless.
    assert!(tx.send(()).is_err());
    drop(rt);
    assert_eq!(tracker.dropped.get(), 1);
}

#[test]
fn abort_while_running_takes_effect_at_the_next_checkpoint() {
    let _wd = Watchdog::new("abort_while_running_takes_effect_at_the_next_checkpoint");
    let rt = support::rt_named(2, "trl-join");
    let running = Arc::new(AtomicBool::new(false));
    let aborted = Arc::new(AtomicBool::new(false));
    let after_yield = Arc::new(AtomicBool::new(false));
    let tracker = Tracker::new();
    let h = {
        let (running, aborted, after_yield) =
            (running.clone(), aborted.clone(), after_yield.clone());
        rt.spawn(tracker.track(async move {
            running.store(true, SeqCst);
            assert!(spin_until(LIMIT, || aborted.load(SeqCst)));
            trellis::yield_now().await;
            after_yield.store(true, SeqCst);
        }))
    };
    assert!(wait_until(LIMIT, || running.load(SeqCst)));
    h.abort();
    aborted.store(true, SeqCst);
    let err = rt.block_on(h).expect_err("aborted while running");
    assert!(err.is_cancelled(), "{err:?}");
    assert!(
        !after_yield.load(SeqCst),
        "code after the checkpoint ran despite abort"
    );
    drop(rt);
    assert_eq!(tracker.dropped.get(), 1);
}

#[test]
fn abort_after_completion_returns_the_value() {
    let _wd = Watchdog::new("abort_after_completion_returns_the_value");
    let rt = support::rt_named(2, "trl-join");
    let drops = Counter::new();
    let d = drops.clone();
    let h = rt.spawn(async move { Out::new(17, &d) });
    assert!(wait_until(LIMIT, || h.is_finished()));
    h.abort();
    h.abort(); // idempotent
    let out = rt
        .block_on(h)
        .expect("abort after completion keeps the output");
    assert_eq!(out.value, 17);
    assert_eq!(drops.get(), 0);
    drop(out);
    assert_eq!(drops.get(), 1);
}

#[test]
fn is_finished_tracks_completion() {
    let _wd = Watchdog::new("is_finished_tracks_completion");
    let rt = support::rt_named(2, "trl-join");
    let tracker = Tracker::new();
    let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
    let h = rt.spawn(tracker.track(async move { rx.await.unwrap() + 1 }));
    assert!(wait_until(LIMIT, || tracker.polled.get() == 1));
    assert!(!h.is_finished(), "a parked task is not finished");
    tx.send(41).unwrap();
    assert!(wait_until(LIMIT, || h.is_finished()));
    assert_eq!(rt.block_on(h).unwrap(), 42);
}

#[test]
fn dropping_the_handle_detaches_the_task() {
    let _wd = Watchdog::new("dropping_the_handle_detaches_the_task");
    let rt = support::rt_named(2, "trl-join");
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel();
    let tracker = Tracker::new();
    let h = rt.spawn(tracker.track(async move {
        go_rx.await.unwrap();
        // A detached task can still spawn and await.
        let inner = trellis::spawn(async { 5 }).await.unwrap();
        done_tx.send(inner).unwrap();
    }));
    drop(h);
    go_tx.send(()).unwrap();
    assert_eq!(done_rx.recv_timeout(LIMIT).expect("detached task ran"), 5);
    assert!(wait_until(LIMIT, || tracker.dropped.get() == 1));
}

#[test]
fn handles_are_awaitable_from_other_tasks() {
    let _wd = Watchdog::new("handles_are_awaitable_from_other_tasks");
    let rt = support::rt_named(2, "trl-join");
    let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
    let producer = rt.spawn(async move { rx.await.unwrap() * 2 });
    let consumer = rt.spawn(async move { producer.await.unwrap() + 1 });
    tx.send(20).unwrap();
    assert_eq!(rt.block_on(consumer).unwrap(), 41);
}

#[test]
fn abort_racing_wake_and_completion() {
    let _wd = Watchdog::new("abort_racing_wake_and_completion");
    let rt = support::rt_named(2, "trl-join");
    let tracker = Tracker::new();
    let outputs = Counter::new();
    let n = 1000;
    let mut senders = Vec::new();
    let mut handles = Vec::new();
    for i in 0..n {
        let (tx, rx) = tokio::sync::oneshot::channel::<usize>();
        let outs = outputs.clone();
        handles.push(rt.spawn(tracker.track(async move {
            let v = rx.await.unwrap_or(usize::MAX);
            trellis::yield_now().await;
            Out::new(v.wrapping_add(i), &outs)
        })));
        senders.push(tx);
    }
    // Wake and abort in varying orders.
    for (i, (tx, h)) in senders.into_iter().zip(&handles).enumerate() {
        match i % 4 {
            0 => {
                let _ = tx.send(0);
                h.abort();
            }
            1 => {
                h.abort();
                let _ = tx.send(0);
            }
            2 => {
                let _ = tx.send(0);
            }
            _ => h.abort(),
        }
    }
    let mut ok = 0;
    let mut cancelled = 0;
    for (i, h) in handles.into_iter().enumerate() {
        match rt.block_on(h) {
            Ok(out) => {
                assert!(
                    i % 4 == 0 || i % 4 == 2,
                    "task {i} was aborted before it could complete, yet returned Ok"
                );
                assert_eq!(out.value, i);
                ok += 1;
            }
            Err(e) => {
                assert!(e.is_cancelled(), "{e:?}");
                assert_ne!(i % 4, 2, "task {i} was never aborted but got {e:?}");
                cancelled += 1;
            }
        }
    }
    assert_eq!(ok + cancelled, n);
    // Tasks aborted before they could complete (cases 1 and 3) must all be cancelled.
    assert!(
        cancelled >= n / 2,
        "only {cancelled} of {n} tasks were cancelled; tasks aborted before their wake must be"
    );
    drop(rt);
    assert_eq!(
        tracker.dropped.get(),
        n,
        "every future dropped exactly once"
    );
    assert_eq!(
        outputs.get(),
        ok,
        "every produced output dropped exactly once"
    );
}

#[test]
fn join_error_formats_and_classifies() {
    let _wd = Watchdog::new("join_error_formats_and_classifies");
    let rt = support::rt_named(1, "trl-join");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let parked = rt.spawn(async move {
        let _ = rx.await;
    });
    parked.abort();
    let cancelled = rt.block_on(parked).unwrap_err();
    drop(tx);
    assert!(cancelled.is_cancelled() && !cancelled.is_panic());
    let text = cancelled.to_string();
    assert!(
        text.to_lowercase().contains("cancel"),
        "Display of a cancelled JoinError: {text:?}"
    );
    assert!(!format!("{cancelled:?}").is_empty());

    let panicked = rt
        .block_on(rt.spawn(async { panic!("formatted boom") }))
        .unwrap_err();
    assert!(panicked.is_panic() && !panicked.is_cancelled());
    let text = panicked.to_string();
    assert!(
        text.to_lowercase().contains("panic"),
        "Display of a panic JoinError: {text:?}"
    );
    assert!(!format!("{panicked:?}").is_empty());
}
