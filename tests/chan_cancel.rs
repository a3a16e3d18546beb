//! Every channel operation is atomic under cancellation: a cancelled send did not send, a
//! cancelled receive took nothing, and an operation that completed reports success even if its
//! scope was cancelled at that very moment.
//!
//! The races are made deterministic on one worker: the task that takes (or offers) a value and
//! the cancel run in the same poll, so the cancelled task cannot run in between.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use support::Watchdog;
use trellis::CancelScope;
use trellis::channel::{self, TryRecvError};

/// Yields until `cond` holds; panics (instead of hanging) after many yields.
async fn yield_until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..1_000_000 {
        if cond() {
            return;
        }
        trellis::yield_now().await;
    }
    panic!("gave up waiting for {what}");
}

/// Issue 10, defect 8: a rendezvous send whose scope is cancelled right after a receiver took
/// its value used to be dropped by the scope and report "cancelled" though the value arrived.
#[test]
fn cancelled_rendezvous_send_whose_value_was_taken_reports_success() {
    let _w = Watchdog::with_timeout(
        "cancelled_rendezvous_send_whose_value_was_taken_reports_success",
        Duration::from_secs(20),
    );
    let rt = support::rt_named(1, "chan-cancel");
    let (got, sent) = rt
        .block_on(rt.spawn(async {
            let (tx, rx) = channel::bounded::<u32>(0);
            let scope = CancelScope::new();
            let handle = scope.handle();
            let sender = trellis::spawn(async move { scope.run(tx.send(7)).await });
            yield_until("the value to be offered", || rx.len() == 1).await;
            // One poll of this task: take the value, then cancel the sender's scope.
            let got = rx.try_recv();
            handle.cancel();
            (got, sender.await.unwrap())
        }))
        .unwrap();
    assert_eq!(got, Ok(7));
    assert_eq!(
        sent,
        Some(Ok(())),
        "the value was delivered, but the send reported {sent:?} (None: cancelled)"
    );
}

/// The other half of atomicity: a rendezvous send cancelled before any receiver took its value
/// sent nothing, and a receiver arriving afterwards finds nothing.
#[test]
fn cancelled_rendezvous_send_whose_value_was_not_taken_sends_nothing() {
    let _w = Watchdog::with_timeout(
        "cancelled_rendezvous_send_whose_value_was_not_taken_sends_nothing",
        Duration::from_secs(20),
    );
    let rt = support::rt_named(1, "chan-cancel");
    let (sent, later) = rt
        .block_on(rt.spawn(async {
            let (tx, rx) = channel::bounded::<u32>(0);
            let scope = CancelScope::new();
            let handle = scope.handle();
            let tx2 = tx.clone();
            let sender = trellis::spawn(async move { scope.run(tx2.send(7)).await });
            yield_until("the value to be offered", || rx.len() == 1).await;
            handle.cancel();
            let sent = sender.await.unwrap();
            (sent, rx.try_recv())
        }))
        .unwrap();
    assert_eq!(sent, None, "the send was cancelled before any take");
    assert_eq!(
        later,
        Err(TryRecvError::Empty),
        "a cancelled send left its value"
    );
}

/// A receive woken by a value and cancelled before it ran took nothing: the value is still
/// there for the next receive (buffered and rendezvous channels).
#[test]
fn cancelled_recv_takes_nothing() {
    let _w = Watchdog::with_timeout("cancelled_recv_takes_nothing", Duration::from_secs(20));
    let rt = support::rt_named(1, "chan-cancel");
    for cap in [1usize, 0] {
        let (received, later) = rt
            .block_on(rt.spawn(async move {
                let (tx, rx) = channel::bounded::<u32>(cap);
                let scope = CancelScope::new();
                let handle = scope.handle();
                let rx2 = rx.clone();
                let receiver = trellis::spawn(async move { scope.run(rx2.recv()).await });
                trellis::yield_now().await;
                trellis::yield_now().await; // the receiver is now parked in recv
                // One poll: make a value available (waking the receiver), then cancel it.
                let sender = (cap == 0).then(|| {
                    let tx = tx.clone();
                    trellis::spawn(async move { tx.send(5).await })
                });
                if let Some(sender) = &sender {
                    yield_until("the value to be offered", || {
                        rx.len() == 1 || sender.is_finished()
                    })
                    .await;
                } else {
                    tx.try_send(5).unwrap();
                }
                handle.cancel();
                let received = receiver.await.unwrap();
                let later = match received {
                    // It completed (it ran before the cancel took effect): then it owns the value.
                    Some(_) => None,
                    None => Some(rx.recv().await),
                };
                if let Some(sender) = sender {
                    sender.await.unwrap().unwrap();
                }
                (received, later)
            }))
            .unwrap();
        match received {
            Some(v) => assert_eq!(v, Ok(5), "cap {cap}"),
            None => assert_eq!(
                later,
                Some(Ok(5)),
                "cap {cap}: a cancelled recv lost the value"
            ),
        }
    }
}

/// A buffered send cancelled while it waits for room sent nothing.
#[test]
fn cancelled_bounded_send_sends_nothing() {
    let _w = Watchdog::with_timeout(
        "cancelled_bounded_send_sends_nothing",
        Duration::from_secs(20),
    );
    let rt = support::rt_named(1, "chan-cancel");
    let (sent, values) = rt
        .block_on(rt.spawn(async {
            let (tx, rx) = channel::bounded::<u32>(1);
            tx.try_send(1).unwrap();
            let scope = CancelScope::new();
            let handle = scope.handle();
            let tx2 = tx.clone();
            let sender = trellis::spawn(async move { scope.run(tx2.send(2)).await });
            trellis::yield_now().await;
            trellis::yield_now().await;
            // One poll: make room (waking the sender), then cancel it.
            let first = rx.try_recv().unwrap();
            handle.cancel();
            let sent = sender.await.unwrap();
            let mut values = vec![first];
            drop(tx);
            while let Ok(v) = rx.recv().await {
                values.push(v);
            }
            (sent, values)
        }))
        .unwrap();
    match sent {
        Some(r) => {
            assert_eq!(r, Ok(()));
            assert_eq!(values, [1, 2]);
        }
        None => assert_eq!(values, [1], "a cancelled send delivered its value"),
    }
}

/// Issue 10, defect 8, as users hit it: a retry-after-timeout loop over a rendezvous channel
/// with a slow receiver delivers every value exactly once (it used to duplicate values whose
/// send was cancelled just as the receiver took them).
#[test]
fn rendezvous_retry_after_timeout_never_duplicates() {
    let _w = Watchdog::with_timeout(
        "rendezvous_retry_after_timeout_never_duplicates",
        Duration::from_secs(60),
    );
    const VALUES: u32 = 500;
    for workers in [1, 2] {
        let rt = support::rt_named(workers, "chan-cancel");
        let received = rt.block_on(async {
            let (tx, rx) = channel::bounded::<u32>(0);
            let producer = trellis::spawn(async move {
                for v in 0..VALUES {
                    // Retry until the send reports success.
                    while trellis::move_on_after(Duration::from_micros(50), tx.send(v))
                        .await
                        .is_none()
                    {}
                }
            });
            let consumer = trellis::spawn(async move {
                let mut got = Vec::new();
                while let Ok(v) = rx.recv().await {
                    got.push(v);
                    // A slow consumer: right after each take it computes past the producer's
                    // deadline, so the deadline often fires before the producer runs again.
                    let spin = std::time::Instant::now();
                    while spin.elapsed() < Duration::from_micros(100) {}
                    for _ in 0..(v % 3) {
                        trellis::yield_now().await;
                    }
                }
                got
            });
            producer.await.unwrap();
            consumer.await.unwrap()
        });
        let distinct: HashSet<_> = received.iter().collect();
        assert_eq!(
            distinct.len(),
            received.len(),
            "{workers} workers: duplicated values ({} received, {} distinct)",
            received.len(),
            distinct.len()
        );
        assert_eq!(
            received,
            (0..VALUES).collect::<Vec<_>>(),
            "{workers} workers"
        );
    }
}
