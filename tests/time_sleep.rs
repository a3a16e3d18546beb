//! `trellis::time::{sleep, sleep_until}`: lower bounds (never early), zero and past deadlines,
//! many concurrent timers, cancellation of pending sleeps, and sleeping on the `block_on` thread.
//! Upper bounds are generous sanity limits only.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use support::{Tracker, Watchdog, wait_until};
use trellis::time::{Instant, sleep, sleep_until};

const SANITY: Duration = Duration::from_secs(20);

#[test]
fn sleep_elapses_at_least_its_duration() {
    let _wd = Watchdog::new("sleep_elapses_at_least_its_duration");
    let rt = support::rt_named(2, "trl-time");
    for ms in [1u64, 10, 50] {
        let d = Duration::from_millis(ms);
        let took = rt
            .block_on(rt.spawn(async move {
                let start = Instant::now();
                sleep(d).await;
                start.elapsed()
            }))
            .unwrap();
        assert!(took >= d, "sleep({d:?}) returned after {took:?}");
        assert!(took < SANITY, "sleep({d:?}) took {took:?}");
    }
}

#[test]
fn sleep_on_the_block_on_thread() {
    let _wd = Watchdog::new("sleep_on_the_block_on_thread");
    let rt = support::rt_named(1, "trl-time");
    let d = Duration::from_millis(20);
    let took = rt.block_on(async move {
        let start = Instant::now();
        sleep(d).await;
        start.elapsed()
    });
    assert!(
        took >= d,
        "sleep({d:?}) on the block_on thread returned after {took:?}"
    );
    assert!(took < SANITY);
}

#[test]
fn sleep_until_reaches_its_deadline() {
    let _wd = Watchdog::new("sleep_until_reaches_its_deadline");
    let rt = support::rt_named(2, "trl-time");
    let (deadline, woke) = rt
        .block_on(rt.spawn(async {
            let deadline = Instant::now() + Duration::from_millis(30);
            sleep_until(deadline).await;
            (deadline, Instant::now())
        }))
        .unwrap();
    assert!(
        woke >= deadline,
        "sleep_until woke {:?} early",
        deadline - woke
    );
    // And on the block_on thread.
    let (deadline, woke) = rt.block_on(async {
        let deadline = Instant::now() + Duration::from_millis(15);
        sleep_until(deadline).await;
        (deadline, Instant::now())
    });
    assert!(woke >= deadline);
}

#[test]
fn zero_and_past_deadlines_complete() {
    let _wd = Watchdog::new("zero_and_past_deadlines_complete");
    let rt = support::rt_named(1, "trl-time");
    rt.block_on(rt.spawn(async {
        sleep(Duration::ZERO).await;
        sleep(Duration::from_nanos(1)).await;
        let past = Instant::now();
        sleep(Duration::from_millis(2)).await;
        sleep_until(past).await;
        sleep_until(Instant::now()).await;
    }))
    .unwrap();
    rt.block_on(async {
        sleep(Duration::ZERO).await;
        sleep_until(Instant::now()).await;
    });
}

#[test]
fn sleep_zero_in_a_loop_lets_others_run() {
    let _wd = Watchdog::new("sleep_zero_in_a_loop_lets_others_run");
    // sleep(0) is a checkpoint: a loop of them on the single worker must not starve a sibling.
    let rt = support::rt_named(1, "trl-time");
    let flag = Arc::new(AtomicUsize::new(0));
    let f2 = flag.clone();
    rt.block_on(rt.spawn(async move {
        let f3 = f2.clone();
        let other = trellis::spawn(async move {
            f3.store(1, SeqCst);
        });
        while f2.load(SeqCst) == 0 {
            sleep(Duration::ZERO).await;
        }
        other.await.unwrap();
    }))
    .unwrap();
    assert_eq!(flag.load(SeqCst), 1);
}

#[test]
fn hundred_thousand_concurrent_sleeps_all_complete() {
    let _wd = Watchdog::new("hundred_thousand_concurrent_sleeps_all_complete");
    let rt = support::rt_named(2, "trl-time");
    let done = Arc::new(AtomicUsize::new(0));
    let early = Arc::new(AtomicUsize::new(0));
    let (d, e) = (done.clone(), early.clone());
    rt.block_on(async move {
        let hs: Vec<_> = (0..100_000u64)
            .map(|i| {
                let (d, e) = (d.clone(), e.clone());
                trellis::spawn(async move {
                    let dur = Duration::from_millis(1 + (i * 7919) % 50);
                    let start = Instant::now();
                    sleep(dur).await;
                    if start.elapsed() < dur {
                        e.fetch_add(1, SeqCst);
                    }
                    d.fetch_add(1, SeqCst);
                })
            })
            .collect();
        for h in hs {
            h.await.unwrap();
        }
    });
    assert_eq!(done.load(SeqCst), 100_000);
    assert_eq!(
        early.load(SeqCst),
        0,
        "some sleeps returned before their duration"
    );
}

#[test]
fn aborting_a_sleeping_task_is_fine() {
    let _wd = Watchdog::new("aborting_a_sleeping_task_is_fine");
    let rt = support::rt_named(2, "trl-time");
    let tracker = Tracker::new();
    let hs: Vec<_> = (0..1000)
        .map(|i| {
            rt.spawn(tracker.track(async move {
                sleep(Duration::from_millis(10 + i % 20) * 1000).await;
            }))
        })
        .collect();
    assert!(wait_until(SANITY, || tracker.polled.get() == 1000));
    for h in &hs {
        h.abort();
    }
    for h in hs {
        assert!(rt.block_on(h).unwrap_err().is_cancelled());
    }
    assert_eq!(tracker.dropped.get(), 1000);
    // The timer machinery still works after many cancelled entries.
    let took = rt
        .block_on(rt.spawn(async {
            let start = Instant::now();
            sleep(Duration::from_millis(5)).await;
            start.elapsed()
        }))
        .unwrap();
    assert!(took >= Duration::from_millis(5));
}

#[test]
fn dropping_a_sleep_before_and_after_its_first_poll() {
    let _wd = Watchdog::new("dropping_a_sleep_before_and_after_its_first_poll");
    let rt = support::rt_named(1, "trl-time");
    rt.block_on(rt.spawn(async {
        // Never polled.
        drop(sleep(Duration::from_secs(3600)));
        // Polled once (registered), then dropped.
        for _ in 0..100 {
            let mut s = Box::pin(sleep(Duration::from_secs(3600)));
            assert!(futures_lite::future::poll_once(s.as_mut()).await.is_none());
            drop(s);
        }
        // Polled once with a short deadline, dropped, deadline passes: nothing fires into freed
        // memory, later timers still work.
        for _ in 0..100 {
            let mut s = Box::pin(sleep(Duration::from_millis(1)));
            let _ = futures_lite::future::poll_once(s.as_mut()).await;
            drop(s);
        }
        sleep(Duration::from_millis(5)).await;
    }))
    .unwrap();
}

#[test]
fn sleep_future_moves_between_polls() {
    let _wd = Watchdog::new("sleep_future_moves_between_polls");
    // A pinned-and-boxed sleep polled on one task, then awaited in another after moving the box.
    let rt = support::rt_named(2, "trl-time");
    let took = rt.block_on(async {
        let start = Instant::now();
        let mut s = Box::pin(sleep(Duration::from_millis(20)));
        assert!(futures_lite::future::poll_once(s.as_mut()).await.is_none());
        trellis::spawn(s).await.unwrap();
        start.elapsed()
    });
    assert!(took >= Duration::from_millis(20));
}

#[test]
fn earlier_timer_registered_later_fires_first() {
    let _wd = Watchdog::new("earlier_timer_registered_later_fires_first");
    let rt = support::rt_named(1, "trl-time");
    rt.block_on(rt.spawn(async {
        let long = trellis::spawn(sleep(Duration::from_secs(20)));
        trellis::yield_now().await;
        let short = trellis::spawn(sleep(Duration::from_millis(10)));
        short.await.unwrap();
        assert!(
            !long.is_finished(),
            "a 20 s sleep finished before a 10 ms sleep registered after it"
        );
        long.abort();
        assert!(long.await.unwrap_err().is_cancelled());
    }))
    .unwrap();
}

#[test]
fn huge_durations_never_fire_or_are_rejected_clearly() {
    let _wd = Watchdog::new("huge_durations_never_fire_or_are_rejected_clearly");
    let rt = support::rt_named(1, "trl-time");
    for d in [
        Duration::MAX,
        Duration::from_secs(u64::MAX / 2),
        Duration::from_secs(100 * 365 * 24 * 3600),
    ] {
        // `Instant::now() + d` overflows for the first two. Either the runtime saturates
        // ("never": the sleep stays pending) or it rejects the duration with a panic that
        // says so (ARCHITECTURE.md, guarantee G14); it must never complete at once or hang.
        let res = rt.block_on(rt.spawn(async move {
            let mut s = Box::pin(sleep(d));
            futures_lite::future::poll_once(s.as_mut()).await.is_none()
        }));
        match res {
            Ok(pending) => assert!(pending, "sleep({d:?}) completed at once"),
            Err(e) => {
                assert!(e.is_panic(), "{e:?}");
                let msg = support::panic_message(&*e.into_panic());
                assert!(
                    msg.contains("sleep") && msg.contains("overflow"),
                    "sleep({d:?}) was rejected without a clear message: {msg:?}"
                );
                println!("sleep({d:?}) is rejected: {msg}");
            }
        }
    }
    // The timer still works.
    rt.block_on(rt.spawn(async { sleep(Duration::from_millis(1)).await }))
        .unwrap();
}

#[test]
fn sleep_repolled_from_other_workers_still_fires() {
    let _wd = Watchdog::new("sleep_repolled_from_other_workers_still_fires");
    let rt = support::rt_named(2, "trl-time");
    let elapsed = rt
        .block_on(rt.spawn(async {
            // Background load so the polling task migrates between workers.
            let load: Vec<_> = (0..4)
                .map(|_| {
                    trellis::spawn(async {
                        for _ in 0..2000 {
                            trellis::yield_now().await;
                        }
                    })
                })
                .collect();
            let start = Instant::now();
            let mut s = Box::pin(sleep(Duration::from_millis(30)));
            loop {
                if futures_lite::future::poll_once(s.as_mut()).await.is_some() {
                    break;
                }
                trellis::yield_now().await;
            }
            for l in load {
                l.await.unwrap();
            }
            start.elapsed()
        }))
        .unwrap();
    assert!(elapsed >= Duration::from_millis(30));
}
