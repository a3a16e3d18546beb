//! Channel tests that need no runtime: plain threads and hand-polled futures. They are what
//! `.ci/run` runs under miri (which cannot start a runtime: the poller needs `timerfd`), so
//! they exercise the channel protocols, their waiter lists and crossbeam's queues with real
//! threads under miri's data-race and memory checks, the oneshot's cells (`oneshot.rs`), and
//! the scope hold (`scope::OpHold`, its raw `Arc` handling in `scope/current.rs`) of a
//! cancelled rendezvous send.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;

use super::{RecvError, TryRecvError, bounded, oneshot};
use crate::CancelScope;

/// Values per thread: small under miri, which runs everything thousands of times slower.
const N: u32 = if cfg!(miri) { 20 } else { 2_000 };

#[test]
fn rendezvous_hand_off_between_plain_threads() {
    let (tx, rx) = bounded::<u32>(0);
    let sender = thread::spawn(move || {
        for v in 0..N {
            tx.send_blocking(v).unwrap();
        }
    });
    let got: Vec<u32> = (0..N).map(|_| rx.recv_blocking().unwrap()).collect();
    sender.join().unwrap();
    assert_eq!(got, (0..N).collect::<Vec<_>>());
    assert!(
        rx.recv_blocking().is_err(),
        "closed once the sender is gone"
    );
}

#[test]
fn bounded_mpmc_between_plain_threads() {
    let (tx, rx) = bounded::<u32>(2);
    let senders: Vec<_> = (0..2)
        .map(|_| {
            let tx = tx.clone();
            thread::spawn(move || (0..N).for_each(|v| tx.send_blocking(v).unwrap()))
        })
        .collect();
    drop(tx);
    let receivers: Vec<_> = (0..2)
        .map(|_| {
            let rx = rx.clone();
            thread::spawn(move || {
                let mut sum = 0u64;
                while let Ok(v) = rx.recv_blocking() {
                    sum += u64::from(v);
                }
                sum
            })
        })
        .collect();
    senders.into_iter().for_each(|s| s.join().unwrap());
    let total: u64 = receivers.into_iter().map(|r| r.join().unwrap()).sum();
    assert_eq!(total, 2 * (0..u64::from(N)).sum::<u64>());
}

/// A rendezvous send whose scope is cancelled after a receiver took its value settles as
/// delivered; one cancelled before any take sends nothing (module docs of `rendezvous.rs`).
#[test]
fn cancelled_rendezvous_send_settles_in_its_next_poll() {
    let mut cx = Context::from_waker(Waker::noop());
    for take_first in [true, false] {
        let (tx, rx) = bounded::<u32>(0);
        let scope = CancelScope::new();
        let handle = scope.handle();
        let mut run = pin!(scope.run(tx.send(9)));
        assert!(
            run.as_mut().poll(&mut cx).is_pending(),
            "offered, not taken"
        );
        if take_first {
            assert_eq!(rx.try_recv(), Ok(9));
        }
        handle.cancel();
        match run.as_mut().poll(&mut cx) {
            Poll::Ready(Some(Ok(()))) => assert!(take_first, "reported sent, never taken"),
            Poll::Ready(None) => assert!(!take_first, "reported cancelled, but delivered"),
            other => panic!("take_first {take_first}: {other:?}"),
        }
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }
}

/// Counts its wakes.
struct CountWake(AtomicUsize);

impl Wake for CountWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Counts its drops.
struct Token(Arc<AtomicUsize>);

impl Drop for Token {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// A receiver that waits with one waker and then another: the send wakes the second only, and
/// the receiver's drop releases the waker it holds while the sender lives on.
#[test]
fn oneshot_waker_replaced_then_released() {
    let (a, b) = (
        Arc::new(CountWake(AtomicUsize::new(0))),
        Arc::new(CountWake(AtomicUsize::new(0))),
    );
    let (wa, wb) = (Waker::from(a.clone()), Waker::from(b.clone()));
    let (tx, mut rx) = oneshot::<u8>();
    assert!(
        pin!(rx.recv())
            .poll(&mut Context::from_waker(&wa))
            .is_pending()
    );
    assert!(
        pin!(rx.recv())
            .poll(&mut Context::from_waker(&wb))
            .is_pending()
    );
    assert_eq!(
        Arc::strong_count(&a),
        2,
        "the first waker was dropped when replaced"
    );
    tx.send(4).unwrap();
    assert_eq!((a.0.load(SeqCst), b.0.load(SeqCst)), (0, 1));
    assert_eq!(rx.try_recv(), Ok(4));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed), "received once");
    drop(rx);
    assert_eq!(
        Arc::strong_count(&b),
        2,
        "both halves gone, the waker with them"
    );

    let (tx, mut rx) = oneshot::<u8>();
    assert!(
        pin!(rx.recv())
            .poll(&mut Context::from_waker(&wb))
            .is_pending()
    );
    assert_eq!(Arc::strong_count(&b), 3);
    drop(rx);
    assert_eq!(
        Arc::strong_count(&b),
        2,
        "the dropped receiver's waker outlived it"
    );
    assert!(tx.is_closed());
    assert_eq!(tx.send(1), Err(1));
}

/// Every ending of the value: received, dropped with an unreceived receiver, given back to a
/// sender whose receiver is gone, never sent: each token is dropped exactly once.
#[test]
fn oneshot_values_are_dropped_exactly_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = oneshot();
    tx.send(Token(drops.clone())).map_err(drop).unwrap();
    drop(rx.try_recv().unwrap());
    drop(rx);
    let (tx, rx) = oneshot();
    tx.send(Token(drops.clone())).map_err(drop).unwrap();
    drop(rx);
    let (tx, rx) = oneshot();
    drop(rx);
    drop(tx.send(Token(drops.clone())).unwrap_err());
    let (tx, rx) = oneshot::<Token>();
    drop(tx);
    assert_eq!(rx.recv_blocking().err(), Some(RecvError));
    assert_eq!(drops.load(SeqCst), 3);
}

/// Sends from plain threads to receivers blocked on them, and drops racing sends.
#[test]
fn oneshot_between_plain_threads() {
    let drops = Arc::new(AtomicUsize::new(0));
    for i in 0..N {
        let (tx, rx) = oneshot();
        let t = thread::spawn(move || tx.send(i).is_ok());
        assert_eq!(rx.recv_blocking(), Ok(i));
        assert!(t.join().unwrap());

        let (tx, rx) = oneshot();
        let token = Token(drops.clone());
        let t = thread::spawn(move || drop(tx.send(token)));
        drop(rx);
        t.join().unwrap();
    }
    assert_eq!(drops.load(SeqCst), N as usize);
}
