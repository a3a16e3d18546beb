//! Oneshot channels: send then receive, receive then send (the receiver waits), sender dropped
//! without sending, receiver dropped before the send, `try_recv`, `recv` by reference after a
//! cancelled wait, and request/reply between tasks on several workers.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use support::Watchdog;
use trellis::channel::{self, RecvError, TryRecvError, oneshot};

#[test]
fn send_then_recv() {
    let _w = Watchdog::new("send_then_recv");
    let (tx, rx) = channel::oneshot();
    tx.send(5u8).unwrap();
    assert_eq!(support::rt_named(1, "chan-oneshot").block_on(rx), Ok(5));
}

#[test]
fn recv_waits_for_the_send() {
    let _w = Watchdog::new("recv_waits_for_the_send");
    let rt = support::rt_named(2, "chan-oneshot");
    rt.block_on(async {
        let (tx, rx) = channel::oneshot::<&str>();
        let sender = trellis::spawn(async move {
            trellis::time::sleep(Duration::from_millis(10)).await;
            tx.send("late").unwrap();
        });
        assert_eq!(rx.await, Ok("late"));
        sender.await.unwrap();
    });
}

#[test]
fn sender_dropped_without_sending() {
    let _w = Watchdog::new("sender_dropped_without_sending");
    let rt = support::rt_named(2, "chan-oneshot");
    rt.block_on(async {
        let (tx, rx) = channel::oneshot::<u8>();
        let dropper = trellis::spawn(async move {
            trellis::time::sleep(Duration::from_millis(5)).await;
            drop(tx);
        });
        assert_eq!(rx.await, Err(RecvError));
        dropper.await.unwrap();
    });
}

#[test]
fn receiver_dropped_before_the_send() {
    let _w = support::Watchdog::new("receiver_dropped_before_the_send");
    let (tx, rx) = channel::oneshot::<String>();
    assert!(!tx.is_closed());
    drop(rx);
    assert!(tx.is_closed());
    assert_eq!(tx.send("back".into()), Err("back".to_string()));
}

#[test]
fn try_recv_states() {
    let _w = support::Watchdog::new("try_recv_states");
    let (tx, mut rx) = channel::oneshot::<u8>();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    tx.send(1).unwrap();
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    let (tx, mut rx) = channel::oneshot::<u8>();
    drop(tx);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn cancelled_recv_keeps_the_value_for_the_next() {
    let _w = support::Watchdog::new("cancelled_recv_keeps_the_value_for_the_next");
    let (tx, mut rx) = channel::oneshot::<u8>();
    {
        let mut fut = rx.recv();
        let poll = Pin::new(&mut fut).poll(&mut Context::from_waker(Waker::noop()));
        assert!(poll.is_pending());
    } // dropped while waiting
    tx.send(9).unwrap();
    let mut fut = rx.recv();
    let poll = Pin::new(&mut fut).poll(&mut Context::from_waker(Waker::noop()));
    assert_eq!(poll, Poll::Ready(Ok(9)));
    assert!(format!("{rx:?}").contains("oneshot::Receiver"));
}

#[test]
fn request_reply_across_workers() {
    let _w = Watchdog::new("request_reply_across_workers");
    let rt = support::rt_named(4, "chan-oneshot");
    rt.block_on(async {
        let (requests, inbox) = channel::bounded::<(u64, oneshot::Sender<u64>)>(10);
        let servers: Vec<_> = (0..2)
            .map(|_| {
                let inbox = inbox.clone();
                trellis::spawn(async move {
                    while let Ok((n, reply)) = inbox.recv().await {
                        reply.send(n * n).unwrap();
                    }
                })
            })
            .collect();
        drop(inbox);
        let clients: Vec<_> = (0..4u64)
            .map(|c| {
                let requests = requests.clone();
                trellis::spawn(async move {
                    let mut sum = 0;
                    for i in 0..500 {
                        let (tx, rx) = channel::oneshot();
                        requests.send((c * 1000 + i, tx)).await.unwrap();
                        sum += rx.await.unwrap();
                    }
                    sum
                })
            })
            .collect();
        drop(requests);
        let mut total = 0;
        for c in clients {
            total += c.await.unwrap();
        }
        for s in servers {
            s.await.unwrap();
        }
        let expected: u64 = (0..4u64)
            .flat_map(|c| (0..500).map(move |i| (c * 1000 + i) * (c * 1000 + i)))
            .sum();
        assert_eq!(total, expected);
    });
}
