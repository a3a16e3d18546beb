//! `sleep` registers at its first poll and may be created outside a runtime; its deadline is
//! tokio's (creation plus the duration when created inside a runtime, first poll plus the
//! duration when created outside any). `Interval` is a `FusedStream`.

mod support;

use std::time::Duration;

use futures_core::FusedStream;
use support::{Watchdog, assert_elapsed, paused_runtime};
use trellis::time::{Instant, interval, sleep, sleep_until};

/// `trellis::run(move_on_after(d, sleep(x)))`: the sleep is made before the runtime exists.
#[test]
fn sleep_created_outside_a_runtime_runs_in_it() {
    let _wd = Watchdog::new("sleep_created_outside_a_runtime_runs_in_it");
    let out = trellis::run(trellis::move_on_after(
        Duration::from_millis(5),
        sleep(Duration::from_secs(3600)),
    ));
    assert_eq!(out, None);
    let short = sleep(Duration::from_millis(1));
    trellis::run(short);
}

/// Created outside any runtime, the deadline is counted from the first poll, on the runtime's
/// clock (here a paused one: exact).
#[test]
fn sleep_created_outside_counts_from_its_first_poll() {
    let _wd = Watchdog::new("sleep_created_outside_counts_from_its_first_poll");
    let nap = sleep(Duration::from_secs(5));
    let rt = paused_runtime(1);
    rt.block_on(async {
        sleep(Duration::from_secs(10)).await; // long after the sleep was made
        let t0 = Instant::now();
        nap.await;
        assert_elapsed(t0, Duration::from_secs(5));
    });
}

/// Created inside a runtime, the deadline is fixed at creation (tokio): awaited after it
/// passed, the sleep completes at once.
#[test]
fn sleep_created_inside_counts_from_its_creation() {
    let _wd = Watchdog::new("sleep_created_inside_counts_from_its_creation");
    let rt = paused_runtime(1);
    rt.block_on(async {
        let t0 = Instant::now();
        let nap = sleep(Duration::from_secs(2));
        assert_eq!(nap.deadline(), t0 + Duration::from_secs(2));
        sleep(Duration::from_secs(3)).await;
        let t1 = Instant::now();
        nap.await;
        assert_elapsed(t1, Duration::ZERO);
    });
}

/// A sleep polled outside any runtime panics with a message that says where to await it.
#[test]
fn sleep_polled_outside_a_runtime_panics_clearly() {
    let _wd = Watchdog::new("sleep_polled_outside_a_runtime_panics_clearly");
    let err = std::panic::catch_unwind(|| {
        let nap = std::pin::pin!(sleep_until(Instant::now()));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let _ = std::future::Future::poll(nap, &mut cx);
    })
    .unwrap_err();
    let msg = support::panic_message(&*err);
    assert!(msg.contains("polled outside a Trellis runtime"), "{msg}");
}

#[test]
fn interval_is_a_fused_stream_that_never_ends() {
    let _wd = Watchdog::new("interval_is_a_fused_stream_that_never_ends");
    let rt = paused_runtime(1);
    rt.block_on(async {
        let mut every = interval(Duration::from_secs(1));
        every.tick().await;
        every.tick().await;
        assert!(!every.is_terminated());
    });
}
