//! `iter_move_on_after` / `iter_fail_after`: trio-util's `test_iterators.py`, case by case, plus
//! the semantics of 1.9 in the reference (fresh deadline per item, consumer time not counted,
//! the source finished after a timeout). Every time is virtual (`start_paused`), exact.

mod support;

use std::time::Duration;

use futures_lite::{Stream, StreamExt, stream};
use support::{Counter, DropToken, Watchdog};
use trellis::TooSlow;
use trellis::time::{Instant, sleep};
use trellis::util::{iter_fail_after, iter_move_on_after};

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// trio-util's `_generator(*durations)`: for each duration, sleep it, then yield its index.
fn generator(durations: &[f64]) -> impl Stream<Item = usize> + Send + 'static {
    generator_with_token(durations, None)
}

/// `generator`, holding `token` (so its drop can be observed).
fn generator_with_token(
    durations: &[f64],
    token: Option<DropToken>,
) -> impl Stream<Item = usize> + Send + 'static {
    let durations: Vec<Duration> = durations.iter().map(|&d| secs(d)).collect();
    stream::unfold((0, durations, token), |(i, durations, token)| async move {
        let d = *durations.get(i)?;
        sleep(d).await;
        Some((i, (i + 1, durations, token)))
    })
}

#[test]
fn test_iter_move_on_after() {
    let _wd = Watchdog::new("test_iter_move_on_after");
    support::paused_rt(2).block_on(async {
        let t0 = Instant::now();
        let mut last_i = None;
        let mut items = iter_move_on_after(secs(20.0), generator(&[0.0, 1.0, 1.0, 5.0, 1.0]));
        while let Some(i) = items.next().await {
            last_i = Some(i);
        }
        assert_eq!(last_i, Some(4));
        assert_eq!(t0.elapsed(), secs(8.0));
    });
}

#[test]
fn test_iter_move_on_after_caught() {
    let _wd = Watchdog::new("test_iter_move_on_after_caught");
    support::paused_rt(2).block_on(async {
        let t0 = Instant::now();
        let mut last_i = None;
        let mut items = iter_move_on_after(secs(2.0), generator(&[0.0, 1.0, 1.0, 5.0, 1.0]));
        while let Some(i) = items.next().await {
            last_i = Some(i);
        }
        assert_eq!(last_i, Some(2));
        // Items at 0, 1, 2 s; the 5 s wait for the fourth is cut at 2 s.
        assert_eq!(t0.elapsed(), secs(4.0));
    });
}

#[test]
fn test_iter_fail_after() {
    let _wd = Watchdog::new("test_iter_fail_after");
    support::paused_rt(2).block_on(async {
        let mut last_i = None;
        let mut items = iter_fail_after(secs(20.0), generator(&[0.0, 1.0, 1.0, 5.0, 1.0]));
        while let Some(i) = items.next().await {
            last_i = Some(i.expect("no timeout"));
        }
        assert_eq!(last_i, Some(4));
    });
}

#[test]
fn test_iter_fail_after_caught() {
    let _wd = Watchdog::new("test_iter_fail_after_caught");
    support::paused_rt(2).block_on(async {
        let t0 = Instant::now();
        let mut last_i = None;
        let mut items = iter_fail_after(secs(2.0), generator(&[0.0, 1.0, 1.0, 5.0, 1.0]));
        // The loop body of trio-util's test, with `?` standing for the raise.
        let result: Result<(), TooSlow> = async {
            while let Some(i) = items.next().await {
                last_i = Some(i?);
            }
            Ok(())
        }
        .await;
        assert_eq!(result, Err(TooSlow));
        assert_eq!(last_i, Some(2));
        assert_eq!(t0.elapsed(), secs(4.0));
        // Like the cancelled source in trio-util, the stream cannot be resumed.
        assert_eq!(items.next().await, None);
    });
}

/// Each item has its own deadline: 1.5 s per item with a 2 s timeout passes, although the
/// total (4.5 s) is over it.
#[test]
fn iter_timeout_deadline_is_fresh_per_item() {
    let _wd = Watchdog::new("iter_timeout_deadline_is_fresh_per_item");
    support::paused_rt(2).block_on(async {
        let got: Vec<_> = iter_fail_after(secs(2.0), generator(&[1.5, 1.5, 1.5]))
            .collect()
            .await;
        assert_eq!(got, [Ok(0), Ok(1), Ok(2)]);
        let got: Vec<_> = iter_move_on_after(secs(2.0), generator(&[1.5, 1.5, 1.5]))
            .collect()
            .await;
        assert_eq!(got, [0, 1, 2]);
    });
}

/// The time the consumer spends between items does not count against the timeout.
#[test]
fn iter_timeout_ignores_consumer_time() {
    let _wd = Watchdog::new("iter_timeout_ignores_consumer_time");
    support::paused_rt(2).block_on(async {
        let t0 = Instant::now();
        let mut items = iter_move_on_after(secs(2.0), generator(&[1.0, 1.0, 1.0]));
        let mut got = Vec::new();
        while let Some(i) = items.next().await {
            got.push(i);
            sleep(secs(10.0)).await; // the consumer's body
        }
        assert_eq!(got, [0, 1, 2]);
        assert_eq!(t0.elapsed(), secs(33.0));
    });
}

/// At the timeout the source is dropped at once (trio-util cancels its pending `__anext__`,
/// which finishes it), not when the adapter goes.
#[test]
fn iter_timeout_drops_the_source() {
    let _wd = Watchdog::new("iter_timeout_drops_the_source");
    support::paused_rt(2).block_on(async {
        for fail in [false, true] {
            let dropped = Counter::new();
            let source = generator_with_token(&[0.0, 5.0], Some(DropToken(dropped.clone())));
            if fail {
                let mut items = iter_fail_after(secs(1.0), source);
                assert_eq!(items.next().await, Some(Ok(0)));
                assert_eq!(dropped.get(), 0);
                assert_eq!(items.next().await, Some(Err(TooSlow)));
                assert_eq!(dropped.get(), 1, "dropped at the timeout");
                assert_eq!(items.next().await, None);
            } else {
                let mut items = iter_move_on_after(secs(1.0), source);
                assert_eq!(items.next().await, Some(0));
                assert_eq!(dropped.get(), 0);
                assert_eq!(items.next().await, None);
                assert_eq!(dropped.get(), 1, "dropped at the timeout");
                assert_eq!(items.next().await, None);
            }
        }
    });
}

/// A source that ends ends the adapter, without an error.
#[test]
fn iter_timeout_source_end_is_not_an_error() {
    let _wd = Watchdog::new("iter_timeout_source_end_is_not_an_error");
    support::paused_rt(2).block_on(async {
        let t0 = Instant::now();
        let got: Vec<_> = iter_fail_after(secs(1.0), generator(&[0.5]))
            .collect()
            .await;
        assert_eq!(got, [Ok(0)]);
        assert_eq!(t0.elapsed(), secs(0.5));
    });
}

/// A zero timeout still delivers items that are ready at once (a cancellation lands only at a
/// wait), and stops at the first one that is not.
#[test]
fn iter_timeout_zero_delivers_ready_items() {
    let _wd = Watchdog::new("iter_timeout_zero_delivers_ready_items");
    support::paused_rt(2).block_on(async {
        let source = stream::iter([1, 2]).chain(stream::pending());
        let got: Vec<_> = iter_fail_after(Duration::ZERO, source).collect().await;
        assert_eq!(got, [Ok(1), Ok(2), Err(TooSlow)]);
    });
}
