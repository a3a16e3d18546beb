//! Finding what blocks the workers with `TaskStats`, trio-util's instrument.
//!
//! ```text
//! cargo run --release --example task_stats
//! ```
//!
//! The Trio program it translates:
//!
//! ```python
//! async def main():
//!     async with trio.open_nursery() as nursery:
//!         nursery.start_soon(hog)      # computes for 30 ms without a checkpoint, 5 times
//!         nursery.start_soon(ticker)   # wakes 200 times a second
//!         nursery.start_soon(worker)   # well-behaved: short steps
//!
//! trio.run(main, instruments=[TaskStats(slow_task_threshold=.01)])
//! ```
//!
//! In Trellis the instrument is installed on the runtime builder, tasks are named with
//! `start_soon_named`, and the report is printed when the runtime stops (or read at any time
//! with `TaskStats::report`). Expect `hog` with five polls of about 30 ms under "slow task
//! step events", and `ticker` at about 200 Hz under "high task schedule rates".

use std::sync::Arc;
use std::time::Duration;

use trellis::time::{Instant, sleep};
use trellis::util::TaskStats;

/// Burns CPU for `d` without a checkpoint: the mistake `TaskStats` exists to find.
fn compute_for(d: Duration) -> u64 {
    let start = Instant::now();
    let mut x = 0u64;
    while start.elapsed() < d {
        for i in 0..1_000u64 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(i);
        }
    }
    x
}

fn main() {
    let stats = Arc::new(
        TaskStats::new()
            .slow_task_threshold(Duration::from_millis(10))
            .high_rate_task_threshold(100.0),
    );
    let rt = trellis::Runtime::builder()
        .workers(2)
        .instrument(stats.clone())
        .build()
        .expect("build runtime");
    rt.block_on(async {
        trellis::nursery(async |n| {
            n.start_soon_named("hog", async {
                for _ in 0..5 {
                    std::hint::black_box(compute_for(Duration::from_millis(30)));
                    sleep(Duration::from_millis(20)).await;
                }
            });
            n.start_soon_named("ticker", async {
                for _ in 0..200 {
                    sleep(Duration::from_millis(5)).await;
                }
            });
            n.start_soon_named("worker", async {
                for _ in 0..50 {
                    std::hint::black_box(compute_for(Duration::from_micros(200)));
                    trellis::yield_now().await;
                }
            });
        })
        .await
        .expect("no child fails");
    });
    println!("the runtime stops; TaskStats prints its report to stderr:");
    drop(rt);
    let report = stats.report();
    assert!(report.slow_steps().iter().any(|(name, _)| name == "hog"));
}
