//! The checkpoints inside `trellis::util`'s combinators are `trellis::poll_checkpoint`: a
//! cancellation point that spends the task's budget, without a forced trip through the
//! scheduler when the result is ready (outside a worker the budget is unlimited, so a ready
//! result is `Ready` at the first poll).

mod support;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use futures_lite::{StreamExt, stream};
use support::Watchdog;
use trellis::CancelScope;
use trellis::util::{AsyncValue, azip};

fn poll_once<F: Future>(fut: F) -> Poll<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    pin!(fut).poll(&mut cx)
}

/// A round of ready streams: its item comes at the first poll.
#[test]
fn azip_ready_round_needs_no_extra_poll() {
    let _wd = Watchdog::new("azip_ready_round_needs_no_extra_poll");
    let mut zipped = azip((stream::iter(0..3), stream::iter("abc".chars())));
    assert_eq!(poll_once(zipped.next()), Poll::Ready(Some((0, 'a'))));
    assert_eq!(poll_once(zipped.next()), Poll::Ready(Some((1, 'b'))));
}

/// `wait_value` whose predicate already holds: the value comes at the first poll.
#[test]
fn wait_value_already_true_needs_no_extra_poll() {
    let _wd = Watchdog::new("wait_value_already_true_needs_no_extra_poll");
    let value = AsyncValue::new(7);
    assert_eq!(
        poll_once(value.wait_value(|v: &i32| *v == 7)),
        Poll::Ready(7)
    );
}

/// Still a checkpoint: in a cancelled scope, a ready round is where the cancellation lands,
/// and so is a `wait_value` whose predicate holds.
#[test]
fn ready_util_checkpoints_are_cancellation_points() {
    let _wd = Watchdog::new("ready_util_checkpoints_are_cancellation_points");
    trellis::run(async {
        let value = AsyncValue::new(1);
        let scope = CancelScope::new();
        scope.handle().cancel();
        let out = scope.run(value.wait_value(|v: &i32| *v == 1)).await;
        assert_eq!(out, None);

        let scope = CancelScope::new();
        scope.handle().cancel();
        let out = scope
            .run(async {
                let mut zipped = azip((stream::iter(0..), stream::iter(0..)));
                zipped.next().await
            })
            .await;
        assert_eq!(out, None);
    });
}

/// On one worker, a task looping over an endless zip of ready streams (it never waits) still
/// lets a task queued behind it run: the rounds spend the budget.
#[test]
fn azip_of_ready_streams_does_not_starve_its_worker() {
    let _wd = Watchdog::new("azip_of_ready_streams_does_not_starve_its_worker");
    let rt = trellis::Runtime::builder()
        .workers(1)
        .build()
        .expect("build runtime");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    rt.block_on(async {
        let hot = trellis::spawn({
            let stop = stop.clone();
            async move {
                let mut zipped = azip((stream::iter(0u64..), stream::iter(0u64..)));
                let mut rounds = 0u64;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    zipped.next().await;
                    rounds += 1;
                }
                rounds
            }
        });
        let stopper = trellis::spawn({
            let stop = stop.clone();
            async move { stop.store(true, std::sync::atomic::Ordering::SeqCst) }
        });
        stopper.await.unwrap();
        assert!(hot.await.unwrap() >= 1);
    });
}
