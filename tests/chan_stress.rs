//! MPMC stress (ARCHITECTURE.md, invariant I1, "no lost wakeup"): 4 producers × 4 consumers pass 100_000
//! messages per run over `bounded(1)`, `unbounded()` and a rendezvous channel, between tasks on
//! 4 workers and between plain threads and tasks; the count and the sum must be exact. A lost
//! wakeup hangs a run, and the 60 s watchdog turns the hang into a failure that names the run.

mod support;

use support::Watchdog;
use trellis::Runtime;
use trellis::channel::{self, Receiver, Sender};

const PRODUCERS: u64 = 4;
const CONSUMERS: usize = 4;
const MESSAGES: u64 = 100_000;
const PER_PRODUCER: u64 = MESSAGES / PRODUCERS;

fn expected_sum() -> u64 {
    (0..MESSAGES).sum()
}

/// Producer `p` sends `p * PER_PRODUCER .. (p + 1) * PER_PRODUCER`.
fn values(p: u64) -> std::ops::Range<u64> {
    p * PER_PRODUCER..(p + 1) * PER_PRODUCER
}

/// Tasks on both sides; returns (count, sum) over all consumers.
fn run_tasks(rt: &Runtime, tx: Sender<u64>, rx: Receiver<u64>) -> (u64, u64) {
    rt.block_on(async move {
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|_| {
                let rx = rx.clone();
                trellis::spawn(async move {
                    let (mut n, mut sum) = (0u64, 0u64);
                    while let Ok(v) = rx.recv().await {
                        n += 1;
                        sum += v;
                    }
                    (n, sum)
                })
            })
            .collect();
        drop(rx);
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let tx = tx.clone();
                trellis::spawn(async move {
                    for v in values(p) {
                        tx.send(v).await.unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        for p in producers {
            p.await.unwrap();
        }
        let mut total = (0, 0);
        for c in consumers {
            let (n, sum) = c.await.unwrap();
            total = (total.0 + n, total.1 + sum);
        }
        total
    })
}

/// Plain-thread producers (`send_blocking`), task consumers.
fn run_threads_to_tasks(rt: &Runtime, tx: Sender<u64>, rx: Receiver<u64>) -> (u64, u64) {
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for v in values(p) {
                    tx.send_blocking(v).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let total = rt.block_on(async move {
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|_| {
                let rx = rx.clone();
                trellis::spawn(async move {
                    let (mut n, mut sum) = (0u64, 0u64);
                    while let Ok(v) = rx.recv().await {
                        n += 1;
                        sum += v;
                    }
                    (n, sum)
                })
            })
            .collect();
        drop(rx);
        let mut total = (0, 0);
        for c in consumers {
            let (n, sum) = c.await.unwrap();
            total = (total.0 + n, total.1 + sum);
        }
        total
    });
    for p in producers {
        p.join().unwrap();
    }
    total
}

/// Task producers, plain-thread consumers (`recv_blocking`).
fn run_tasks_to_threads(rt: &Runtime, tx: Sender<u64>, rx: Receiver<u64>) -> (u64, u64) {
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            let rx = rx.clone();
            std::thread::spawn(move || {
                let (mut n, mut sum) = (0u64, 0u64);
                while let Ok(v) = rx.recv_blocking() {
                    n += 1;
                    sum += v;
                }
                (n, sum)
            })
        })
        .collect();
    drop(rx);
    rt.block_on(async move {
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let tx = tx.clone();
                trellis::spawn(async move {
                    for v in values(p) {
                        tx.send(v).await.unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        for p in producers {
            p.await.unwrap();
        }
    });
    consumers
        .into_iter()
        .map(|c| c.join().unwrap())
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
}

#[test]
fn stress_bounded_1_tasks() {
    let _w = Watchdog::new("stress_bounded_1_tasks");
    let (tx, rx) = channel::bounded(1);
    assert_eq!(
        run_tasks(&support::rt_named(4, "chan-stress"), tx, rx),
        (MESSAGES, expected_sum())
    );
}

#[test]
fn stress_unbounded_tasks() {
    let _w = Watchdog::new("stress_unbounded_tasks");
    let (tx, rx) = channel::unbounded();
    assert_eq!(
        run_tasks(&support::rt_named(4, "chan-stress"), tx, rx),
        (MESSAGES, expected_sum())
    );
}

#[test]
fn stress_rendezvous_tasks() {
    let _w = Watchdog::new("stress_rendezvous_tasks");
    let (tx, rx) = channel::bounded(0);
    assert_eq!(
        run_tasks(&support::rt_named(4, "chan-stress"), tx, rx),
        (MESSAGES, expected_sum())
    );
}

#[test]
fn stress_bounded_1_threads_to_tasks() {
    let _w = Watchdog::new("stress_bounded_1_threads_to_tasks");
    let (tx, rx) = channel::bounded(1);
    assert_eq!(
        run_threads_to_tasks(&support::rt_named(2, "chan-stress"), tx, rx),
        (MESSAGES, expected_sum())
    );
}

#[test]
fn stress_bounded_1_tasks_to_threads() {
    let _w = Watchdog::new("stress_bounded_1_tasks_to_threads");
    let (tx, rx) = channel::bounded(1);
    assert_eq!(
        run_tasks_to_threads(&support::rt_named(2, "chan-stress"), tx, rx),
        (MESSAGES, expected_sum())
    );
}

#[test]
fn stress_unbounded_tasks_to_threads() {
    let _w = Watchdog::new("stress_unbounded_tasks_to_threads");
    let (tx, rx) = channel::unbounded();
    assert_eq!(
        run_tasks_to_threads(&support::rt_named(2, "chan-stress"), tx, rx),
        (MESSAGES, expected_sum())
    );
}
