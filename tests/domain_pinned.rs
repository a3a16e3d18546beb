//! Pinned stays home (ARCHITECTURE.md, guarantee G11): a pinned task is polled and dropped only on
//! its home domain's thread, whether it completes, is aborted from another thread (parked, or
//! before its first poll), is woken from other threads, the blocking pool or a timer, or is
//! dropped at shutdown (parked forever, queued, sleeping, yielding). Every poll and every drop
//! is checked by the `AtHome` wrapper (`domain_common`), also under stress.
#![cfg(panic = "unwind")]

mod domain_common;
mod support;

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::Duration;

use domain_common::{DropOn, Home, domain_threads};
use support::{Watchdog, spin_until, wait_until};
use trellis::{DomainId, JoinHandle, Runtime};

const LIMIT: Duration = Duration::from_secs(30);
const HOUR: Duration = Duration::from_secs(3600);

fn d(i: usize) -> DomainId {
    DomainId::new(i)
}

#[test]
fn pinned_tasks_that_complete_run_and_drop_at_home() {
    let _wd = Watchdog::new("pinned_tasks_that_complete_run_and_drop_at_home");
    let rt = support::rt_named(3, "trl-dpin1");
    let home = Home::new();
    let threads = domain_threads(&rt);
    for (i, expected) in threads.iter().enumerate() {
        let h = home.clone();
        let (value, ran_on) = rt
            .block_on(rt.spawn_on(d(i), move || {
                h.clone().wrap(async move {
                    trellis::yield_now().await;
                    trellis::time::sleep(Duration::from_millis(1)).await;
                    // A child pinned to the same domain, through spawn_local.
                    let child = trellis::spawn_local(h.wrap(async {
                        trellis::yield_now().await;
                        thread::current().id()
                    }));
                    let child_thread = child.await.unwrap();
                    (i * 10, child_thread)
                })
            }))
            .unwrap();
        assert_eq!(value, i * 10);
        assert_eq!(ran_on, *expected, "spawn_local child ran off its domain");
    }
    drop(rt);
    assert_eq!(home.created.get(), 6);
    assert_eq!(home.completed.get(), 6);
    home.assert_all_home_and_dropped("complete");
}

/// Where an abort (or a wake) comes from.
#[derive(Clone, Copy, Debug)]
enum Source {
    BlockOn,
    OtherDomain,
    StealableTask,
    Blocking,
    PlainThread,
}

const SOURCES: [Source; 5] = [
    Source::BlockOn,
    Source::OtherDomain,
    Source::StealableTask,
    Source::Blocking,
    Source::PlainThread,
];

/// Aborts `h` from `source`, tells `aborted`, then awaits `h` there; returns whether it was
/// cancelled.
fn abort_from(
    rt: &Runtime,
    source: Source,
    other: DomainId,
    h: JoinHandle<()>,
    aborted: mpsc::Sender<()>,
) -> bool {
    let cancelled = |r: Result<(), trellis::JoinError>| r.is_err_and(|e| e.is_cancelled());
    let abort = move |h: &JoinHandle<()>| {
        h.abort();
        let _ = aborted.send(());
    };
    match source {
        Source::BlockOn => rt.block_on(async move {
            abort(&h);
            cancelled(h.await)
        }),
        Source::OtherDomain => rt
            .block_on(rt.spawn_on(other, move || async move {
                abort(&h);
                cancelled(h.await)
            }))
            .unwrap(),
        Source::StealableTask => rt
            .block_on(rt.spawn(async move {
                abort(&h);
                cancelled(h.await)
            }))
            .unwrap(),
        Source::Blocking => rt
            .block_on(rt.spawn_blocking(move || {
                abort(&h);
                cancelled(futures_lite::future::block_on(h))
            }))
            .unwrap(),
        Source::PlainThread => thread::spawn(move || {
            abort(&h);
            cancelled(futures_lite::future::block_on(h))
        })
        .join()
        .unwrap(),
    }
}

#[test]
fn pinned_task_aborted_while_parked_is_dropped_at_home() {
    let _wd = Watchdog::new("pinned_task_aborted_while_parked_is_dropped_at_home");
    let rt = support::rt_named(2, "trl-dpin2");
    let home = Home::new();
    let mut keep = Vec::new();
    for (n, source) in SOURCES.into_iter().enumerate() {
        let case = format!("abort while parked from {source:?}");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        keep.push(tx); // never sent: the task stays parked until aborted
        let h = home.clone();
        let handle = rt.spawn_on(d(0), move || {
            h.wrap(async move {
                let _ = rx.await;
                unreachable!("the sender is never used");
            })
        });
        assert!(
            wait_until(LIMIT, || home.pending.get() == n + 1),
            "{case}: never parked"
        );
        let (aborted, _) = mpsc::channel();
        assert!(
            abort_from(&rt, source, d(1), handle, aborted),
            "{case}: not cancelled"
        );
        assert_eq!(home.dropped.get(), n + 1, "{case}: not dropped after abort");
        home.assert_no_wrong_thread(&case);
    }
    drop(rt);
    home.assert_all_home_and_dropped("abort while parked");
}

#[test]
fn pinned_task_aborted_before_its_first_poll_is_dropped_at_home_unpolled() {
    let _wd =
        Watchdog::new("pinned_task_aborted_before_its_first_poll_is_dropped_at_home_unpolled");
    let rt = support::rt_named(2, "trl-dpin3");
    let home = Home::new();
    for source in SOURCES {
        let case = format!("abort before first poll from {source:?}");
        // spawn_local from a task on domain 0, which then blocks its thread until the abort is
        // done: the new task cannot have been polled.
        let (handle_tx, handle_rx) = mpsc::channel::<JoinHandle<()>>();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let h = home.clone();
        let spawner = rt.spawn_on(d(0), move || async move {
            let child = trellis::spawn_local(h.wrap(async {
                unreachable!("aborted before its first poll");
            }));
            handle_tx.send(child).unwrap();
            release_rx.recv_timeout(LIMIT).expect("released");
        });
        let child = handle_rx.recv_timeout(LIMIT).expect("child handle");
        // Domain 0 stays blocked until the abort has been requested; then the source awaits
        // the handle, which needs domain 0 to drop the task.
        let (aborted_tx, aborted_rx) = mpsc::channel::<()>();
        let releaser = thread::spawn(move || {
            aborted_rx.recv_timeout(LIMIT).expect("abort requested");
            release_tx.send(()).unwrap();
        });
        assert!(
            abort_from(&rt, source, d(1), child, aborted_tx),
            "{case}: not cancelled"
        );
        releaser.join().unwrap();
        rt.block_on(spawner).unwrap();
        home.assert_no_wrong_thread(&case);
    }
    drop(rt);
    assert_eq!(home.created.get(), SOURCES.len());
    assert_eq!(home.first_polls.get(), 0, "polled after abort");
    home.assert_all_home_and_dropped("abort before first poll");
}

#[test]
#[allow(clippy::async_yields_async)] // a task hands a JoinHandle back, on purpose
fn spawn_on_aborted_before_it_runs_drops_the_closure_at_home() {
    let _wd = Watchdog::new("spawn_on_aborted_before_it_runs_drops_the_closure_at_home");
    let rt = support::rt_named(2, "trl-dpin4");
    let threads = domain_threads(&rt);
    let log = Arc::new(Mutex::new(Vec::new()));
    let built = Arc::new(AtomicBool::new(false));
    // Block domain 0 inside a poll.
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let blocker = rt.spawn_on(d(0), move || async move {
        started_tx.send(()).unwrap();
        release_rx.recv_timeout(LIMIT).expect("released");
    });
    started_rx.recv_timeout(LIMIT).unwrap();
    let guard = DropOn::new(&log);
    let b2 = built.clone();
    let h = rt.spawn_on(d(0), move || {
        b2.store(true, SeqCst);
        let _guard = guard;
        async {}
    });
    // Abort from another domain, then let domain 0 go on.
    let h = rt
        .block_on(rt.spawn_on(d(1), move || async move {
            h.abort();
            h
        }))
        .unwrap();
    release_tx.send(()).unwrap();
    let err = rt.block_on(h).unwrap_err();
    assert!(err.is_cancelled(), "{err:?}");
    rt.block_on(blocker).unwrap();
    assert!(
        !built.load(SeqCst),
        "the closure ran although aborted first"
    );
    let log = log.lock().unwrap().clone();
    assert_eq!(
        log,
        vec![threads[0]],
        "the closure must be dropped once, at home"
    );
}

/// A message from a wake source to a pinned receiver, acknowledged before the next one is sent.
type Msg = (&'static str, mpsc::Sender<()>);

#[test]
fn pinned_task_woken_from_everywhere_is_polled_only_at_home() {
    let _wd = Watchdog::new("pinned_task_woken_from_everywhere_is_polled_only_at_home");
    let rt = support::rt_named(3, "trl-dpin5");
    let home = Home::new();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Msg>();
    let h = home.clone();
    let receiver = rt.spawn_on(d(0), move || {
        h.wrap(async move {
            let mut seen = Vec::new();
            while let Some((from, ack)) = rx.recv().await {
                seen.push(from);
                // A timer wake too, between messages.
                trellis::time::sleep(Duration::from_micros(100)).await;
                ack.send(()).unwrap();
            }
            seen
        })
    });
    let rounds = 20;
    for _ in 0..rounds {
        let send = |from: &'static str, tx: &tokio::sync::mpsc::UnboundedSender<Msg>| {
            let (ack_tx, ack_rx) = mpsc::channel();
            tx.send((from, ack_tx)).unwrap();
            ack_rx
        };
        // block_on thread
        let ack = rt.block_on(async { send("block_on", &tx) });
        ack.recv_timeout(LIMIT).unwrap();
        // other domains
        for other in [1, 2] {
            let tx2 = tx.clone();
            let ack = rt
                .block_on(rt.spawn_on(d(other), move || async move { send("domain", &tx2) }))
                .unwrap();
            ack.recv_timeout(LIMIT).unwrap();
        }
        // the same domain (a sibling pinned task)
        let tx2 = tx.clone();
        let ack = rt
            .block_on(rt.spawn_on(d(0), move || async move { send("same domain", &tx2) }))
            .unwrap();
        ack.recv_timeout(LIMIT).unwrap();
        // a stealable task
        let tx2 = tx.clone();
        let ack = rt
            .block_on(rt.spawn(async move { send("stealable", &tx2) }))
            .unwrap();
        ack.recv_timeout(LIMIT).unwrap();
        // the blocking pool
        let tx2 = tx.clone();
        let ack = rt
            .block_on(rt.spawn_blocking(move || send("blocking", &tx2)))
            .unwrap();
        ack.recv_timeout(LIMIT).unwrap();
        // a plain thread
        let tx2 = tx.clone();
        let ack = thread::spawn(move || send("plain thread", &tx2))
            .join()
            .unwrap();
        ack.recv_timeout(LIMIT).unwrap();
        // a timer: a stealable task sleeps, then sends
        let tx2 = tx.clone();
        let ack = rt
            .block_on(rt.spawn(async move {
                trellis::time::sleep(Duration::from_micros(200)).await;
                send("after timer", &tx2)
            }))
            .unwrap();
        ack.recv_timeout(LIMIT).unwrap();
    }
    drop(tx);
    let seen = rt.block_on(receiver).unwrap();
    assert_eq!(seen.len(), rounds * 8);
    // Messages are acknowledged before the next is sent, so the receiver is (almost always)
    // parked when one arrives: each is a wake from its source's thread.
    assert!(
        home.polls.get() >= rounds * 8,
        "polls: {}",
        home.polls.get()
    );
    drop(rt);
    home.assert_all_home_and_dropped("woken from everywhere");
}

#[test]
fn pinned_tasks_parked_queued_sleeping_and_yielding_are_dropped_at_home_at_shutdown() {
    let _wd = Watchdog::new(
        "pinned_tasks_parked_queued_sleeping_and_yielding_are_dropped_at_home_at_shutdown",
    );
    let workers = 3;
    let rt = support::rt_named(workers, "trl-dpin6");
    let parked = Home::new();
    let sleeping = Home::new();
    let yielding = Home::new();
    let queued = Home::new();
    let mut handles = Vec::new();
    let mut keep = Vec::new();
    for i in 0..workers {
        for _ in 0..50 {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            keep.push(tx);
            let h = parked.clone();
            handles.push(rt.spawn_on(d(i), move || {
                h.wrap(async move {
                    let _ = rx.await;
                })
            }));
            let h = sleeping.clone();
            handles.push(rt.spawn_on(d(i), move || h.wrap(trellis::time::sleep(HOUR))));
        }
        for _ in 0..5 {
            let h = yielding.clone();
            handles.push(rt.spawn_on(d(i), move || {
                h.wrap(async {
                    loop {
                        trellis::yield_now().await;
                    }
                })
            }));
        }
    }
    assert!(wait_until(LIMIT, || parked.pending.get() == workers * 50
        && sleeping.pending.get() == workers * 50));

    // Domain 0 gets queued pinned tasks behind a long poll that ends only once shutdown has
    // begun: a parked pinned task on domain 1 raises `shutdown_seen` from its Drop, which runs
    // during domain 1's shutdown.
    let shutdown_seen = Arc::new(AtomicBool::new(false));
    let flag = shutdown_seen.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    keep.push(tx);
    struct SetOnDrop(Arc<AtomicBool>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, SeqCst);
        }
    }
    let (signal_parked_tx, signal_parked_rx) = mpsc::channel::<()>();
    let signal = rt.spawn_on(d(1), move || async move {
        let _set = SetOnDrop(flag);
        signal_parked_tx.send(()).unwrap();
        let _ = rx.await;
    });
    signal_parked_rx.recv_timeout(LIMIT).unwrap();
    let (blocking_tx, blocking_rx) = mpsc::channel::<()>();
    let q = queued.clone();
    let seen = shutdown_seen.clone();
    let blocker = rt.spawn_on(d(0), move || async move {
        // Queued locally (spawn_local) behind this poll.
        let local: Vec<_> = (0..20)
            .map(|_| trellis::spawn_local(q.wrap(async { unreachable!("queued at shutdown") })))
            .collect();
        blocking_tx.send(()).unwrap();
        assert!(
            spin_until(LIMIT, || seen.load(SeqCst)),
            "shutdown never began"
        );
        local
    });
    blocking_rx.recv_timeout(LIMIT).unwrap();
    // Queued through the inbox (spawn_on from outside) behind the same poll. The closure builds
    // the future on domain 0 only when the task is first polled, which never happens: count the
    // closures' drops instead.
    let closure_drops = Arc::new(Mutex::new(Vec::new()));
    for _ in 0..20 {
        let guard = DropOn::new(&closure_drops);
        handles.push(rt.spawn_on(d(0), move || {
            let _guard = guard;
            async { unreachable!("queued at shutdown") }
        }));
    }
    drop(rt);

    for (what, home) in [
        ("parked", &parked),
        ("sleeping", &sleeping),
        ("yielding", &yielding),
        ("queued", &queued),
    ] {
        home.assert_all_home_and_dropped(what);
    }
    assert_eq!(queued.created.get(), 20);
    assert_eq!(
        queued.first_polls.get(),
        0,
        "a queued task was polled after shutdown"
    );
    assert_eq!(closure_drops.lock().unwrap().len(), 20);
    for h in handles {
        let err = futures_lite::future::block_on(h).unwrap_err();
        assert!(err.is_cancelled(), "{err:?}");
    }
    assert!(
        futures_lite::future::block_on(signal)
            .unwrap_err()
            .is_cancelled()
    );
    // The blocker itself completed (its poll returned Ready after shutdown began).
    let local = futures_lite::future::block_on(blocker).expect("blocker completed");
    for h in local {
        assert!(
            futures_lite::future::block_on(h)
                .unwrap_err()
                .is_cancelled()
        );
    }
    drop(keep);
}

#[test]
fn closures_of_queued_spawn_on_are_dropped_on_the_target_thread_at_shutdown() {
    let _wd =
        Watchdog::new("closures_of_queued_spawn_on_are_dropped_on_the_target_thread_at_shutdown");
    let rt = support::rt_named(2, "trl-dpin7");
    let threads = domain_threads(&rt);
    let shutdown_seen = Arc::new(AtomicBool::new(false));
    struct SetOnDrop(Arc<AtomicBool>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, SeqCst);
        }
    }
    let flag = shutdown_seen.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (signal_parked_tx, signal_parked_rx) = mpsc::channel::<()>();
    let _signal = rt.spawn_on(d(1), move || async move {
        let _set = SetOnDrop(flag);
        signal_parked_tx.send(()).unwrap();
        let _ = rx.await;
    });
    signal_parked_rx.recv_timeout(LIMIT).unwrap();
    let (started_tx, started_rx) = mpsc::channel();
    let seen = shutdown_seen.clone();
    let _blocker = rt.spawn_on(d(0), move || async move {
        started_tx.send(()).unwrap();
        assert!(spin_until(LIMIT, || seen.load(SeqCst)));
    });
    started_rx.recv_timeout(LIMIT).unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    for _ in 0..10 {
        let guard = DropOn::new(&log);
        drop(rt.spawn_on(d(0), move || {
            let _guard = guard;
            async {}
        }));
    }
    drop(rt);
    drop(tx);
    let log = log.lock().unwrap().clone();
    assert_eq!(log.len(), 10);
    assert!(
        log.iter().all(|t| *t == threads[0]),
        "closures dropped off their domain: {log:?} (domain 0 is {:?})",
        threads[0]
    );
}

/// 20k pinned tasks (10k waiter/waker pairs) over `workers` domains, spawned from `block_on`
/// and from a domain, woken across domains; about a ninth of the waiters are aborted (parked)
/// from a stealable task, a tenth are left parked until shutdown.
fn stress(workers: usize) {
    const PAIRS: usize = 10_000;
    let case = format!("stress with {workers} domains");
    let rt = support::rt_named(workers, "trl-dpin8");
    let home = Home::new();
    let kept = Arc::new(Mutex::new(Vec::new()));
    let spawn_pair = {
        let home = home.clone();
        let kept = kept.clone();
        move |i: usize| -> (JoinHandle<usize>, JoinHandle<()>) {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let waiter_home = d(i % workers);
            let waker_home = d((i * 7 + 1) % workers);
            let h = home.clone();
            let waiter = trellis::spawn_on(waiter_home, move || {
                h.wrap(async move {
                    let _ = rx.await;
                    trellis::yield_now().await;
                    i
                })
            });
            let h = home.clone();
            let kept = kept.clone();
            let waker = trellis::spawn_on(waker_home, move || {
                h.wrap(async move {
                    trellis::yield_now().await;
                    if i % 10 == 0 || i % 7 == 0 {
                        // The waiter stays parked: until shutdown, or until aborted.
                        kept.lock().unwrap().push(tx);
                    } else {
                        let _ = tx.send(());
                    }
                })
            });
            (waiter, waker)
        }
    };
    // Half spawned from the block_on thread, half from a pinned task on the last domain.
    let (mut waiters, mut wakers): (Vec<_>, Vec<_>) =
        rt.block_on(async { (0..PAIRS / 2).map(&spawn_pair).unzip() });
    let sp = spawn_pair.clone();
    let (from_domain, more_wakers): (Vec<_>, Vec<_>) = rt
        .block_on(rt.spawn_on(d(workers - 1), move || async move {
            (PAIRS / 2..PAIRS).map(sp).unzip()
        }))
        .unwrap();
    waiters.extend(from_domain);
    wakers.extend(more_wakers);
    // The wakers finish (so every future was built); awaited from a stealable task.
    rt.block_on(rt.spawn(async move {
        for w in wakers {
            w.await.unwrap();
        }
    }))
    .unwrap();

    let mut to_abort = Vec::new();
    let mut to_await = Vec::new();
    let mut parked_forever = Vec::new();
    for (i, w) in waiters.into_iter().enumerate() {
        if i % 10 == 0 {
            parked_forever.push(w);
        } else if i % 7 == 0 {
            to_abort.push(w);
        } else {
            to_await.push((i, w));
        }
    }
    let to_abort_len = to_abort.len();
    let aborted = rt
        .block_on(rt.spawn(async move {
            for w in &to_abort {
                w.abort();
            }
            let mut cancelled = 0;
            for w in to_abort {
                match w.await {
                    Err(e) if e.is_cancelled() => cancelled += 1,
                    other => panic!("aborted waiter: {other:?}"),
                }
            }
            cancelled
        }))
        .unwrap();
    rt.block_on(async {
        for (i, w) in to_await {
            assert_eq!(w.await.unwrap(), i);
        }
    });
    assert_eq!(aborted, to_abort_len, "{case}: every parked waiter aborted");
    home.assert_no_wrong_thread(&case);
    drop(rt);
    let parked_forever_len = parked_forever.len();
    for w in parked_forever {
        assert!(
            futures_lite::future::block_on(w)
                .unwrap_err()
                .is_cancelled()
        );
    }
    assert_eq!(home.created.get(), 2 * PAIRS, "{case}");
    home.assert_all_home_and_dropped(&case);
    assert_eq!(
        kept.lock().unwrap().len(),
        parked_forever_len + to_abort_len,
        "{case}"
    );
}

#[test]
fn stress_20k_pinned_tasks_two_domains_cross_domain_wakes() {
    let _wd = Watchdog::new("stress_20k_pinned_tasks_two_domains_cross_domain_wakes");
    stress(2);
}

#[test]
fn stress_20k_pinned_tasks_four_domains_cross_domain_wakes() {
    let _wd = Watchdog::new("stress_20k_pinned_tasks_four_domains_cross_domain_wakes");
    stress(4);
}

#[test]
fn aborts_and_wakes_racing_with_shutdown_still_drop_pinned_tasks_at_home() {
    let _wd =
        Watchdog::new("aborts_and_wakes_racing_with_shutdown_still_drop_pinned_tasks_at_home");
    for round in 0..20 {
        let case = format!("round {round}");
        let rt = support::rt_named(3, "trl-dpin9");
        let home = Home::new();
        let mut senders = Vec::new();
        let mut handles = Vec::new();
        for i in 0..300 {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            senders.push(tx);
            let h = home.clone();
            handles.push(rt.spawn_on(d(i % 3), move || {
                h.wrap(async move {
                    let _ = rx.await;
                    std::future::pending::<()>().await;
                })
            }));
        }
        assert!(
            wait_until(LIMIT, || home.pending.get() >= 300),
            "{case}: not parked"
        );
        let go = Arc::new(AtomicBool::new(false));
        let g1 = go.clone();
        let waker = thread::spawn(move || {
            spin_until(LIMIT, || g1.load(SeqCst));
            for tx in senders {
                let _ = tx.send(());
            }
        });
        let g2 = go.clone();
        let aborter = thread::spawn(move || {
            spin_until(LIMIT, || g2.load(SeqCst));
            for h in handles.iter().rev() {
                h.abort();
            }
            handles
        });
        go.store(true, SeqCst);
        drop(rt);
        waker.join().unwrap();
        let handles = aborter.join().unwrap();
        for h in handles {
            assert!(
                futures_lite::future::block_on(h)
                    .unwrap_err()
                    .is_cancelled()
            );
        }
        home.assert_all_home_and_dropped(&case);
    }
}
