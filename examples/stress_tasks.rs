//! Stress: a million tasks across every domain, every one dropped exactly once, then ten
//! thousand injected panics that kill no worker.
//!
//! ```text
//! STRESS_SCALE=1 cargo run --release --example stress_tasks
//! ```
//!
//! Phase 1 spawns `1_000_000 × STRESS_SCALE` tasks in rounds: from the `block_on` thread
//! (through the injector and the domains' inboxes) and from a spawner task on each domain
//! (its LIFO slot and local queue, stolen by the others), stealable and pinned alike, a
//! quarter of them yielding once. Each future holds a drop slot, so a future dropped twice or
//! never is seen, not averaged away. Phase 2 injects `10_000 × STRESS_SCALE` panics (at the
//! first poll, after a yield, on every domain) and compares which thread runs each domain, and
//! how many worker threads live, before and after. Prints `RELIABILITY stress_tasks.key=value`
//! lines; exits 1 if an invariant failed.

#[path = "stress/common.rs"]
mod common;

use std::sync::Arc;

use common::{Count, Report, Slots, Workers};
use trellis::{DomainId, JoinHandle};

const WORKERS: usize = 4;
/// Tasks per round (each round is awaited before the next starts).
const ROUND: usize = 10_000;

/// One task of phase 1: holds its drop slot, yields once if `i % 4 == 0`, returns `i`.
async fn task(guard: common::SlotGuard, i: usize) -> usize {
    let _guard = guard;
    if i % 4 == 0 {
        trellis::yield_now().await;
    }
    i
}

/// Spawns tasks `range` (every other one pinned to a domain, the rest stealable) and awaits
/// them; returns how many returned their own index.
async fn spawn_range(slots: Arc<Slots>, range: std::ops::Range<usize>) -> usize {
    let handles: Vec<(usize, JoinHandle<usize>)> = range
        .map(|i| {
            let guard = slots.guard(i);
            let handle = if i % 2 == 0 {
                trellis::spawn(task(guard, i))
            } else {
                trellis::spawn_on(DomainId::new(i % WORKERS), move || task(guard, i))
            };
            (i, handle)
        })
        .collect();
    let mut right = 0;
    for (i, handle) in handles {
        if handle.await.is_ok_and(|v| v == i) {
            right += 1;
        }
    }
    right
}

fn main() {
    let report = Report::new("stress_tasks");
    let baseline = common::warm_up(WORKERS);
    let tasks = common::scaled(1_000_000) as usize;
    let panics = common::scaled(10_000) as usize;
    let slots = Slots::new(tasks);
    let rt = common::runtime(WORKERS);

    // Phase 1: rounds alternate between the block_on thread and one spawner per domain.
    let mut returned = 0;
    let mut next = 0;
    let mut round = 0;
    while next < tasks {
        let end = (next + ROUND).min(tasks);
        if round % 2 == 0 {
            returned += rt.block_on(spawn_range(slots.clone(), next..end));
        } else {
            let per = (end - next).div_ceil(WORKERS);
            returned += rt.block_on(async {
                let spawners: Vec<_> = (0..WORKERS)
                    .map(|d| {
                        let lo = (next + d * per).min(end);
                        let hi = (lo + per).min(end);
                        let slots = slots.clone();
                        trellis::spawn_on(DomainId::new(d), move || spawn_range(slots, lo..hi))
                    })
                    .collect();
                let mut sum = 0;
                for spawner in spawners {
                    sum += spawner.await.expect("a spawner finishes");
                }
                sum
            });
        }
        next = end;
        round += 1;
    }
    report.value("tasks_spawned", tasks);
    report.check_eq("tasks_returned_their_value", returned, tasks);
    slots.check(&report, "tasks");

    // Phase 2: panics on every domain, at the first poll and after a yield.
    let before = Workers::probe(&rt);
    let hook_count = common::count_panics_quietly();
    let caught = rt.block_on(async {
        let handles: Vec<JoinHandle<()>> = (0..panics)
            .map(|i| {
                let body = async move {
                    if i % 3 == 0 {
                        trellis::yield_now().await;
                    }
                    panic!("injected panic {i}");
                };
                if i % 2 == 0 {
                    trellis::spawn(body)
                } else {
                    trellis::spawn_on(DomainId::new(i % WORKERS), move || body)
                }
            })
            .collect();
        let caught = Count::default();
        for handle in handles {
            if handle.await.is_err_and(|e| e.is_panic()) {
                caught.add();
            }
        }
        caught.get()
    });
    let _ = std::panic::take_hook();
    let after = Workers::probe(&rt);
    report.value("panics_injected", panics);
    report.check_eq("panics_caught_as_join_errors", caught, panics);
    report.check_eq("panics_seen_by_hook", hook_count.get(), panics);
    report.check_eq("workers_probed", before.distinct(), WORKERS);
    report.check_eq("worker_deaths", after.deaths_since(&before), 0);

    drop(rt);
    report.check_eq(
        "runtime_threads_after_drop",
        common::runtime_threads_after_drop(),
        0,
    );
    drop(slots);
    report.check_memory(&baseline);
    report.finish();
}
