//! Channel tests that need no runtime: plain threads and hand-polled futures. They are what
//! `.ci/run` runs under miri (which cannot start a runtime: the poller needs `timerfd`), so
//! they exercise the channel protocols, their waiter lists and crossbeam's queues with real
//! threads under miri's data-race and memory checks, and the scope hold (`scope::OpHold`, its
//! raw `Arc` handling in `scope/current.rs`) of a cancelled rendezvous send.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::thread;

use super::{TryRecvError, bounded};
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
