//! `periodic`: trio-util's `test_periodic.py`, case by case, plus the edge cases of the
//! semantics reference (1.8). Every time is virtual (`start_paused`) and asserted exactly.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::Duration;

use futures_lite::StreamExt;
use support::Watchdog;
use trellis::CancelScope;
use trellis::time::{Instant, sleep};
use trellis::util::periodic;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// `elapsed` follows the period; `delta` is the period (after the first item); the loop
/// body's own time (0.123 s) is absorbed.
#[test]
fn test_periodic() {
    let _wd = Watchdog::new("test_periodic");
    support::paused_rt(2).block_on(async {
        let mut count = 0u32;
        let t0 = Instant::now();
        let mut ticks = periodic(secs(1.5));
        while let Some((elapsed, dt)) = ticks.next().await {
            assert_eq!(elapsed, secs(1.5) * count);
            assert_eq!(dt, (count != 0).then(|| secs(1.5)));
            if count == 3 {
                break;
            }
            sleep(secs(0.123)).await;
            count += 1;
        }
        assert_eq!(t0.elapsed(), secs(4.5));
    });
}

/// Every body overruns the period: each iteration starts at once after the body, and the
/// period is effectively ignored.
#[test]
fn test_periodic_overrun() {
    let _wd = Watchdog::new("test_periodic_overrun");
    support::paused_rt(2).block_on(async {
        let mut count = 0u32;
        let t0 = Instant::now();
        let mut ticks = periodic(secs(1.5));
        while let Some((elapsed, dt)) = ticks.next().await {
            assert_eq!(elapsed, secs(5.0) * count);
            assert_eq!(dt, (count != 0).then(|| secs(5.0)));
            if count == 3 {
                break;
            }
            sleep(secs(5.0)).await;
            count += 1;
        }
        assert_eq!(t0.elapsed(), secs(15.0));
    });
}

/// Semantics reference 1.8 (verified): period 1 with one 2.5 s body gives
/// `(0, None) (1, 1) (3.5, 2.5) (4.5, 1.0)`: no catch-up burst, the schedule re-anchors at the
/// late start.
#[test]
fn periodic_overrun_reanchors_without_catch_up() {
    let _wd = Watchdog::new("periodic_overrun_reanchors_without_catch_up");
    support::paused_rt(2).block_on(async {
        let mut ticks = periodic(secs(1.0));
        let mut seen = Vec::new();
        for i in 0..4 {
            seen.push(ticks.next().await.unwrap());
            if i == 1 {
                sleep(secs(2.5)).await;
            }
        }
        assert_eq!(
            seen,
            [
                (secs(0.0), None),
                (secs(1.0), Some(secs(1.0))),
                (secs(3.5), Some(secs(2.5))),
                (secs(4.5), Some(secs(1.0))),
            ]
        );
    });
}

/// The clock starts at the first poll, not when `periodic` is called.
#[test]
fn periodic_clock_starts_at_the_first_item() {
    let _wd = Watchdog::new("periodic_clock_starts_at_the_first_item");
    support::paused_rt(2).block_on(async {
        let t0 = Instant::now();
        let mut ticks = periodic(secs(1.0));
        sleep(secs(10.0)).await;
        assert_eq!(ticks.next().await, Some((Duration::ZERO, None)));
        assert_eq!(ticks.next().await, Some((secs(1.0), Some(secs(1.0)))));
        assert_eq!(t0.elapsed(), secs(11.0));
    });
}

/// The first item comes without a checkpoint (even in a cancelled scope); the second waits,
/// so it is where the cancellation lands.
#[test]
fn periodic_first_item_is_not_a_checkpoint() {
    let _wd = Watchdog::new("periodic_first_item_is_not_a_checkpoint");
    support::paused_rt(2).block_on(async {
        let mut ticks = periodic(secs(1.0));
        let mut seen = Vec::new();
        let scope = CancelScope::new();
        scope.handle().cancel();
        let out = scope
            .run(async {
                seen.push(ticks.next().await);
                seen.push(ticks.next().await);
            })
            .await;
        assert_eq!(out, None);
        assert_eq!(seen, [Some((Duration::ZERO, None))]);
    });
}

/// Overdue (the body overran): the next item is still a checkpoint, as Trio's `sleep_until` of a
/// past deadline: a cancelled scope stops it there. As every runtime operation that is ready at
/// once, it is a schedule point only once the task's budget is spent (no forced yield): on one
/// worker, a task queued behind the consumer has not run when the item comes.
#[test]
fn periodic_overdue_item_is_a_checkpoint() {
    let _wd = Watchdog::new("periodic_overdue_item_is_a_checkpoint");
    let rt = support::paused_rt(1);
    rt.block_on(async {
        trellis::spawn(async {
            let mut ticks = periodic(secs(1.0));
            ticks.next().await.unwrap();
            sleep(secs(3.0)).await; // overrun
            let ran = Arc::new(AtomicBool::new(false));
            let flag = ran.clone();
            let other = trellis::spawn(async move { flag.store(true, SeqCst) });
            let (elapsed, dt) = ticks.next().await.unwrap();
            assert!(!ran.load(SeqCst), "a ready item is not a forced yield");
            assert_eq!((elapsed, dt), (secs(3.0), Some(secs(3.0))));
            other.await.unwrap();

            sleep(secs(3.0)).await; // overrun again
            let scope = CancelScope::new();
            scope.handle().cancel();
            assert_eq!(scope.run(ticks.next()).await, None);
        })
        .await
        .unwrap();
    });
}

/// Overdue, and cancelled: the item is not produced; the cancellation lands there.
#[test]
fn periodic_overdue_item_is_a_cancel_point() {
    let _wd = Watchdog::new("periodic_overdue_item_is_a_cancel_point");
    support::paused_rt(2).block_on(async {
        let mut ticks = periodic(secs(1.0));
        ticks.next().await.unwrap();
        sleep(secs(3.0)).await;
        let scope = CancelScope::new();
        scope.handle().cancel();
        assert_eq!(scope.run(ticks.next()).await, None);
        // The stream kept its schedule: the overdue item comes now.
        assert_eq!(ticks.next().await, Some((secs(3.0), Some(secs(3.0)))));
    });
}

/// A zero period is accepted: a loop that only checkpoints, time stands still.
#[test]
fn periodic_zero_period_only_checkpoints() {
    let _wd = Watchdog::new("periodic_zero_period_only_checkpoints");
    support::paused_rt(2).block_on(async {
        let mut ticks = periodic(Duration::ZERO);
        assert_eq!(ticks.next().await, Some((Duration::ZERO, None)));
        for _ in 0..5 {
            assert_eq!(
                ticks.next().await,
                Some((Duration::ZERO, Some(Duration::ZERO)))
            );
        }
        let scope = CancelScope::new();
        scope.handle().cancel();
        assert_eq!(scope.run(ticks.next()).await, None);
    });
}

/// Dropping a pending `next()` loses nothing: the next call waits for the same instant.
#[test]
fn periodic_dropped_next_keeps_the_schedule() {
    let _wd = Watchdog::new("periodic_dropped_next_keeps_the_schedule");
    support::paused_rt(2).block_on(async {
        let t0 = Instant::now();
        let mut ticks = periodic(secs(2.0));
        ticks.next().await.unwrap();
        assert_eq!(trellis::move_on_after(secs(0.5), ticks.next()).await, None);
        assert_eq!(ticks.next().await, Some((secs(2.0), Some(secs(2.0)))));
        assert_eq!(t0.elapsed(), secs(2.0));
    });
}
