//! `trellis::to_thread`: a blocking closure that keeps structured concurrency. A nursery whose
//! child is in `to_thread` when cancelled returns only after the closure has returned; the
//! value is then dropped and the child stops there. A limiter bounds how many closures run at
//! once; `abandon_on_cancel(true)` lets the caller go at once.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use support::{Counter, DropToken, Watchdog, panic_message};
use trellis::sync::CapacityLimiter;
use trellis::{CancelScope, Runtime};

fn build() -> Runtime {
    Runtime::builder()
        .workers(2)
        .build()
        .expect("build runtime")
}

/// Flags shared between the test, the nursery and the blocking closure.
#[derive(Default)]
struct Flags {
    started: AtomicBool,
    cancelled: AtomicBool,
    finished: AtomicBool,
    after_to_thread: AtomicBool,
}

#[test]
fn to_thread_cancelled_nursery_waits_for_the_closure() {
    let _wd = Watchdog::new("to_thread_cancelled_nursery_waits_for_the_closure");
    let rt = build();
    let flags = Arc::new(Flags::default());
    let drops = Counter::new();
    let (release, released) = mpsc::channel::<()>();
    // Releases the closure a little after the cancellation: the nursery must still be waiting
    // for it then (were it not, it would have returned with `finished` still false).
    let releaser = std::thread::spawn({
        let flags = flags.clone();
        move || {
            while !flags.cancelled.load(SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis(30));
            let _ = release.send(());
        }
    });
    let out = rt.block_on({
        let flags = flags.clone();
        let drops = drops.clone();
        async move {
            trellis::nursery(async |n| {
                let child_flags = flags.clone();
                n.start_soon(async move {
                    let f = child_flags.clone();
                    let value = trellis::to_thread(move || {
                        f.started.store(true, SeqCst);
                        released.recv().unwrap();
                        f.finished.store(true, SeqCst);
                        DropToken(drops)
                    })
                    .await;
                    child_flags.after_to_thread.store(true, SeqCst);
                    drop(value);
                });
                while !flags.started.load(SeqCst) {
                    trellis::time::sleep(Duration::from_millis(1)).await;
                }
                n.cancel();
                flags.cancelled.store(true, SeqCst);
            })
            .await
        }
    });
    // The nursery returned only after the closure had returned.
    assert!(
        flags.finished.load(SeqCst),
        "the nursery returned while the closure ran"
    );
    assert!(out.is_ok(), "a cancelled nursery exits cleanly: {out:?}");
    // The value was dropped, and the child stopped at the call.
    assert_eq!(drops.get(), 1);
    assert!(!flags.after_to_thread.load(SeqCst));
    releaser.join().unwrap();
}

/// The same inside a plain `CancelScope` with a deadline: `None`, after the closure returned.
#[test]
fn to_thread_cancel_scope_waits_for_the_closure() {
    let _wd = Watchdog::new("to_thread_cancel_scope_waits_for_the_closure");
    let rt = build();
    let finished = Arc::new(AtomicBool::new(false));
    let out = rt.block_on({
        let finished = finished.clone();
        async move {
            let scope = CancelScope::new();
            let cancel = scope.handle();
            scope
                .run(trellis::to_thread(move || {
                    cancel.cancel(); // cancelled while the closure runs
                    std::thread::sleep(Duration::from_millis(20));
                    finished.store(true, SeqCst);
                    5
                }))
                .await
        }
    });
    assert_eq!(out, None);
    assert!(finished.load(SeqCst));
}

#[test]
fn to_thread_returns_the_value_and_reraises_a_panic() {
    let _wd = Watchdog::new("to_thread_returns_the_value_and_reraises_a_panic");
    let rt = build();
    let v = rt.block_on(async { trellis::to_thread(|| 6 * 7).await });
    assert_eq!(v, 42);
    let failed = rt.block_on(async {
        trellis::spawn(async { trellis::to_thread(|| panic!("boom in a thread")).await })
            .await
            .unwrap_err()
    });
    assert!(failed.is_panic());
    assert!(panic_message(&*failed.into_panic()).contains("boom in a thread"));
}

/// A panic of the closure is never lost, even when the call was cancelled meanwhile.
#[test]
fn to_thread_panic_is_reraised_when_cancelled() {
    let _wd = Watchdog::new("to_thread_panic_is_reraised_when_cancelled");
    let rt = build();
    let failed = rt.block_on(async {
        trellis::spawn(async {
            let scope = CancelScope::new();
            let cancel = scope.handle();
            scope
                .run(trellis::to_thread(move || {
                    cancel.cancel();
                    panic!("boom after cancel")
                }))
                .await
        })
        .await
        .unwrap_err()
    });
    assert!(panic_message(&*failed.into_panic()).contains("boom after cancel"));
}

#[test]
fn to_thread_limiter_bounds_concurrency() {
    let _wd = Watchdog::new("to_thread_limiter_bounds_concurrency");
    let rt = build();
    let limiter = Arc::new(CapacityLimiter::new(2));
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    rt.block_on({
        let (limiter, running, most) = (limiter.clone(), running.clone(), most.clone());
        async move {
            trellis::nursery(async |n| {
                for _ in 0..6 {
                    let (limiter, running, most) = (limiter.clone(), running.clone(), most.clone());
                    n.start_soon(async move {
                        trellis::to_thread(move || {
                            let now = running.fetch_add(1, SeqCst) + 1;
                            most.fetch_max(now, SeqCst);
                            std::thread::sleep(Duration::from_millis(5));
                            running.fetch_sub(1, SeqCst);
                        })
                        .limiter(limiter)
                        .await;
                    });
                }
            })
            .await
            .unwrap();
        }
    });
    assert!(most.load(SeqCst) <= 2, "{} ran at once", most.load(SeqCst));
    assert!(most.load(SeqCst) >= 1);
    assert_eq!(limiter.borrowed_tokens(), 0);
}

/// Cancelled while waiting for a token: nothing runs, nothing is held.
#[test]
fn to_thread_cancelled_waiting_for_a_token_runs_nothing() {
    let _wd = Watchdog::new("to_thread_cancelled_waiting_for_a_token_runs_nothing");
    let rt = build();
    let limiter = Arc::new(CapacityLimiter::new(1));
    let ran = Arc::new(AtomicBool::new(false));
    rt.block_on({
        let (limiter, ran) = (limiter.clone(), ran.clone());
        async move {
            let _held = limiter.try_acquire().unwrap();
            let out = trellis::move_on_after(
                Duration::from_millis(5),
                trellis::to_thread(move || ran.store(true, SeqCst)).limiter(limiter.clone()),
            )
            .await;
            assert_eq!(out, None);
            assert_eq!(limiter.borrowed_tokens(), 1); // only ours
        }
    });
    assert!(!ran.load(SeqCst));
}

/// `abandon_on_cancel(true)`: the scope returns at once; the closure runs on, holding its
/// token until it returns.
#[test]
fn to_thread_abandon_on_cancel_returns_at_once() {
    let _wd = Watchdog::new("to_thread_abandon_on_cancel_returns_at_once");
    let rt = build();
    let limiter = Arc::new(CapacityLimiter::new(1));
    let (release, released) = mpsc::channel::<()>();
    let finished = Arc::new(AtomicBool::new(false));
    let out = rt.block_on({
        let (limiter, finished) = (limiter.clone(), finished.clone());
        async move {
            let scope = CancelScope::new();
            let cancel = scope.handle();
            scope
                .run(
                    trellis::to_thread(move || {
                        cancel.cancel(); // cancelled while running
                        released.recv().unwrap();
                        finished.store(true, SeqCst);
                    })
                    .limiter(limiter)
                    .abandon_on_cancel(true),
                )
                .await
        }
    });
    assert_eq!(out, None);
    // The closure is still blocked (it waits for `release`), and still holds its token.
    assert!(!finished.load(SeqCst));
    assert_eq!(limiter.borrowed_tokens(), 1);
    release.send(()).unwrap();
    assert!(support::wait_until(Duration::from_secs(10), || {
        limiter.borrowed_tokens() == 0
    }));
    assert!(finished.load(SeqCst));
}
