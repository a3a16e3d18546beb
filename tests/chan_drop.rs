//! DESIGN 3, item 13, "Channels lose nothing": every value is received, returned in a send
//! error, or dropped exactly once (drop counters), including when receivers or senders drop
//! with values queued, when a pending send future is dropped (cancelled), and when a receive
//! future that was already woken is dropped (its wakeup and the value go to the next receiver).

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use support::{Counter, Out, Watchdog};
use trellis::channel::{self, RecvError, SendError, TrySendError};

/// Polls `fut` once with `waker`.
fn poll_with<F: Future + Unpin>(fut: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(waker))
}

/// A waker that counts its wakes.
struct WakeCount(AtomicUsize);

impl Wake for WakeCount {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

fn counting_waker() -> (Arc<WakeCount>, Waker) {
    let c = Arc::new(WakeCount(AtomicUsize::new(0)));
    (c.clone(), Waker::from(c))
}

#[test]
fn channels_lose_nothing() {
    // Every value ends up in exactly one place: received, returned by a failed send, or
    // dropped by the channel; each is dropped exactly once.
    let _w = Watchdog::new("channels_lose_nothing");
    let rt = support::rt_named(3, "chan-drop");
    let drops = Counter::new();
    let (received, returned) = rt.block_on({
        let drops = drops.clone();
        async move {
            let (tx, rx) = channel::bounded::<Out>(4);
            let senders: Vec<_> = (0..4)
                .map(|s| {
                    let tx = tx.clone();
                    let drops = drops.clone();
                    trellis::spawn(async move {
                        let mut returned = 0;
                        for i in 0..500 {
                            if let Err(SendError(v)) = tx.send(Out::new(s * 1000 + i, &drops)).await
                            {
                                assert_eq!(v.value, s * 1000 + i);
                                returned += 1;
                            }
                        }
                        returned
                    })
                })
                .collect();
            drop(tx);
            // Receive some, then drop the receiver with values queued and sends pending.
            let mut received = 0;
            for _ in 0..300 {
                rx.recv().await.unwrap();
                received += 1;
            }
            drop(rx);
            let mut returned = 0;
            for s in senders {
                returned += s.await.unwrap();
            }
            (received, returned)
        }
    });
    // 2_000 values made, each dropped exactly once: received (dropped by us), returned
    // (dropped by the sender task), or queued when the receiver went (dropped by the channel).
    assert_eq!(drops.get(), 2_000);
    assert!(received == 300 && returned > 0, "{received} {returned}");
}

#[test]
fn queued_values_dropped_when_the_last_receiver_drops() {
    let _w = support::Watchdog::new("queued_values_dropped_when_the_last_receiver_drops");
    for cap in [Some(16), None] {
        let drops = Counter::new();
        let (tx, rx) = match cap {
            Some(c) => channel::bounded::<Out>(c),
            None => channel::unbounded(),
        };
        for i in 0..10 {
            tx.try_send(Out::new(i, &drops)).unwrap();
        }
        let rx2 = rx.clone();
        drop(rx);
        assert_eq!(drops.get(), 0, "a receiver is still alive");
        drop(rx2);
        assert_eq!(
            drops.get(),
            10,
            "queued values are dropped with the last receiver"
        );
        // Later sends give the value back; it is dropped by the caller, once.
        let err = tx.try_send(Out::new(10, &drops)).unwrap_err();
        assert!(err.is_closed());
        drop(err);
        assert_eq!(drops.get(), 11);
        drop(tx);
        assert_eq!(drops.get(), 11);
    }
}

#[test]
fn queued_values_stay_for_receivers_when_senders_drop() {
    let _w = support::Watchdog::new("queued_values_stay_for_receivers_when_senders_drop");
    let drops = Counter::new();
    let (tx, rx) = channel::bounded::<Out>(8);
    for i in 0..5 {
        tx.try_send(Out::new(i, &drops)).unwrap();
    }
    drop(tx);
    assert_eq!(drops.get(), 0);
    let first = rx.try_recv().unwrap();
    assert_eq!(first.value, 0);
    drop(first);
    assert_eq!(drops.get(), 1);
    // The rest go with the receiver.
    drop(rx);
    assert_eq!(drops.get(), 5);
}

#[test]
fn explicitly_closed_values_dropped_with_the_last_receiver() {
    let _w = support::Watchdog::new("explicitly_closed_values_dropped_with_the_last_receiver");
    let drops = Counter::new();
    let (tx, rx) = channel::unbounded::<Out>();
    for i in 0..3 {
        tx.try_send(Out::new(i, &drops)).unwrap();
    }
    assert!(rx.close());
    assert_eq!(
        drops.get(),
        0,
        "close keeps queued values for the receivers"
    );
    drop(rx);
    assert_eq!(drops.get(), 3);
    drop(tx);
    assert_eq!(drops.get(), 3);
}

#[test]
fn values_dropped_with_the_channel() {
    let _w = support::Watchdog::new("values_dropped_with_the_channel");
    // Sender and receiver both dropped, in either order, with values queued.
    for receiver_first in [true, false] {
        let drops = Counter::new();
        let (tx, rx) = channel::bounded::<Out>(4);
        tx.try_send(Out::new(1, &drops)).unwrap();
        tx.try_send(Out::new(2, &drops)).unwrap();
        if receiver_first {
            drop(rx);
            drop(tx);
        } else {
            drop(tx);
            drop(rx);
        }
        assert_eq!(drops.get(), 2);
    }
}

#[test]
fn failed_send_returns_the_value() {
    let _w = support::Watchdog::new("failed_send_returns_the_value");
    let drops = Counter::new();
    let (tx, rx) = channel::bounded::<Out>(1);
    tx.try_send(Out::new(1, &drops)).unwrap();
    match tx.try_send(Out::new(2, &drops)) {
        Err(TrySendError::Full(v)) => assert_eq!(v.value, 2),
        other => panic!("expected Full, got {other:?}"),
    }
    assert_eq!(drops.get(), 1, "the returned value was dropped by us");
    drop(rx);
    assert_eq!(drops.get(), 2);
    let err = trellis::run(tx.send(Out::new(3, &drops))).unwrap_err();
    assert_eq!(err.into_inner().value, 3);
    assert_eq!(drops.get(), 3);
}

#[test]
fn cancelled_send_drops_its_value_once() {
    let _w = support::Watchdog::new("cancelled_send_drops_its_value_once");
    let drops = Counter::new();
    let (tx, rx) = channel::bounded::<Out>(1);
    tx.try_send(Out::new(1, &drops)).unwrap();
    let (_, waker) = counting_waker();
    let mut send = tx.send(Out::new(2, &drops));
    assert!(
        poll_with(&mut send, &waker).is_pending(),
        "the channel is full"
    );
    drop(send);
    assert_eq!(
        drops.get(),
        1,
        "the pending value is dropped with the future"
    );
    // The channel only holds the first value.
    assert_eq!(rx.try_recv().unwrap().value, 1);
    assert_eq!(drops.get(), 2);
    assert!(rx.try_recv().is_err());
}

#[test]
fn cancelled_send_passes_its_wakeup_on() {
    let _w = support::Watchdog::new("cancelled_send_passes_its_wakeup_on");
    // Two senders wait on a full channel; a slot frees and the first is notified; it is
    // dropped instead of polled: the second must be woken.
    let (tx, rx) = channel::bounded::<u32>(1);
    tx.try_send(0).unwrap();
    let (c1, w1) = counting_waker();
    let (c2, w2) = counting_waker();
    let mut s1 = tx.send(1);
    let mut s2 = tx.send(2);
    assert!(poll_with(&mut s1, &w1).is_pending());
    assert!(poll_with(&mut s2, &w2).is_pending());
    assert_eq!(rx.try_recv(), Ok(0));
    assert_eq!(c1.0.load(SeqCst), 1, "the first waiter is notified");
    assert_eq!(c2.0.load(SeqCst), 0);
    drop(s1);
    assert_eq!(c2.0.load(SeqCst), 1, "the notification was passed on");
    assert_eq!(poll_with(&mut s2, &w2), Poll::Ready(Ok(())));
    assert_eq!(rx.try_recv(), Ok(2));
}

#[test]
fn cancelled_recv_loses_nothing() {
    let _w = support::Watchdog::new("cancelled_recv_loses_nothing");
    // Select-like: a receive is woken for a value, then dropped instead of polled; the next
    // receive gets the value.
    let (tx, rx) = channel::unbounded::<u32>();
    let (c, w) = counting_waker();
    let mut r = rx.recv();
    assert!(poll_with(&mut r, &w).is_pending());
    tx.try_send(5).unwrap();
    assert_eq!(c.0.load(SeqCst), 1, "woken for the value");
    drop(r);
    assert_eq!(rx.try_recv(), Ok(5));
}

#[test]
fn cancelled_recv_passes_its_wakeup_on() {
    let _w = support::Watchdog::new("cancelled_recv_passes_its_wakeup_on");
    // Two receivers wait; a value comes and the first is notified; it is dropped instead of
    // polled: the second must be woken and get the value.
    let (tx, rx) = channel::bounded::<u32>(4);
    let rx2 = rx.clone();
    let (c1, w1) = counting_waker();
    let (c2, w2) = counting_waker();
    let mut r1 = rx.recv();
    let mut r2 = rx2.recv();
    assert!(poll_with(&mut r1, &w1).is_pending());
    assert!(poll_with(&mut r2, &w2).is_pending());
    tx.try_send(7).unwrap();
    assert_eq!((c1.0.load(SeqCst), c2.0.load(SeqCst)), (1, 0));
    drop(r1);
    assert_eq!(c2.0.load(SeqCst), 1, "the notification was passed on");
    assert_eq!(poll_with(&mut r2, &w2), Poll::Ready(Ok(7)));
}

#[test]
fn cancelled_recv_in_tasks_loses_no_message() {
    // The same on a runtime: a task races `recv` against a timer, select-style, and drops the
    // receive when the timer wins; every message still arrives exactly once.
    let _w = Watchdog::new("cancelled_recv_in_tasks_loses_no_message");
    let rt = support::rt_named(2, "chan-drop");
    const N: u32 = 300;
    let got = rt.block_on(async {
        let (tx, rx) = channel::bounded::<u32>(1);
        let producer = trellis::spawn(async move {
            for i in 0..N {
                tx.send(i).await.unwrap();
                if i % 7 == 0 {
                    trellis::time::sleep(Duration::from_micros(300)).await;
                }
            }
        });
        let mut got = Vec::new();
        loop {
            let mut recv = std::pin::pin!(rx.recv());
            let mut timer = std::pin::pin!(trellis::time::sleep(Duration::from_micros(100)));
            let res = std::future::poll_fn(|cx| {
                if let Poll::Ready(r) = recv.as_mut().poll(cx) {
                    return Poll::Ready(Some(r));
                }
                if timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(None); // the receive is dropped, maybe already woken
                }
                Poll::Pending
            })
            .await;
            match res {
                Some(Ok(v)) => got.push(v),
                Some(Err(RecvError)) => break,
                None => {}
            }
        }
        producer.await.unwrap();
        got
    });
    assert_eq!(got, (0..N).collect::<Vec<_>>());
}

#[test]
fn rendezvous_cancelled_send_takes_its_value_back() {
    let _w = support::Watchdog::new("rendezvous_cancelled_send_takes_its_value_back");
    let drops = Counter::new();
    let (tx, rx) = channel::bounded::<Out>(0);
    let (_, w) = counting_waker();
    let mut send = tx.send(Out::new(1, &drops));
    assert!(poll_with(&mut send, &w).is_pending());
    assert_eq!(rx.len(), 1, "offered");
    drop(send);
    assert_eq!(drops.get(), 1, "dropped with the future, once");
    assert_eq!(rx.len(), 0);
    assert!(rx.try_recv().is_err());

    // Taken before the drop: delivered, not dropped by the future.
    let mut send = tx.send(Out::new(2, &drops));
    assert!(poll_with(&mut send, &w).is_pending());
    let v = rx.try_recv().unwrap();
    drop(send);
    assert_eq!(drops.get(), 1);
    assert_eq!(v.value, 2);
    drop(v);
    assert_eq!(drops.get(), 2);

    // The slot is free again for the next sender.
    let mut send = tx.send(Out::new(3, &drops));
    assert!(poll_with(&mut send, &w).is_pending());
    assert_eq!(rx.try_recv().unwrap().value, 3);
    assert!(matches!(poll_with(&mut send, &w), Poll::Ready(Ok(()))));
    assert_eq!(drops.get(), 3);
}

#[test]
fn unreceived_oneshot_value_dropped_once() {
    let _w = support::Watchdog::new("unreceived_oneshot_value_dropped_once");
    let drops = Counter::new();
    let (tx, rx) = channel::oneshot::<Out>();
    tx.send(Out::new(1, &drops)).unwrap();
    assert_eq!(drops.get(), 0);
    drop(rx);
    assert_eq!(drops.get(), 1);

    let (tx, rx) = channel::oneshot::<Out>();
    drop(rx);
    let back = tx.send(Out::new(2, &drops)).unwrap_err();
    assert_eq!(back.value, 2);
    assert_eq!(drops.get(), 1);
    drop(back);
    assert_eq!(drops.get(), 2);
}
