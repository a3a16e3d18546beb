//! Channels to and from plain threads: `send_blocking` / `recv_blocking` against tasks in both
//! directions, between plain threads only, from `spawn_blocking` jobs, on a rendezvous
//! channel, and the panic that refuses to block a worker thread.

mod support;

use std::time::Duration;

use support::{Watchdog, panic_message};
use trellis::channel::{self, RecvError, SendError};

#[test]
fn thread_to_task() {
    let _w = Watchdog::new("thread_to_task");
    let rt = support::rt_named(2, "chan-blocking");
    let (tx, rx) = channel::bounded::<u32>(2);
    let producer = std::thread::spawn(move || {
        for i in 0..1_000 {
            tx.send_blocking(i).unwrap();
        }
    });
    let got = rt.block_on(rt.spawn(async move {
        let mut got = Vec::new();
        while let Ok(v) = rx.recv().await {
            got.push(v);
        }
        got
    }));
    producer.join().unwrap();
    assert_eq!(got.unwrap(), (0..1_000).collect::<Vec<_>>());
}

#[test]
fn task_to_thread() {
    let _w = Watchdog::new("task_to_thread");
    let rt = support::rt_named(2, "chan-blocking");
    let (tx, rx) = channel::bounded::<u32>(2);
    let consumer = std::thread::spawn(move || {
        let mut got = Vec::new();
        while let Ok(v) = rx.recv_blocking() {
            got.push(v);
        }
        got
    });
    rt.block_on(rt.spawn(async move {
        for i in 0..1_000 {
            tx.send(i).await.unwrap();
        }
    }))
    .unwrap();
    assert_eq!(consumer.join().unwrap(), (0..1_000).collect::<Vec<_>>());
}

#[test]
fn thread_ping_pong_with_a_task() {
    let _w = Watchdog::new("thread_ping_pong_with_a_task");
    let rt = support::rt_named(2, "chan-blocking");
    let (ping_tx, ping_rx) = channel::bounded::<u32>(1);
    let (pong_tx, pong_rx) = channel::bounded::<u32>(1);
    let echo = rt.spawn(async move {
        while let Ok(v) = ping_rx.recv().await {
            pong_tx.send(v + 1).await.unwrap();
        }
    });
    for i in 0..2_000 {
        ping_tx.send_blocking(i).unwrap();
        assert_eq!(pong_rx.recv_blocking(), Ok(i + 1));
    }
    drop(ping_tx);
    rt.block_on(echo).unwrap();
    assert_eq!(pong_rx.recv_blocking(), Err(RecvError));
}

#[test]
fn plain_threads_only() {
    let _w = Watchdog::new("plain_threads_only");
    for cap in [0, 1, 64] {
        let (tx, rx) = channel::bounded::<u64>(cap);
        let producers: Vec<_> = (0..3u64)
            .map(|p| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for i in 0..2_000 {
                        tx.send_blocking(p * 10_000 + i).unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let consumers: Vec<_> = (0..2)
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
        for p in producers {
            p.join().unwrap();
        }
        let (n, sum) = consumers
            .into_iter()
            .map(|c| c.join().unwrap())
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        let expected: u64 = (0..3u64)
            .map(|p| (0..2_000).map(|i| p * 10_000 + i).sum::<u64>())
            .sum();
        assert_eq!((n, sum), (6_000, expected), "cap {cap}");
    }
}

#[test]
fn rendezvous_send_blocking_returns_after_the_take() {
    let _w = Watchdog::new("rendezvous_send_blocking_returns_after_the_take");
    let rt = support::rt_named(2, "chan-blocking");
    let (tx, rx) = channel::bounded::<u32>(0);
    let sender = std::thread::spawn(move || {
        tx.send_blocking(1).unwrap();
        tx
    });
    std::thread::sleep(Duration::from_millis(30));
    assert!(
        !sender.is_finished(),
        "returned before any receiver took the value"
    );
    assert_eq!(rt.block_on(async { rx.recv().await }), Ok(1));
    let tx = sender.join().unwrap();
    drop(rx);
    assert_eq!(tx.send_blocking(2), Err(SendError(2)));
}

#[test]
fn blocking_calls_from_spawn_blocking() {
    let _w = Watchdog::new("blocking_calls_from_spawn_blocking");
    let rt = support::rt_named(2, "chan-blocking");
    rt.block_on(async {
        let (tx, rx) = channel::bounded::<u32>(1);
        let job = trellis::spawn_blocking(move || {
            let mut sum = 0;
            while let Ok(v) = rx.recv_blocking() {
                sum += v;
            }
            sum
        });
        for i in 1..=100 {
            tx.send(i).await.unwrap();
        }
        drop(tx);
        assert_eq!(job.await.unwrap(), 5050);
    });
}

#[test]
fn blocking_on_a_worker_panics() {
    let _w = Watchdog::new("blocking_on_a_worker_panics");
    let rt = support::rt_named(1, "chan-blocking");
    let (tx, rx) = channel::unbounded::<u8>();
    let err = rt
        .block_on(rt.spawn(async move { rx.recv_blocking() }))
        .unwrap_err();
    let msg = panic_message(&*err.into_panic());
    assert!(
        msg.contains("recv_blocking") && msg.contains("worker"),
        "{msg}"
    );
    let err = rt
        .block_on(rt.spawn(async move { tx.send_blocking(1) }))
        .unwrap_err();
    let msg = panic_message(&*err.into_panic());
    assert!(msg.contains("send_blocking"), "{msg}");
    // The worker survived.
    assert_eq!(rt.block_on(rt.spawn(async { 7 })).unwrap(), 7);
}

#[test]
fn oneshot_between_thread_and_task() {
    let _w = Watchdog::new("oneshot_between_thread_and_task");
    let rt = support::rt_named(2, "chan-blocking");
    let (tx, rx) = channel::oneshot::<String>();
    let t = std::thread::spawn(move || rx.recv_blocking());
    rt.block_on(rt.spawn(async move { tx.send("hi".into()).unwrap() }))
        .unwrap();
    assert_eq!(t.join().unwrap().as_deref(), Ok("hi"));
}
