//! Closing: `close()` wakes every waiting sender and receiver (on every worker and on plain
//! threads), receivers drain what was queued before the close, sends fail with their value,
//! and dropping every sender (or every receiver) closes the channel.

mod support;

use std::time::Duration;

use futures_lite::StreamExt;
use support::{Counter, Watchdog};
use trellis::channel::{self, RecvError, SendError, TryRecvError, TrySendError};

#[test]
fn close_wakes_every_waiter() {
    let _w = Watchdog::new("close_wakes_every_waiter");
    let rt = support::rt_named(4, "chan-close");
    const RECEIVERS: usize = 40;
    const SENDERS: usize = 40;
    rt.block_on(async {
        // Receivers wait on an empty channel, senders on a full one; tasks spread over the
        // workers, plus a plain thread blocked on each side.
        let (tx_empty, rx_empty) = channel::bounded::<usize>(4);
        let (tx_full, rx_full) = channel::bounded::<usize>(1);
        tx_full.send(usize::MAX).await.unwrap();

        let parked = Counter::new();
        let receivers: Vec<_> = (0..RECEIVERS)
            .map(|_| {
                let rx = rx_empty.clone();
                let parked = parked.clone();
                trellis::spawn(async move {
                    parked.incr();
                    rx.recv().await
                })
            })
            .collect();
        let senders: Vec<_> = (0..SENDERS)
            .map(|i| {
                let tx = tx_full.clone();
                let parked = parked.clone();
                trellis::spawn(async move {
                    parked.incr();
                    tx.send(i).await
                })
            })
            .collect();
        let thread_rx = {
            let rx = rx_empty.clone();
            std::thread::spawn(move || rx.recv_blocking())
        };
        let thread_tx = {
            let tx = tx_full.clone();
            std::thread::spawn(move || tx.send_blocking(12345))
        };
        assert!(support::wait_until(Duration::from_secs(10), || parked
            .get()
            == RECEIVERS + SENDERS));
        // Give every task time to reach its wait (correctness does not depend on it).
        trellis::time::sleep(Duration::from_millis(20)).await;

        assert!(tx_empty.close());
        assert!(rx_full.close());

        for r in receivers {
            assert_eq!(r.await.unwrap(), Err(RecvError));
        }
        assert_eq!(thread_rx.join().unwrap(), Err(RecvError));
        let mut returned = Vec::new();
        for s in senders {
            returned.push(s.await.unwrap().unwrap_err().into_inner());
        }
        returned.sort_unstable();
        assert_eq!(returned, (0..SENDERS).collect::<Vec<_>>());
        assert_eq!(thread_tx.join().unwrap(), Err(SendError(12345)));
        // What was queued before the close is still there for receivers.
        assert_eq!(rx_full.recv().await, Ok(usize::MAX));
        assert_eq!(rx_full.recv().await, Err(RecvError));
    });
}

#[test]
fn drain_after_close() {
    let _w = Watchdog::new("drain_after_close");
    let rt = support::rt_named(2, "chan-close");
    rt.block_on(async {
        for cap in [Some(8), None] {
            let (tx, rx) = match cap {
                Some(c) => channel::bounded::<u32>(c),
                None => channel::unbounded(),
            };
            for i in 0..5 {
                tx.send(i).await.unwrap();
            }
            assert!(tx.close());
            assert!(!rx.close(), "already closed");
            assert!(tx.is_closed() && rx.is_closed());
            assert_eq!(tx.send(99).await, Err(SendError(99)));
            assert_eq!(tx.try_send(98), Err(TrySendError::Closed(98)));
            for i in 0..5 {
                assert_eq!(rx.recv().await, Ok(i));
            }
            assert_eq!(rx.recv().await, Err(RecvError));
            assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
        }
    });
}

#[test]
fn dropping_every_sender_closes() {
    let _w = Watchdog::new("dropping_every_sender_closes");
    let rt = support::rt_named(2, "chan-close");
    rt.block_on(async {
        let (tx, rx) = channel::unbounded::<u8>();
        let tx2 = tx.clone();
        let waiting = {
            let rx = rx.clone();
            trellis::spawn(async move { rx.recv().await })
        };
        tx.send(1).await.unwrap();
        drop(tx);
        assert!(!rx.is_closed(), "a sender is still alive");
        drop(tx2);
        assert!(rx.is_closed());
        // One of the two receivers gets the value, the other gets `Closed`.
        let (a, b) = (waiting.await.unwrap(), rx.recv().await);
        assert!(
            matches!((a, b), (Ok(1), Err(RecvError)) | (Err(RecvError), Ok(1))),
            "{a:?} {b:?}"
        );
    });
}

#[test]
fn dropping_every_receiver_closes() {
    let _w = Watchdog::new("dropping_every_receiver_closes");
    let rt = support::rt_named(2, "chan-close");
    rt.block_on(async {
        let (tx, rx) = channel::bounded::<String>(1);
        tx.send("queued".into()).await.unwrap();
        let pending = {
            let tx = tx.clone();
            trellis::spawn(async move { tx.send("pending".into()).await })
        };
        trellis::time::sleep(Duration::from_millis(10)).await;
        let rx2 = rx.clone();
        drop(rx);
        assert!(!tx.is_closed(), "a receiver is still alive");
        drop(rx2);
        assert!(tx.is_closed());
        // The pending send is woken and gets its value back.
        assert_eq!(pending.await.unwrap().unwrap_err().into_inner(), "pending");
        assert_eq!(
            tx.len(),
            0,
            "queued values are dropped with the last receiver"
        );
    });
}

#[test]
fn stream_ends_after_close_and_drain() {
    let _w = Watchdog::new("stream_ends_after_close_and_drain");
    let rt = support::rt_named(2, "chan-close");
    rt.block_on(async {
        let (tx, mut rx) = channel::bounded::<u8>(4);
        tx.send(1).await.unwrap();
        tx.send(2).await.unwrap();
        tx.close();
        assert_eq!(rx.next().await, Some(1));
        assert_eq!(rx.next().await, Some(2));
        assert_eq!(rx.next().await, None);
    });
}

#[test]
fn close_races_with_senders_and_receivers() {
    // Every send that returned Ok is received; every failed send returned its value.
    let _w = Watchdog::new("close_races_with_senders_and_receivers");
    let rt = support::rt_named(4, "chan-close");
    for round in 0..50 {
        let (ok_sent, received) = rt.block_on(async move {
            let (tx, rx) = if round % 2 == 0 {
                channel::bounded::<u64>(2)
            } else {
                channel::unbounded()
            };
            let senders: Vec<_> = (0..4u64)
                .map(|s| {
                    let tx = tx.clone();
                    trellis::spawn(async move {
                        let mut ok = Vec::new();
                        for i in 0..200 {
                            let v = s * 1000 + i;
                            match tx.send(v).await {
                                Ok(()) => ok.push(v),
                                Err(SendError(back)) => {
                                    assert_eq!(back, v);
                                    break;
                                }
                            }
                        }
                        ok
                    })
                })
                .collect();
            let receivers: Vec<_> = (0..2)
                .map(|_| {
                    let rx = rx.clone();
                    trellis::spawn(async move {
                        let mut got = Vec::new();
                        while let Ok(v) = rx.recv().await {
                            got.push(v);
                        }
                        got
                    })
                })
                .collect();
            trellis::time::sleep(Duration::from_micros(200 * (round % 5))).await;
            tx.close();
            let mut ok_sent = Vec::new();
            for s in senders {
                ok_sent.extend(s.await.unwrap());
            }
            let mut received = Vec::new();
            for r in receivers {
                received.extend(r.await.unwrap());
            }
            (ok_sent, received)
        });
        let (mut ok_sent, mut received) = (ok_sent, received);
        ok_sent.sort_unstable();
        received.sort_unstable();
        assert_eq!(ok_sent, received, "round {round}");
    }
}
