//! Spawning: `trellis::spawn` from `block_on` and from tasks, `Runtime::spawn` from outside,
//! many tasks, outputs, and `spawn` outside a runtime.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use support::{Watchdog, panic_message};

#[test]
fn spawn_from_block_on() {
    let _wd = Watchdog::new("spawn_from_block_on");
    let rt = support::rt_named(2, "trl-spawn");
    let v = rt.block_on(async {
        let a = trellis::spawn(async { 1 });
        let b = trellis::spawn(async { String::from("two") });
        (a.await.unwrap(), b.await.unwrap())
    });
    assert_eq!(v, (1, String::from("two")));
}

#[test]
fn spawn_from_tasks_nested() {
    let _wd = Watchdog::new("spawn_from_tasks_nested");
    let rt = support::rt_named(2, "trl-spawn");
    let v = rt.block_on(async {
        trellis::spawn(async {
            let inner = trellis::spawn(async {
                let innermost = trellis::spawn(async { 3 });
                innermost.await.unwrap() * 2
            });
            inner.await.unwrap() + 1
        })
        .await
        .unwrap()
    });
    assert_eq!(v, 7);
}

#[test]
fn rt_spawn_from_outside_then_block_on_the_handle() {
    let _wd = Watchdog::new("rt_spawn_from_outside_then_block_on_the_handle");
    let rt = support::rt_named(2, "trl-spawn");
    let hs: Vec<_> = (0..100u64)
        .map(|i| rt.spawn(async move { i * i }))
        .collect();
    let sum: u64 = hs.into_iter().map(|h| rt.block_on(h).unwrap()).sum();
    assert_eq!(sum, (0..100u64).map(|i| i * i).sum());
}

fn ten_thousand_tasks_complete(workers: usize) {
    let rt = support::rt_named(workers, "trl-spawn");
    let ran = Arc::new(AtomicUsize::new(0));
    let ran2 = ran.clone();
    let sum = rt.block_on(async move {
        let hs: Vec<_> = (0..10_000u64)
            .map(|i| {
                let ran = ran2.clone();
                trellis::spawn(async move {
                    if i % 3 == 0 {
                        trellis::yield_now().await;
                    }
                    ran.fetch_add(1, SeqCst);
                    i * 2
                })
            })
            .collect();
        let mut sum = 0u64;
        for (i, h) in hs.into_iter().enumerate() {
            let v = h.await.unwrap();
            assert_eq!(v, i as u64 * 2, "output of task {i}");
            sum += v;
        }
        sum
    });
    assert_eq!(ran.load(SeqCst), 10_000);
    assert_eq!(sum, (0..10_000u64).map(|i| i * 2).sum());
}

#[test]
fn ten_thousand_tasks_complete_one_worker() {
    let _wd = Watchdog::new("ten_thousand_tasks_complete_one_worker");
    ten_thousand_tasks_complete(1);
}

#[test]
fn ten_thousand_tasks_complete_two_workers() {
    let _wd = Watchdog::new("ten_thousand_tasks_complete_two_workers");
    ten_thousand_tasks_complete(2);
}

#[test]
fn ten_thousand_tasks_spawned_from_a_task_complete() {
    let _wd = Watchdog::new("ten_thousand_tasks_spawned_from_a_task_complete");
    let rt = support::rt_named(2, "trl-spawn");
    let sum = rt
        .block_on(rt.spawn(async {
            let hs: Vec<_> = (0..10_000u64)
                .map(|i| trellis::spawn(async move { i }))
                .collect();
            let mut sum = 0;
            for h in hs {
                sum += h.await.unwrap();
            }
            sum
        }))
        .unwrap();
    assert_eq!(sum, (0..10_000u64).sum());
}

#[test]
fn tasks_spawned_from_many_plain_threads_complete() {
    let _wd = Watchdog::new("tasks_spawned_from_many_plain_threads_complete");
    let rt = support::rt_named(2, "trl-spawn");
    let ran = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|s| {
        for _ in 0..4 {
            let rt = &rt;
            let ran = ran.clone();
            s.spawn(move || {
                let hs: Vec<_> = (0..500)
                    .map(|_| {
                        let ran = ran.clone();
                        rt.spawn(async move {
                            ran.fetch_add(1, SeqCst);
                        })
                    })
                    .collect();
                for h in hs {
                    futures_lite::future::block_on(h).unwrap();
                }
            });
        }
    });
    assert_eq!(ran.load(SeqCst), 2000);
}

#[test]
fn spawn_outside_a_runtime_panics_with_an_explanation() {
    let _wd = Watchdog::new("spawn_outside_a_runtime_panics_with_an_explanation");
    let res = std::panic::catch_unwind(|| {
        drop(trellis::spawn(async { 1 }));
    });
    let payload = res.expect_err("trellis::spawn outside a runtime must panic");
    let msg = panic_message(&*payload);
    assert!(msg.len() > 10, "the panic should explain itself: {msg:?}");
}

#[test]
fn yield_now_lets_other_tasks_run() {
    let _wd = Watchdog::new("yield_now_lets_other_tasks_run");
    // One worker: a task that yields between steps interleaves with another such task.
    let rt = support::rt_named(1, "trl-spawn");
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (l1, l2) = (log.clone(), log.clone());
    // Both are spawned from a task on the worker, so both sit in that worker's queue.
    rt.block_on(rt.spawn(async move {
        let a = trellis::spawn(async move {
            for i in 0..5 {
                l1.lock().unwrap().push(('a', i));
                trellis::yield_now().await;
            }
        });
        let b = trellis::spawn(async move {
            for i in 0..5 {
                l2.lock().unwrap().push(('b', i));
                trellis::yield_now().await;
            }
        });
        a.await.unwrap();
        b.await.unwrap();
    }))
    .unwrap();
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 10);
    // Neither task ran all of its steps before the other started.
    let first_b = log.iter().position(|e| e.0 == 'b').unwrap();
    let last_a = log.iter().rposition(|e| e.0 == 'a').unwrap();
    assert!(first_b < last_a, "yield_now did not interleave: {log:?}");
}

#[test]
fn yield_now_from_block_on_completes() {
    let _wd = Watchdog::new("yield_now_from_block_on_completes");
    let rt = support::rt_named(1, "trl-spawn");
    let n = rt.block_on(async {
        let mut n = 0;
        for _ in 0..1000 {
            trellis::yield_now().await;
            n += 1;
        }
        n
    });
    assert_eq!(n, 1000);
}
