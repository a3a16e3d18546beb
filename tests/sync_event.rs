#![allow(non_snake_case)] // Trio's test names
//! `trellis::sync::Event`: Trio's `test_Event` (`src/trio/_tests/test_sync.py`) under its
//! name, then cancellation, a set racing a wait on two workers, waiters on both domains,
//! plain threads and the paused clock.
//!
//! Adapted: `assert_checkpoints` becomes: the wait does not complete in a cancelled scope;
//! `statistics().tasks_waiting` is `waiting()`.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{Watchdog, assert_elapsed, run_paused, settle};
use trellis::sync::Event;
use trellis::{CancelScope, DomainId, move_on_after};

#[test]
fn test_Event() {
    run_paused("test_Event", async {
        let e = Event::new();
        assert!(!e.is_set());
        assert_eq!(e.waiting(), 0);
        e.set();
        assert!(e.is_set());
        e.wait().await;
        // A checkpoint even when set.
        let scope = CancelScope::new();
        scope.handle().cancel();
        assert!(scope.run(e.wait()).await.is_none());

        let e = Arc::new(Event::new());
        let record = Arc::new(Mutex::new(Vec::new()));
        trellis::nursery(async |n| {
            for _ in 0..2 {
                let (e, record) = (e.clone(), record.clone());
                n.start_soon(async move {
                    record.lock().unwrap().push("sleeping");
                    e.wait().await;
                    record.lock().unwrap().push("woken");
                });
            }
            settle().await;
            assert_eq!(*record.lock().unwrap(), ["sleeping", "sleeping"]);
            assert_eq!(e.waiting(), 2);
            e.set();
            settle().await;
            assert_eq!(
                *record.lock().unwrap(),
                ["sleeping", "sleeping", "woken", "woken"]
            );
        })
        .await
        .unwrap();
    });
}

#[test]
fn event_cancelled_waiter_leaves_the_others_waiting() {
    run_paused("event_cancelled_waiter_leaves_the_others_waiting", async {
        let e = Arc::new(Event::new());
        let woken = Arc::new(AtomicUsize::new(0));
        let scope = CancelScope::new();
        let cancel = scope.handle();
        trellis::nursery(async |n| {
            let (e1, w1) = (e.clone(), woken.clone());
            n.start_soon(async move {
                e1.wait().await;
                w1.fetch_add(1, SeqCst);
            });
            let (e2, w2) = (e.clone(), woken.clone());
            n.start_soon(async move {
                let _ = scope
                    .run(async move {
                        e2.wait().await;
                        w2.fetch_add(1, SeqCst);
                    })
                    .await;
            });
            let (e3, w3) = (e.clone(), woken.clone());
            n.start_soon(async move {
                e3.wait().await;
                w3.fetch_add(1, SeqCst);
            });
            settle().await;
            assert_eq!(e.waiting(), 3);
            cancel.cancel();
            settle().await;
            assert_eq!(e.waiting(), 2);
            e.set();
        })
        .await
        .unwrap();
        assert_eq!(woken.load(SeqCst), 2);
        assert_eq!(e.waiting(), 0);
    });
}

/// The paused clock: a wait under a timeout is cancelled exactly at the deadline (virtual
/// time), and leaves nothing registered.
#[test]
fn event_wait_times_out_on_the_paused_clock() {
    run_paused("event_wait_times_out_on_the_paused_clock", async {
        let e = Event::new();
        let t0 = trellis::time::Instant::now();
        assert!(
            move_on_after(Duration::from_secs(5), e.wait())
                .await
                .is_none()
        );
        assert_elapsed(t0, Duration::from_secs(5));
        assert_eq!(e.waiting(), 0);
    });
}

/// A set on one domain racing a fresh wait on the other: the waiter always returns (no lost
/// wakeup), over many rounds.
#[test]
fn event_set_vs_wait_two_workers() {
    let _w = Watchdog::new("event_set_vs_wait_two_workers");
    let rt = support::rt(2);
    for round in 0..2000 {
        rt.block_on(async {
            let e = Arc::new(Event::new());
            let e2 = e.clone();
            let waiter =
                trellis::spawn_on(DomainId::new(1), move || async move { e2.wait().await });
            let e3 = e.clone();
            let setter = trellis::spawn_on(DomainId::new(0), move || async move {
                for _ in 0..round % 50 {
                    std::hint::spin_loop();
                }
                e3.set();
            });
            setter.await.unwrap();
            waiter.await.unwrap();
            assert_eq!(e.waiting(), 0);
        });
    }
}

/// 100 waiters pinned on both domains, set from a plain thread: each wakes on its own domain.
#[test]
fn event_waiters_on_both_domains_set_from_a_plain_thread() {
    let _w = Watchdog::new("event_waiters_on_both_domains_set_from_a_plain_thread");
    let rt = support::rt(2);
    let e = Arc::new(Event::new());
    let e2 = e.clone();
    let setter = std::thread::spawn(move || {
        assert!(support::wait_until(Duration::from_secs(30), || e2
            .waiting()
            == 100));
        e2.set();
    });
    rt.block_on(async {
        let waiters: Vec<_> = (0..100)
            .map(|i| {
                let e = e.clone();
                let home = DomainId::new(i % 2);
                trellis::spawn_on(home, move || async move {
                    e.wait().await;
                    assert_eq!(trellis::domain::current(), Some(home));
                })
            })
            .collect();
        for w in waiters {
            w.await.unwrap();
        }
    });
    setter.join().unwrap();
}

#[test]
fn event_wait_blocking_from_plain_threads() {
    let _w = Watchdog::new("event_wait_blocking_from_plain_threads");
    let e = Arc::new(Event::new());
    let woken = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (e, woken) = (e.clone(), woken.clone());
            std::thread::spawn(move || {
                e.wait_blocking();
                woken.fetch_add(1, SeqCst);
            })
        })
        .collect();
    assert!(support::wait_until(Duration::from_secs(30), || e.waiting() == 4));
    assert_eq!(woken.load(SeqCst), 0);
    let e2 = e.clone();
    trellis::run(async move { trellis::spawn(async move { e2.set() }).await.unwrap() });
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(woken.load(SeqCst), 4);
    e.wait_blocking(); // set: returns at once
}

#[test]
fn event_wait_blocking_on_a_worker_panics() {
    let _w = Watchdog::new("event_wait_blocking_on_a_worker_panics");
    let err = trellis::run(async {
        trellis::spawn(async { Event::new().wait_blocking() })
            .await
            .unwrap_err()
    });
    let msg = support::panic_message(&*err.into_panic());
    assert!(msg.contains("Event::wait_blocking"), "{msg}");
}
