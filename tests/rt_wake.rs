//! Wakeups (ARCHITECTURE.md, invariant I1, "no lost wakeup"): a wake that arrives while the task is being
//! polled, wakes from plain threads, ping-pong between tasks and with plain threads, spawns into
//! an idle runtime, `block_on` woken from another thread, JoinHandle waker replacement, and stale
//! wakers used after completion and after the runtime is gone.
// `waker.clone().wake()` is deliberate: it exercises the clone and consuming-wake vtable entries.
#![allow(clippy::waker_clone_wake)]

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use support::{Counter, Tracker, Watchdog, spin_until, wait_until};

const LIMIT: Duration = Duration::from_secs(30);

/// Returns `Pending` once, after handing its waker to another thread and spinning (inside the
/// poll) until that thread has called `wake`; completes when polled again. A runtime that drops
/// a wake arriving while the task is running never polls it again.
struct WokenDuringPoll {
    to_waker_thread: mpsc::Sender<(Waker, Arc<AtomicBool>)>,
    woken: Arc<AtomicBool>,
    polls: usize,
}

impl Future for WokenDuringPoll {
    type Output = usize;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        self.polls += 1;
        if self.woken.load(SeqCst) {
            return Poll::Ready(self.polls);
        }
        let woken = self.woken.clone();
        self.to_waker_thread
            .send((cx.waker().clone(), woken.clone()))
            .unwrap();
        assert!(
            spin_until(LIMIT, || woken.load(SeqCst)),
            "waker thread stalled"
        );
        Poll::Pending
    }
}

#[test]
fn wake_during_poll_is_not_lost() {
    let _wd = Watchdog::new("wake_during_poll_is_not_lost");
    for workers in [1, 2] {
        let rt = support::rt_named(workers, "trl-wake1");
        let (tx, rx) = mpsc::channel::<(Waker, Arc<AtomicBool>)>();
        let waker_thread = std::thread::spawn(move || {
            while let Ok((waker, woken)) = rx.recv() {
                waker.wake();
                woken.store(true, SeqCst);
            }
        });
        for round in 0..support::scale(300) {
            let fut = WokenDuringPoll {
                to_waker_thread: tx.clone(),
                woken: Arc::new(AtomicBool::new(false)),
                polls: 0,
            };
            let polls = rt
                .block_on(rt.spawn(fut))
                .unwrap_or_else(|e| panic!("workers={workers} round {round}: {e:?}"));
            assert_eq!(polls, 2);
            // And on the block_on thread.
            let fut = WokenDuringPoll {
                to_waker_thread: tx.clone(),
                woken: Arc::new(AtomicBool::new(false)),
                polls: 0,
            };
            assert_eq!(rt.block_on(fut), 2);
        }
        drop(tx);
        waker_thread.join().unwrap();
    }
}

/// Returns `Pending` once after waking itself inside the poll (`wake_by_ref`), then completes.
struct SelfWake {
    polls: usize,
}

impl Future for SelfWake {
    type Output = usize;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        self.polls += 1;
        if self.polls >= 100 {
            return Poll::Ready(self.polls);
        }
        if self.polls % 2 == 0 {
            cx.waker().wake_by_ref();
        } else {
            cx.waker().clone().wake();
        }
        Poll::Pending
    }
}

#[test]
fn self_wake_inside_poll_reschedules() {
    let _wd = Watchdog::new("self_wake_inside_poll_reschedules");
    let rt = support::rt_named(1, "trl-wake2");
    let n = rt.block_on(rt.spawn(SelfWake { polls: 0 })).unwrap();
    assert_eq!(n, 100);
    // Also on the block_on thread.
    assert_eq!(rt.block_on(SelfWake { polls: 0 }), 100);
}

/// A waker-only future: `Pending` until `done`; stores the latest waker in `slot`.
struct Signal {
    done: Arc<AtomicBool>,
    slot: Arc<Mutex<Option<Waker>>>,
}

impl Future for Signal {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        *self.slot.lock().unwrap() = Some(cx.waker().clone());
        if self.done.load(SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[test]
fn wake_from_a_plain_thread_racing_the_poll() {
    let _wd = Watchdog::new("wake_from_a_plain_thread_racing_the_poll");
    // The waker may be called before, during or after the poll that registered it.
    let rt = support::rt_named(2, "trl-wake3");
    for _ in 0..support::scale(2000) {
        let done = Arc::new(AtomicBool::new(false));
        let slot = Arc::new(Mutex::new(None::<Waker>));
        let h = rt.spawn(Signal {
            done: done.clone(),
            slot: slot.clone(),
        });
        let waker = loop {
            if let Some(w) = slot.lock().unwrap().clone() {
                break w;
            }
            std::thread::yield_now();
        };
        done.store(true, SeqCst);
        waker.wake();
        rt.block_on(h).unwrap();
    }
}

#[test]
fn ping_pong_between_tasks() {
    let _wd = Watchdog::new("ping_pong_between_tasks");
    let rt = support::rt_named(2, "trl-wake4");
    let rounds = support::scale(20_000) as u32;
    let (to_b, mut b_rx) = tokio::sync::mpsc::channel::<u32>(1);
    let (to_a, mut a_rx) = tokio::sync::mpsc::channel::<u32>(1);
    let a = rt.spawn(async move {
        for i in 0..rounds {
            to_b.send(i).await.unwrap();
            assert_eq!(a_rx.recv().await, Some(i + 1));
        }
        rounds
    });
    let b = rt.spawn(async move {
        let mut n = 0;
        while let Some(i) = b_rx.recv().await {
            to_a.send(i + 1).await.unwrap();
            n += 1;
        }
        n
    });
    assert_eq!(rt.block_on(a).unwrap(), rounds);
    assert_eq!(rt.block_on(b).unwrap(), rounds);
}

#[test]
fn ping_pong_between_a_task_and_a_plain_thread() {
    let _wd = Watchdog::new("ping_pong_between_a_task_and_a_plain_thread");
    let rt = support::rt_named(2, "trl-wake5");
    let rounds = support::scale(5_000) as u32;
    let (to_task, mut task_rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
    let (to_thread, thread_rx) = mpsc::channel::<u32>();
    let task = rt.spawn(async move {
        let mut n = 0;
        while let Some(i) = task_rx.recv().await {
            to_thread.send(i + 1).unwrap();
            n += 1;
        }
        n
    });
    for i in 0..rounds {
        to_task.send(i).unwrap();
        assert_eq!(thread_rx.recv_timeout(LIMIT).expect("lost wakeup?"), i + 1);
    }
    drop(to_task);
    assert_eq!(futures_lite::future::block_on(task).unwrap(), rounds);
}

#[test]
fn spawn_into_an_idle_runtime_repeatedly() {
    let _wd = Watchdog::new("spawn_into_an_idle_runtime_repeatedly");
    // Each spawn must wake a parked worker; awaited on a plain thread (not via block_on).
    let rt = support::rt_named(2, "trl-wake6");
    for i in 0..support::scale(3000) as u32 {
        if i % 500 == 0 {
            std::thread::sleep(Duration::from_millis(5)); // let the workers park deeply
        }
        let h = rt.spawn(async move { i });
        assert_eq!(futures_lite::future::block_on(h).unwrap(), i);
    }
}

#[test]
fn block_on_is_woken_by_a_plain_thread() {
    let _wd = Watchdog::new("block_on_is_woken_by_a_plain_thread");
    let rt = support::rt_named(1, "trl-wake7");
    for i in 0..support::scale(500) as u32 {
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let t = std::thread::spawn(move || {
            if i % 2 == 0 {
                std::thread::yield_now();
            }
            tx.send(i).unwrap();
        });
        assert_eq!(rt.block_on(rx).unwrap(), i);
        t.join().unwrap();
    }
}

#[test]
fn join_handle_wakes_the_latest_waker() {
    let _wd = Watchdog::new("join_handle_wakes_the_latest_waker");
    let rt = support::rt_named(2, "trl-wake8");
    let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
    let mut h = rt.spawn(async move { rx.await.unwrap() });
    // First poll of the handle from one task (registers that task's waker) ...
    let (h, first) = rt
        .block_on(rt.spawn(async move {
            let first = futures_lite::future::poll_once(&mut h).await;
            (h, first.is_none())
        }))
        .unwrap();
    assert!(first, "the task cannot have finished yet");
    // ... then awaited from another task: that task's waker must be the one woken.
    let tracker = Tracker::new();
    let waiter = rt.spawn(tracker.track(h));
    // The waiter has polled the handle (registered its waker) before the value is sent.
    assert!(wait_until(LIMIT, || tracker.pending.get() >= 1));
    tx.send(9).unwrap();
    assert_eq!(rt.block_on(waiter).unwrap().unwrap(), 9);
}

#[test]
fn stale_wakers_are_harmless_after_completion_and_after_runtime_drop() {
    let _wd = Watchdog::new("stale_wakers_are_harmless_after_completion_and_after_runtime_drop");
    let rt = support::rt_named(2, "trl-wake9");
    let tracker = Tracker::new();
    let wakers = Arc::new(Mutex::new(Vec::<Waker>::new()));
    let mut handles = Vec::new();
    for i in 0..100 {
        let w = wakers.clone();
        handles.push(rt.spawn(tracker.track(async move {
            std::future::poll_fn(|cx| {
                w.lock().unwrap().push(cx.waker().clone());
                Poll::Ready(())
            })
            .await;
            if i % 2 == 0 {
                trellis::yield_now().await;
            }
            i
        })));
    }
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(rt.block_on(h).unwrap(), i);
    }
    let wakers = std::mem::take(&mut *wakers.lock().unwrap());
    // After completion, from several threads at once.
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for w in &wakers {
                    w.wake_by_ref();
                    w.clone().wake();
                }
            });
        }
    });
    assert_eq!(rt.block_on(rt.spawn(async { 1 })).unwrap(), 1);
    drop(rt);
    assert_eq!(tracker.dropped.get(), 100);
    // After the runtime is gone: waking, cloning and dropping must not crash or leak a panic.
    for w in &wakers {
        w.wake_by_ref();
        let c = w.clone();
        c.wake();
    }
    drop(wakers);
}

#[test]
fn waker_of_a_parked_task_survives_runtime_drop() {
    let _wd = Watchdog::new("waker_of_a_parked_task_survives_runtime_drop");
    let rt = support::rt_named(1, "trl-wakeA");
    let slot = Arc::new(Mutex::new(None::<Waker>));
    let done = Arc::new(AtomicBool::new(false));
    let tracker = Tracker::new();
    let h = rt.spawn(tracker.track(Signal {
        done: done.clone(),
        slot: slot.clone(),
    }));
    assert!(wait_until(LIMIT, || slot.lock().unwrap().is_some()));
    let waker = slot.lock().unwrap().take().unwrap();
    drop(rt);
    assert_eq!(tracker.dropped.get(), 1);
    // The task was cancelled at shutdown; its waker outlives it.
    waker.wake_by_ref();
    waker.clone().wake();
    drop(waker);
    assert!(
        futures_lite::future::block_on(h)
            .unwrap_err()
            .is_cancelled()
    );
}

#[test]
fn many_wakers_from_many_threads_at_once() {
    let _wd = Watchdog::new("many_wakers_from_many_threads_at_once");
    // 4 threads hammer the waker of one task that counts its polls until told to stop.
    let rt = support::rt_named(2, "trl-wakeB");
    let slot = Arc::new(Mutex::new(None::<Waker>));
    let stop = Arc::new(AtomicBool::new(false));
    let polls = Arc::new(AtomicUsize::new(0));
    let (s2, st2, p2) = (slot.clone(), stop.clone(), polls.clone());
    let h = rt.spawn(std::future::poll_fn(move |cx| {
        p2.fetch_add(1, SeqCst);
        *s2.lock().unwrap() = Some(cx.waker().clone());
        if st2.load(SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }));
    assert!(wait_until(LIMIT, || slot.lock().unwrap().is_some()));
    let waker = slot.lock().unwrap().clone().unwrap();
    let wakes = Counter::new();
    std::thread::scope(|s| {
        for _ in 0..4 {
            let waker = waker.clone();
            let wakes = wakes.clone();
            s.spawn(move || {
                for _ in 0..5000 {
                    waker.wake_by_ref();
                    wakes.incr();
                }
            });
        }
    });
    stop.store(true, SeqCst);
    waker.wake();
    rt.block_on(h).unwrap();
    let p = polls.load(SeqCst);
    assert!(p >= 2, "the task was never re-polled");
    assert!(
        p <= wakes.get() + 2,
        "more polls ({p}) than wakes ({})",
        wakes.get()
    );
}
