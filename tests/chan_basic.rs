//! Channel basics: FIFO order per sender, bounded back-pressure, unbounded, the `try_*` twins,
//! `len`/`capacity`/`is_closed`, the `Stream` impl, rendezvous hand-off semantics, MPMC
//! delivery between tasks on several workers, and checkpoints (every channel op spends
//! cooperative budget, so a hot loop of ready channel ops cannot starve its worker).

mod support;

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_lite::Stream;
use support::Watchdog;
use trellis::channel::{self, RecvError, TryRecvError, TrySendError};

/// Polls `fut` once with a no-op waker.
fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn fifo_per_sender() {
    let _w = Watchdog::new("fifo_per_sender");
    let rt = support::rt_named(2, "chan-basic");
    for cap in [Some(1), Some(7), None] {
        let (tx, rx) = match cap {
            Some(c) => channel::bounded::<(usize, usize)>(c),
            None => channel::unbounded(),
        };
        const SENDERS: usize = 3;
        const PER: usize = 2_000;
        rt.block_on(async move {
            for s in 0..SENDERS {
                let tx = tx.clone();
                drop(trellis::spawn(async move {
                    for i in 0..PER {
                        tx.send((s, i)).await.unwrap();
                    }
                }));
            }
            drop(tx);
            let mut next = [0usize; SENDERS];
            while let Ok((s, i)) = rx.recv().await {
                assert_eq!(i, next[s], "sender {s} out of order (cap {cap:?})");
                next[s] += 1;
            }
            assert_eq!(next, [PER; SENDERS]);
        });
    }
}

#[test]
fn bounded_back_pressure() {
    let _w = Watchdog::new("bounded_back_pressure");
    let rt = support::rt_named(2, "chan-basic");
    rt.block_on(async {
        let (tx, rx) = channel::bounded::<u32>(2);
        tx.send(1).await.unwrap();
        tx.send(2).await.unwrap();
        assert_eq!(tx.len(), 2);
        assert_eq!(tx.try_send(3), Err(TrySendError::Full(3)));

        // A send on the full channel waits ...
        let sent = Arc::new(AtomicBool::new(false));
        let flag = sent.clone();
        let tx2 = tx.clone();
        let blocked = trellis::spawn(async move {
            tx2.send(3).await.unwrap();
            flag.store(true, SeqCst);
        });
        trellis::time::sleep(Duration::from_millis(30)).await;
        assert!(!sent.load(SeqCst), "send completed on a full channel");
        assert_eq!(rx.len(), 2);

        // ... and resumes when a slot frees.
        assert_eq!(rx.recv().await, Ok(1));
        blocked.await.unwrap();
        assert!(sent.load(SeqCst));
        assert_eq!(rx.recv().await, Ok(2));
        assert_eq!(rx.recv().await, Ok(3));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    });
}

#[test]
fn many_senders_wait_on_a_full_channel_and_all_complete() {
    let _w = Watchdog::new("many_senders_wait_on_a_full_channel_and_all_complete");
    let rt = support::rt_named(3, "chan-basic");
    rt.block_on(async {
        let (tx, rx) = channel::bounded::<usize>(1);
        let handles: Vec<_> = (0..50)
            .map(|i| {
                let tx = tx.clone();
                trellis::spawn(async move { tx.send(i).await.unwrap() })
            })
            .collect();
        drop(tx);
        trellis::time::sleep(Duration::from_millis(10)).await;
        let mut got = Vec::new();
        while let Ok(v) = rx.recv().await {
            got.push(v);
        }
        for h in handles {
            h.await.unwrap();
        }
        got.sort_unstable();
        assert_eq!(got, (0..50).collect::<Vec<_>>());
    });
}

#[test]
fn unbounded_never_waits() {
    let _w = support::Watchdog::new("unbounded_never_waits");
    let (tx, rx) = channel::unbounded::<usize>();
    for i in 0..10_000 {
        tx.try_send(i).unwrap();
    }
    assert_eq!(tx.len(), 10_000);
    assert_eq!(tx.capacity(), None);
    assert_eq!(rx.capacity(), None);
    for i in 0..10_000 {
        assert_eq!(rx.try_recv(), Ok(i));
    }
    assert!(rx.is_empty());
}

#[test]
fn introspection() {
    let _w = support::Watchdog::new("introspection");
    let (tx, rx) = channel::bounded::<u8>(3);
    assert_eq!(tx.capacity(), Some(3));
    assert!(tx.is_empty() && rx.is_empty());
    tx.try_send(1).unwrap();
    assert_eq!((tx.len(), rx.len()), (1, 1));
    assert!(!tx.is_closed() && !rx.is_closed());
    let dbg = format!("{tx:?} {rx:?}");
    assert!(dbg.contains("Sender") && dbg.contains("Receiver") && dbg.contains("len: 1"));
    assert!(rx.close());
    assert!(tx.is_closed() && rx.is_closed());
    assert_eq!(channel::bounded::<u8>(0).0.capacity(), Some(0));
    let (tx, _rx) = channel::bounded::<u8>(1);
    let fut = tx.send(1);
    assert!(format!("{fut:?}").contains("SendFuture"));
}

#[test]
fn try_recv_reports_empty_then_closed() {
    let _w = support::Watchdog::new("try_recv_reports_empty_then_closed");
    let (tx, rx) = channel::bounded::<u8>(1);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    tx.try_send(9).unwrap();
    drop(tx);
    assert_eq!(rx.try_recv(), Ok(9));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn stream_yields_every_value_then_ends() {
    let _w = Watchdog::new("stream_yields_every_value_then_ends");
    let rt = support::rt_named(2, "chan-basic");
    rt.block_on(async {
        let (tx, rx) = channel::bounded::<u32>(4);
        let producer = trellis::spawn(async move {
            for i in 0..100 {
                tx.send(i).await.unwrap();
            }
        });
        let mut rx = pin!(rx);
        let mut got = Vec::new();
        while let Some(v) = poll_fn(|cx| rx.as_mut().poll_next(cx)).await {
            got.push(v);
        }
        producer.await.unwrap();
        assert_eq!(got, (0..100).collect::<Vec<_>>());
        // A finished stream stays finished.
        assert_eq!(poll_fn(|cx| rx.as_mut().poll_next(cx)).await, None);
    });
}

#[test]
fn mpmc_each_value_to_exactly_one_receiver() {
    let _w = Watchdog::new("mpmc_each_value_to_exactly_one_receiver");
    let rt = support::rt_named(4, "chan-basic");
    const N: usize = 10_000;
    let seen: Arc<Vec<AtomicUsize>> = Arc::new((0..N).map(|_| AtomicUsize::new(0)).collect());
    rt.block_on(async {
        let (tx, rx) = channel::bounded::<usize>(8);
        let consumers: Vec<_> = (0..3)
            .map(|_| {
                let rx = rx.clone();
                let seen = seen.clone();
                trellis::spawn(async move {
                    while let Ok(v) = rx.recv().await {
                        seen[v].fetch_add(1, SeqCst);
                    }
                })
            })
            .collect();
        drop(rx);
        for i in 0..N {
            tx.send(i).await.unwrap();
        }
        drop(tx);
        for c in consumers {
            c.await.unwrap();
        }
    });
    assert!(seen.iter().all(|c| c.load(SeqCst) == 1));
}

// ---------------------------------------------------------------------------------------------
// Rendezvous

#[test]
fn rendezvous_send_completes_only_after_the_take() {
    let _w = Watchdog::new("rendezvous_send_completes_only_after_the_take");
    let rt = support::rt_named(2, "chan-basic");
    rt.block_on(async {
        let (tx, rx) = channel::bounded::<u32>(0);
        assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let sender = trellis::spawn(async move {
            tx.send(7).await.unwrap();
            flag.store(true, SeqCst);
            tx
        });
        // The value is offered, but the send does not complete until a receiver takes it.
        assert!(support::wait_until(Duration::from_secs(10), || rx.len() == 1));
        trellis::time::sleep(Duration::from_millis(30)).await;
        assert!(
            !done.load(SeqCst),
            "rendezvous send completed before the take"
        );
        assert_eq!(rx.recv().await, Ok(7));
        let tx = sender.await.unwrap();
        assert!(done.load(SeqCst));
        assert_eq!(rx.len(), 0);

        // The receiver arrives first: the send completes once it took the value.
        let receiver = trellis::spawn(async move { rx.recv().await });
        tx.send(8).await.unwrap();
        assert_eq!(receiver.await.unwrap(), Ok(8));
    });
}

#[test]
fn rendezvous_one_sender_offers_at_a_time_and_all_complete() {
    let _w = Watchdog::new("rendezvous_one_sender_offers_at_a_time_and_all_complete");
    let rt = support::rt_named(3, "chan-basic");
    rt.block_on(async {
        let (tx, rx) = channel::bounded::<usize>(0);
        let senders: Vec<_> = (0..20)
            .map(|i| {
                let tx = tx.clone();
                trellis::spawn(async move { tx.send(i).await.unwrap() })
            })
            .collect();
        drop(tx);
        trellis::time::sleep(Duration::from_millis(10)).await;
        assert!(rx.len() <= 1);
        let mut got = Vec::new();
        while let Ok(v) = rx.recv().await {
            assert!(rx.len() <= 1);
            got.push(v);
        }
        for s in senders {
            s.await.unwrap();
        }
        got.sort_unstable();
        assert_eq!(got, (0..20).collect::<Vec<_>>());
    });
}

#[test]
fn rendezvous_close_returns_the_offered_value() {
    let _w = Watchdog::new("rendezvous_close_returns_the_offered_value");
    let rt = support::rt_named(2, "chan-basic");
    rt.block_on(async {
        let (tx, rx) = channel::bounded::<String>(0);
        let sender = trellis::spawn(async move { tx.send("offered".to_string()).await });
        assert!(support::wait_until(Duration::from_secs(10), || rx.len() == 1));
        assert!(rx.close());
        let err = sender.await.unwrap().unwrap_err();
        assert_eq!(err.into_inner(), "offered");
        assert_eq!(rx.recv().await, Err(RecvError));
    });
}

#[test]
fn rendezvous_try_recv_takes_an_offered_value() {
    let _w = support::Watchdog::new("rendezvous_try_recv_takes_an_offered_value");
    let (tx, rx) = channel::bounded::<u8>(0);
    let mut send = tx.send(3);
    assert!(poll_once(&mut send).is_pending());
    assert_eq!(rx.try_recv(), Ok(3));
    assert_eq!(poll_once(&mut send), Poll::Ready(Ok(())));
}

// ---------------------------------------------------------------------------------------------
// Checkpoints

/// A task looping on channel operations that are always ready must still let the other task
/// of its (single) worker run: each op spends cooperative budget and yields when it is spent.
#[test]
fn channel_ops_are_checkpoints() {
    let _w = Watchdog::new("channel_ops_are_checkpoints");
    let rt = support::rt_named(1, "chan-basic");
    let stop = Arc::new(AtomicBool::new(false));
    let ops = rt.block_on({
        let stop = stop.clone();
        async move {
            let (tx, rx) = channel::unbounded::<u8>();
            let hot = trellis::spawn({
                let stop = stop.clone();
                async move {
                    let mut ops = 0u64;
                    while !stop.load(SeqCst) {
                        tx.send(1).await.unwrap();
                        rx.recv().await.unwrap();
                        ops += 2;
                    }
                    ops
                }
            });
            // Runs on the same (only) worker: only if `hot` yields.
            let stopper = trellis::spawn(async move { stop.store(true, SeqCst) });
            stopper.await.unwrap();
            hot.await.unwrap()
        }
    });
    assert!(stop.load(SeqCst));
    assert!(ops > 0);
}
