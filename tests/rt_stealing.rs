//! No stranded work (ARCHITECTURE.md, guarantee G15): a runnable task never waits behind a long poll
//! on its worker while another worker is idle, and timers and injected/remote work keep flowing
//! while tasks yield in a loop. Also a fork-join tree over `spawn`.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::time::Duration;

use support::{Watchdog, spin_until, wait_until};

/// How long each half spins waiting for the other before giving up (the test then fails cleanly).
const SPIN_LIMIT: Duration = Duration::from_secs(20);

/// One half of a computation that can only finish when both halves run at the same time.
fn half(started: &AtomicUsize) -> bool {
    started.fetch_add(1, SeqCst);
    spin_until(SPIN_LIMIT, || started.load(SeqCst) >= 2)
}

#[test]
fn no_stranded_work() {
    let _wd = Watchdog::new("no_stranded_work");
    let rt = support::rt_named(2, "trl-steal1");
    for round in 0..10 {
        let (a_ok, b_ok) = rt
            .block_on(rt.spawn(async {
                // Runs on a worker: the spawned half lands in this worker's queue (or LIFO slot)
                // and must be stolen by the idle worker while this task computes.
                let started = Arc::new(AtomicUsize::new(0));
                let s2 = started.clone();
                let h = trellis::spawn(async move { half(&s2) });
                let b_ok = half(&started);
                let a_ok = h.await.unwrap();
                (a_ok, b_ok)
            }))
            .unwrap();
        assert!(
            a_ok && b_ok,
            "round {round}: the spawned half was stranded behind the spawner's poll \
             (spawned half saw both: {a_ok}, spawner saw both: {b_ok})"
        );
    }
}

#[test]
fn woken_task_is_stealable_while_the_waker_computes() {
    let _wd = Watchdog::new("woken_task_is_stealable_while_the_waker_computes");
    let rt = support::rt_named(2, "trl-steal2");
    for round in 0..10 {
        let (a_ok, b_ok) = rt
            .block_on(rt.spawn(async {
                let started = Arc::new(AtomicUsize::new(0));
                let parked = Arc::new(AtomicBool::new(false));
                let (tx, rx) = tokio::sync::oneshot::channel::<()>();
                let (s2, p2) = (started.clone(), parked.clone());
                let h = trellis::spawn(async move {
                    p2.store(true, SeqCst);
                    rx.await.unwrap();
                    half(&s2)
                });
                // Cooperatively wait until the other task has parked on the oneshot.
                while !parked.load(SeqCst) {
                    trellis::yield_now().await;
                }
                // Wake it from this worker (it goes to this worker's queue), then compute.
                tx.send(()).unwrap();
                let b_ok = half(&started);
                let a_ok = h.await.unwrap();
                (a_ok, b_ok)
            }))
            .unwrap();
        assert!(
            a_ok && b_ok,
            "round {round}: the woken task was stranded behind the waker's poll"
        );
    }
}

#[test]
fn spawned_task_runs_while_the_spawner_blocks_its_thread() {
    let _wd = Watchdog::new("spawned_task_runs_while_the_spawner_blocks_its_thread");
    let rt = support::rt_named(2, "trl-steal3");
    for round in 0..10 {
        let got = rt
            .block_on(rt.spawn(async {
                let (tx, rx) = mpsc::channel();
                let h = trellis::spawn(async move {
                    tx.send(7).unwrap();
                });
                // Blocks this worker thread (bad practice, but it must not strand `h`).
                let got = rx.recv_timeout(SPIN_LIMIT).ok();
                h.await.unwrap();
                got
            }))
            .unwrap();
        assert_eq!(got, Some(7), "round {round}: spawned task stranded");
    }
}

fn tree_sum(lo: u64, hi: u64) -> Pin<Box<dyn Future<Output = u64> + Send>> {
    Box::pin(async move {
        if hi - lo <= 64 {
            return (lo..hi).sum();
        }
        let mid = lo + (hi - lo) / 2;
        let left = trellis::spawn(tree_sum(lo, mid));
        let right = tree_sum(mid, hi).await;
        left.await.unwrap() + right
    })
}

#[test]
fn fork_join_tree_sums_correctly() {
    let _wd = Watchdog::new("fork_join_tree_sums_correctly");
    for workers in [1, 2, 3] {
        let rt = support::rt_named(workers, "trl-steal4");
        let n = 200_000u64;
        let sum = rt.block_on(rt.spawn(tree_sum(0, n))).unwrap();
        assert_eq!(sum, n * (n - 1) / 2, "workers={workers}");
        // Also rooted on the block_on thread.
        let sum = rt.block_on(tree_sum(0, n));
        assert_eq!(sum, n * (n - 1) / 2, "workers={workers}");
    }
}

#[test]
fn timers_fire_while_tasks_yield_in_a_loop() {
    let _wd = Watchdog::new("timers_fire_while_tasks_yield_in_a_loop");
    let rt = support::rt_named(1, "trl-steal5");
    let flag = Arc::new(AtomicBool::new(false));
    let yields = rt
        .block_on(rt.spawn({
            let flag = flag.clone();
            async move {
                let f2 = flag.clone();
                let setter = trellis::spawn(async move {
                    trellis::time::sleep(Duration::from_millis(10)).await;
                    f2.store(true, SeqCst);
                });
                let mut yields = 0u64;
                while !flag.load(SeqCst) {
                    trellis::yield_now().await;
                    yields += 1;
                }
                setter.await.unwrap();
                yields
            }
        }))
        .unwrap();
    assert!(flag.load(SeqCst));
    assert!(yields > 0);
}

#[test]
fn timers_fire_while_every_worker_runs_a_yield_loop() {
    let _wd = Watchdog::new("timers_fire_while_every_worker_runs_a_yield_loop");
    let rt = support::rt_named(2, "trl-steal6");
    let flag = Arc::new(AtomicBool::new(false));
    let mut spinners = Vec::new();
    for _ in 0..4 {
        let flag = flag.clone();
        spinners.push(rt.spawn(async move {
            while !flag.load(SeqCst) {
                trellis::yield_now().await;
            }
        }));
    }
    let f2 = flag.clone();
    let setter = rt.spawn(async move {
        trellis::time::sleep(Duration::from_millis(10)).await;
        f2.store(true, SeqCst);
    });
    rt.block_on(setter).unwrap();
    for s in spinners {
        rt.block_on(s).unwrap();
    }
}

#[test]
fn injected_task_runs_while_the_worker_yields_in_a_loop() {
    let _wd = Watchdog::new("injected_task_runs_while_the_worker_yields_in_a_loop");
    let rt = support::rt_named(1, "trl-steal7");
    let flag = Arc::new(AtomicBool::new(false));
    let looping = Arc::new(AtomicBool::new(false));
    let (f2, l2) = (flag.clone(), looping.clone());
    let spinner = rt.spawn(async move {
        l2.store(true, SeqCst);
        while !f2.load(SeqCst) {
            trellis::yield_now().await;
        }
    });
    assert!(wait_until(SPIN_LIMIT, || looping.load(SeqCst)));
    // Spawned from outside (the injector) while the only worker never runs dry.
    let f3 = flag.clone();
    let setter = rt.spawn(async move { f3.store(true, SeqCst) });
    rt.block_on(spinner).unwrap();
    rt.block_on(setter).unwrap();
}

#[test]
fn remote_wake_runs_while_the_worker_yields_in_a_loop() {
    let _wd = Watchdog::new("remote_wake_runs_while_the_worker_yields_in_a_loop");
    let rt = support::rt_named(1, "trl-steal8");
    let flag = Arc::new(AtomicBool::new(false));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let waiting = Arc::new(AtomicBool::new(false));
    let (f2, w2) = (flag.clone(), waiting.clone());
    let setter = rt.spawn(async move {
        w2.store(true, SeqCst);
        rx.await.unwrap();
        f2.store(true, SeqCst);
    });
    assert!(wait_until(SPIN_LIMIT, || waiting.load(SeqCst)));
    let f3 = flag.clone();
    let spinner = rt.spawn(async move {
        while !f3.load(SeqCst) {
            trellis::yield_now().await;
        }
    });
    // Woken from a plain thread while the only worker is busy yielding.
    tx.send(()).unwrap();
    rt.block_on(spinner).unwrap();
    rt.block_on(setter).unwrap();
}

#[test]
fn block_on_future_progresses_while_workers_are_busy() {
    let _wd = Watchdog::new("block_on_future_progresses_while_workers_are_busy");
    let rt = support::rt_named(1, "trl-steal9");
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let spinner = rt.spawn(async move {
        while !s2.load(SeqCst) {
            trellis::yield_now().await;
        }
    });
    // The block_on thread polls its own future; sleeping and yielding there must work while
    // the worker is saturated.
    rt.block_on(async {
        for _ in 0..10 {
            trellis::yield_now().await;
        }
        trellis::time::sleep(Duration::from_millis(5)).await;
    });
    stop.store(true, SeqCst);
    rt.block_on(spinner).unwrap();
}

/// Issue 10, defect 3: two tasks whose timers fire together, in the driver, must not be queued
/// behind each other on the worker that fired them while another worker sleeps.
#[test]
fn tasks_woken_by_timers_in_the_driver_run_in_parallel() {
    let _wd = Watchdog::new("tasks_woken_by_timers_in_the_driver_run_in_parallel");
    for workers in [2, 4] {
        let rt = support::rt_named(workers, "trl-steal-tm");
        for round in 0..3 {
            let started = Arc::new(AtomicUsize::new(0));
            let at =
                rt.block_on(async { trellis::time::Instant::now() }) + Duration::from_millis(20);
            let halves: Vec<_> = (0..2)
                .map(|_| {
                    let started = started.clone();
                    rt.spawn(async move {
                        trellis::time::sleep_until(at).await;
                        started.fetch_add(1, SeqCst);
                        spin_until(Duration::from_secs(2), || started.load(SeqCst) >= 2)
                    })
                })
                .collect();
            let both: Vec<bool> = halves
                .into_iter()
                .map(|h| rt.block_on(h).unwrap())
                .collect();
            assert!(
                both.iter().all(|&b| b),
                "{workers} workers, round {round}: the two tasks woken at the same instant ran \
                 one after the other ({both:?})"
            );
        }
    }
}
