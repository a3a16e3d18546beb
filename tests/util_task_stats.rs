//! `TaskStats`: trio-util's `test_task_stats.py`, on the paused clock, plus the report's parts.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::Watchdog;
use trellis::Runtime;
use trellis::time::{advance, sleep};
use trellis::util::TaskStats;

fn paused_with(stats: &Arc<TaskStats>, workers: usize) -> Runtime {
    support::build(
        support::builder(workers)
            .start_paused(true)
            .instrument(stats.clone()),
    )
}

/// trio-util `test_task_stats`. Differs on purpose in one figure: trio-util reports
/// `_slow_step_task: 300ms, 200ms`, because its `before_task_step` tests the schedule time for
/// truth and the mock clock starts at 0.0, so the first step (at t = 0) is never timed. Our
/// instants have no falsy zero, so all three slow steps are reported.
#[test]
fn test_task_stats() {
    let _wd = Watchdog::new("test_task_stats");
    let stats = Arc::new(
        TaskStats::new()
            .slow_task_threshold(Duration::from_millis(15))
            .high_rate_task_threshold(50.0)
            .print_on_stop(false),
    );
    let rt = paused_with(&stats, 2);
    rt.block_on(async {
        trellis::nursery(async |n| {
            n.start_soon_named("_slow_step_task", async {
                for i in 0..3u64 {
                    // simulate a long step time
                    advance(Duration::from_millis((i + 1) * 100));
                    trellis::yield_now().await;
                }
            });
            n.start_soon_named("_high_reschedule_rate_task", async {
                for _ in 0..60 {
                    sleep(Duration::from_secs_f64(1.0 / 60.0)).await;
                }
            });
        })
        .await
        .unwrap();
    });
    drop(rt);
    let text = stats.report().to_string();
    assert!(text.contains("slow task step events (> 15 ms)"), "{text}");
    assert!(
        text.contains("_slow_step_task: 300ms, 200ms, 100ms"),
        "{text}"
    );
    assert!(text.contains("high task schedule rates"), "{text}");
    assert!(text.contains("_high_reschedule_rate_task"), "{text}");
    assert!(!text.contains("_high_reschedule_rate_task: 0 Hz"), "{text}");
}

#[test]
fn task_stats_report_orders_names_worst_first() {
    let _wd = Watchdog::new("task_stats_report_orders_names_worst_first");
    let stats = Arc::new(TaskStats::new().print_on_stop(false));
    let rt = paused_with(&stats, 1);
    rt.block_on(async {
        for (name, ms) in [("a", 20u64), ("b", 50), ("a", 30), ("c", 5)] {
            trellis::TaskBuilder::new()
                .name(name)
                .spawn(async move { advance(Duration::from_millis(ms)) })
                .await
                .unwrap();
        }
    });
    let report = stats.report();
    let names: Vec<_> = report.slow_steps().iter().map(|s| s.0.as_str()).collect();
    assert_eq!(
        names,
        ["b", "a"],
        "c's 5 ms poll is under the 10 ms threshold"
    );
    assert_eq!(
        report.slow_steps()[1].1,
        [Duration::from_millis(30), Duration::from_millis(20)]
    );
    assert!(report.high_rates().is_empty());
}

#[test]
fn task_stats_measures_the_longest_scheduling_delay() {
    // One worker: a task woken while the worker is stuck in a 70 ms poll waits 70 ms.
    let _wd = Watchdog::new("task_stats_measures_the_longest_scheduling_delay");
    let stats = Arc::new(TaskStats::new().print_on_stop(false));
    let rt = paused_with(&stats, 1);
    rt.block_on(async {
        let (tx, mut rx) = trellis::channel::oneshot();
        trellis::spawn(async move {
            // Spawned on this (only) worker, which then stays in this poll for 70 ms.
            let _ = tx.send(trellis::spawn(async {}));
            advance(Duration::from_millis(70));
        })
        .await
        .unwrap();
        rx.recv().await.unwrap().await.unwrap();
    });
    let report = stats.report();
    assert_eq!(report.max_wait(), Duration::from_millis(70), "{report}");
    assert!(report.to_string().starts_with("max task wait time: "));
}

#[test]
fn task_stats_rates_below_the_threshold_are_not_reported() {
    let _wd = Watchdog::new("task_stats_rates_below_the_threshold_are_not_reported");
    let stats = Arc::new(TaskStats::new().print_on_stop(false)); // 100 Hz
    let rt = paused_with(&stats, 2);
    rt.block_on(async {
        trellis::TaskBuilder::new()
            .name("slow_ticker")
            .spawn(async {
                for _ in 0..40 {
                    sleep(Duration::from_millis(20)).await; // 50 Hz
                }
            })
            .await
            .unwrap();
        trellis::TaskBuilder::new()
            .name("fast_ticker")
            .spawn(async {
                for _ in 0..400 {
                    sleep(Duration::from_millis(2)).await; // 500 Hz
                }
            })
            .await
            .unwrap();
    });
    let report = stats.report();
    let names: Vec<_> = report.high_rates().iter().map(|r| r.0.as_str()).collect();
    assert_eq!(names, ["fast_ticker"], "{report}");
    let rate = report.high_rates()[0].1;
    assert!((400.0..=600.0).contains(&rate), "{report}");
}

#[test]
#[should_panic(expected = "high_rate_task_threshold")]
fn task_stats_rejects_a_nan_rate() {
    let _w = support::Watchdog::new("task_stats_rejects_a_nan_rate");
    let _ = TaskStats::new().high_rate_task_threshold(f64::NAN);
}
