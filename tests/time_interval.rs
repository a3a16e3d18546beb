//! `trellis::time::interval`: the first tick is immediate, later ticks are never early (tick k
//! is not before `start + k * period`), it works as `.tick().await` and as a `Stream`, and an
//! interval can be dropped or aborted while waiting.

mod support;

use std::time::Duration;

use futures_lite::StreamExt;
use support::{Tracker, Watchdog, wait_until};
use trellis::time::{Instant, interval};

/// Allowance for timer granularity when checking that a tick is not early.
const EPSILON: Duration = Duration::from_millis(1);
const SANITY: Duration = Duration::from_secs(20);

#[test]
fn first_tick_is_immediate_and_the_second_is_not() {
    let _wd = Watchdog::new("first_tick_is_immediate_and_the_second_is_not");
    let rt = support::rt_named(1, "trl-ival");
    rt.block_on(rt.spawn(async {
        let start = Instant::now();
        let mut iv = interval(Duration::from_secs(10));
        let first = iv.tick().await;
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the first tick of a 10 s interval took {:?}",
            start.elapsed()
        );
        assert!(first <= Instant::now());
        // The second tick is 10 s away: one poll leaves it pending.
        assert!(futures_lite::future::poll_once(iv.tick()).await.is_none());
    }))
    .unwrap();
}

fn ticks_never_early(period: Duration, n: u32) {
    let rt = support::rt_named(2, "trl-ival");
    let count = rt
        .block_on(rt.spawn(async move {
            let created = Instant::now();
            let mut iv = interval(period);
            let mut last: Option<Instant> = None;
            let mut count = 0u32;
            for k in 0..n {
                let t = iv.tick().await;
                let now = Instant::now();
                assert!(t <= now, "tick {k} returned an instant in the future");
                if let Some(prev) = last {
                    assert!(t > prev, "tick {k}: instants not increasing");
                }
                last = Some(t);
                assert!(
                    now + EPSILON >= created + period * k,
                    "tick {k} of a {period:?} interval came {:?} early",
                    (created + period * k) - now
                );
                assert!(now - created < SANITY);
                count += 1;
            }
            count
        }))
        .unwrap();
    assert_eq!(count, n);
}

#[test]
fn ticks_are_spaced_by_the_period() {
    let _wd = Watchdog::new("ticks_are_spaced_by_the_period");
    ticks_never_early(Duration::from_millis(20), 8);
    ticks_never_early(Duration::from_millis(3), 20);
}

#[test]
fn interval_is_a_stream() {
    let _wd = Watchdog::new("interval_is_a_stream");
    let rt = support::rt_named(1, "trl-ival");
    let period = Duration::from_millis(10);
    let (created, ticks) = rt
        .block_on(rt.spawn(async move {
            let created = Instant::now();
            let mut iv = std::pin::pin!(interval(period));
            let mut ticks = Vec::new();
            for _ in 0..5 {
                ticks.push(iv.next().await.expect("an interval stream never ends"));
            }
            (created, ticks)
        }))
        .unwrap();
    assert_eq!(ticks.len(), 5);
    assert!(ticks.windows(2).all(|w| w[0] < w[1]), "{ticks:?}");
    assert!(Instant::now() + EPSILON >= created + period * 4);
}

#[test]
fn interval_on_the_block_on_thread() {
    let _wd = Watchdog::new("interval_on_the_block_on_thread");
    let rt = support::rt_named(1, "trl-ival");
    let period = Duration::from_millis(5);
    let elapsed = rt.block_on(async move {
        let created = Instant::now();
        let mut iv = interval(period);
        for _ in 0..4 {
            iv.tick().await;
        }
        created.elapsed()
    });
    assert!(
        elapsed + EPSILON >= period * 3,
        "4 ticks took only {elapsed:?}"
    );
}

#[test]
fn slow_consumer_gets_no_early_ticks_and_no_hang() {
    let _wd = Watchdog::new("slow_consumer_gets_no_early_ticks_and_no_hang");
    let rt = support::rt_named(1, "trl-ival");
    let period = Duration::from_millis(5);
    rt.block_on(rt.spawn(async move {
        let created = Instant::now();
        let mut iv = interval(period);
        for k in 0..6u32 {
            iv.tick().await;
            assert!(Instant::now() + EPSILON >= created + period * k);
            // Miss a few periods.
            trellis::time::sleep(period * 3).await;
        }
    }))
    .unwrap();
}

async fn tick_forever(period: Duration) {
    let mut iv = interval(period);
    loop {
        iv.tick().await;
    }
}

#[test]
fn aborting_a_ticking_task_is_fine() {
    let _wd = Watchdog::new("aborting_a_ticking_task_is_fine");
    let rt = support::rt_named(2, "trl-ival");
    let tracker = Tracker::new();
    let hs: Vec<_> = (0..100)
        .map(|i| rt.spawn(tracker.track(tick_forever(Duration::from_millis(1 + i % 7)))))
        .collect();
    assert!(wait_until(SANITY, || tracker.polled.get() == 100));
    std::thread::sleep(Duration::from_millis(20)); // let them tick a little (not for ordering)
    for h in &hs {
        h.abort();
    }
    for h in hs {
        assert!(rt.block_on(h).unwrap_err().is_cancelled());
    }
    assert_eq!(tracker.dropped.get(), 100);
    // Dropping an interval that was never polled is fine too.
    rt.block_on(async { drop(interval(Duration::from_millis(1))) });
}

#[test]
fn zero_period_is_rejected_or_works_without_hanging() {
    let _wd = Watchdog::new("zero_period_is_rejected_or_works_without_hanging");
    let rt = support::rt_named(1, "trl-ival");
    let res = rt.block_on(rt.spawn(async {
        let mut iv = interval(Duration::ZERO);
        for _ in 0..100 {
            iv.tick().await;
        }
    }));
    match res {
        Ok(()) => {}
        Err(e) => {
            assert!(e.is_panic(), "{e:?}");
            let msg = support::panic_message(&*e.into_panic());
            assert!(
                msg.contains("period") || msg.contains("zero"),
                "interval(0) should explain its rejection: {msg:?}"
            );
        }
    }
}

#[test]
fn huge_period_never_ticks_again_or_is_rejected_clearly() {
    let _wd = Watchdog::new("huge_period_never_ticks_again_or_is_rejected_clearly");
    let rt = support::rt_named(1, "trl-ival");
    // Either the second tick is "never" (pending), or `interval` rejects the period with a
    // panic that names it; a raw `Instant` overflow panic from inside `tick` is neither.
    let res = rt.block_on(rt.spawn(async {
        let mut iv = interval(Duration::MAX);
        iv.tick().await; // the first tick is immediate
        futures_lite::future::poll_once(iv.tick()).await.is_none()
    }));
    match res {
        Ok(pending) => assert!(
            pending,
            "the second tick of interval(Duration::MAX) completed"
        ),
        Err(e) => {
            assert!(e.is_panic(), "{e:?}");
            let msg = support::panic_message(&*e.into_panic());
            assert!(
                msg.contains("interval"),
                "interval(Duration::MAX) failed with an unclear panic: {msg:?}"
            );
        }
    }
}
