//! Shutdown with domains (ARCHITECTURE.md, guarantees G11 and G12): dropping the runtime drops every
//! pinned task exactly once on its home thread and resolves their join handles to Cancelled;
//! `spawn_on`, `spawn_local` and wakes issued from `Drop` impls during shutdown yield Cancelled
//! (or run), never hang; `shutdown_timeout` and a runtime dropped from its own pinned task
//! behave the same.
#![cfg(panic = "unwind")]

mod domain_common;
mod support;

use std::sync::{Arc, Mutex, mpsc};
use std::thread::{self, ThreadId};
use std::time::Duration;

use domain_common::{DropOn, Home, domain_threads};
use support::{Counter, Watchdog, wait_until};
use trellis::{DomainId, JoinError, JoinHandle};

const LIMIT: Duration = Duration::from_secs(30);

fn d(i: usize) -> DomainId {
    DomainId::new(i)
}

fn cancelled<T: std::fmt::Debug>(h: JoinHandle<T>) -> bool {
    match futures_lite::future::block_on(h) {
        Err(e) => e.is_cancelled(),
        Ok(v) => panic!("completed with {v:?}, expected cancelled"),
    }
}

#[test]
#[allow(clippy::async_yields_async)] // a task hands a JoinHandle back, on purpose
fn dropping_the_runtime_drops_parked_pinned_tasks_on_every_domain_once_at_home() {
    let _wd = Watchdog::new(
        "dropping_the_runtime_drops_parked_pinned_tasks_on_every_domain_once_at_home",
    );
    for workers in [1, 2, 4] {
        let case = format!("{workers} domains");
        let rt = support::rt_named(workers, "trl-dsd1");
        let home = Home::new();
        let mut handles = Vec::new();
        let mut keep = Vec::new();
        for i in 0..workers * 100 {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            keep.push(tx);
            let h = home.clone();
            handles.push(rt.spawn_on(d(i % workers), move || {
                h.wrap(async move {
                    let _ = rx.await;
                })
            }));
            // Some parked through spawn_local children too.
            if i % 10 == 0 {
                let h = home.clone();
                let child = rt
                    .block_on(rt.spawn_on(d(i % workers), move || async move {
                        trellis::spawn_local(h.wrap(std::future::pending::<()>()))
                    }))
                    .unwrap();
                handles.push(child);
            }
        }
        let expected = workers * 100 + workers * 10;
        assert!(
            wait_until(LIMIT, || home.pending.get() == expected),
            "{case}: not all parked"
        );
        drop(rt);
        assert_eq!(home.created.get(), expected, "{case}");
        home.assert_all_home_and_dropped(&case);
        for h in handles {
            assert!(cancelled(h), "{case}");
        }
        drop(keep);
    }
}

#[test]
fn shutdown_timeout_drops_pinned_tasks_at_home() {
    let _wd = Watchdog::new("shutdown_timeout_drops_pinned_tasks_at_home");
    let rt = support::rt_named(2, "trl-dsd2");
    let home = Home::new();
    let mut handles = Vec::new();
    for i in 0..100 {
        let h = home.clone();
        handles.push(rt.spawn_on(d(i % 2), move || {
            h.wrap(trellis::time::sleep(Duration::from_secs(3600)))
        }));
    }
    assert!(wait_until(LIMIT, || home.pending.get() == 100));
    rt.shutdown_timeout(Duration::from_secs(10));
    home.assert_all_home_and_dropped("shutdown_timeout");
    for h in handles {
        assert!(cancelled(h));
    }
}

/// What a pinned task's `Drop` does during shutdown.
#[derive(Clone, Copy, Debug)]
enum FromDrop {
    /// `spawn_on` its own domain.
    SpawnOnOwn,
    /// `spawn_on` another domain.
    SpawnOnOther,
    /// `spawn_local`.
    SpawnLocal,
    /// `spawn` (stealable).
    Spawn,
}

/// Reports the handle of a task spawned from its Drop, plus the thread the Drop ran on.
struct SpawnInDrop {
    what: FromDrop,
    other: DomainId,
    closure_drops: Arc<Mutex<Vec<ThreadId>>>,
    child: Home,
    ran: Counter,
    out: mpsc::Sender<(FromDrop, ThreadId, JoinHandle<u32>)>,
}

impl Drop for SpawnInDrop {
    fn drop(&mut self) {
        let ran = self.ran.clone();
        let child = self.child.clone();
        let h = match self.what {
            FromDrop::SpawnOnOwn | FromDrop::SpawnOnOther => {
                let guard = DropOn::new(&self.closure_drops);
                let target = match self.what {
                    FromDrop::SpawnOnOwn => trellis::domain::current().expect("on a domain"),
                    _ => self.other,
                };
                trellis::spawn_on(target, move || {
                    let _guard = guard;
                    child.wrap(async move {
                        ran.incr();
                        1
                    })
                })
            }
            FromDrop::SpawnLocal => trellis::spawn_local(child.wrap(async move {
                ran.incr();
                2
            })),
            FromDrop::Spawn => trellis::spawn(async move {
                ran.incr();
                3
            }),
        };
        let _ = self.out.send((self.what, thread::current().id(), h));
    }
}

#[test]
fn spawning_from_a_pinned_tasks_drop_during_shutdown_never_hangs() {
    let _wd = Watchdog::new("spawning_from_a_pinned_tasks_drop_during_shutdown_never_hangs");
    for round in 0..10 {
        let workers = 2 + round % 2;
        let rt = support::rt_named(workers, "trl-dsd3");
        let threads = domain_threads(&rt);
        let home = Home::new();
        let child = Home::new();
        let ran = Counter::new();
        let closure_drops = Arc::new(Mutex::new(Vec::new()));
        let (out_tx, out_rx) = mpsc::channel();
        let mut n = 0;
        for i in 0..workers {
            for what in [
                FromDrop::SpawnOnOwn,
                FromDrop::SpawnOnOther,
                FromDrop::SpawnLocal,
                FromDrop::Spawn,
            ] {
                for _ in 0..5 {
                    let guard = SpawnInDrop {
                        what,
                        other: d((i + 1) % workers),
                        closure_drops: closure_drops.clone(),
                        child: child.clone(),
                        ran: ran.clone(),
                        out: out_tx.clone(),
                    };
                    let h = home.clone();
                    drop(rt.spawn_on(d(i), move || {
                        h.wrap(async move {
                            let _guard = guard;
                            std::future::pending::<()>().await;
                        })
                    }));
                    n += 1;
                }
            }
        }
        drop(out_tx);
        assert!(wait_until(LIMIT, || home.pending.get() == n));
        drop(rt);
        home.assert_all_home_and_dropped("parents");
        let reports: Vec<_> = out_rx.iter().collect();
        assert_eq!(reports.len(), n, "every Drop reported");
        for (what, drop_thread, h) in reports {
            assert!(
                threads.contains(&drop_thread),
                "{what:?}: parent dropped off its domain"
            );
            // Cancelled, or (at most) ran; never a hang.
            match futures_lite::future::block_on(h) {
                Ok(_) => {}
                Err(e) => assert!(e.is_cancelled(), "{what:?}: {e:?}"),
            }
        }
        // A spawn_on closure or a child future is dropped exactly once: on the target domain,
        // or, when the target had already closed, on the spawning thread (also a domain here).
        child.assert_no_wrong_thread("children");
        assert_eq!(child.dropped.get(), child.created.get());
        let closure_drops = closure_drops.lock().unwrap().clone();
        assert_eq!(
            closure_drops.len(),
            n / 2,
            "spawn_on closures dropped once each"
        );
        assert!(closure_drops.iter().all(|t| threads.contains(t)));
        eprintln!(
            "round {round}: {} of {n} children ran during shutdown",
            ran.get()
        );
    }
}

#[test]
fn runtime_dropped_from_its_own_pinned_task_still_drops_pinned_tasks_at_home() {
    let _wd =
        Watchdog::new("runtime_dropped_from_its_own_pinned_task_still_drops_pinned_tasks_at_home");
    let rt = support::rt_named(3, "trl-dsd4");
    let home = Home::new();
    let mut handles = Vec::new();
    for i in 0..60 {
        let h = home.clone();
        handles.push(rt.spawn_on(d(i % 3), move || h.wrap(std::future::pending::<()>())));
    }
    assert!(wait_until(LIMIT, || home.pending.get() == 60));
    let rt = Arc::new(rt);
    let (tx, rx) = mpsc::channel::<Arc<trellis::Runtime>>();
    let dropper = rt.spawn_on(d(1), move || async move {
        let rt = rx.recv_timeout(LIMIT).expect("runtime");
        drop(rt); // the last reference: shuts down from domain 1's worker
    });
    tx.send(rt).unwrap();
    let res: Result<(), JoinError> = futures_lite::future::block_on(dropper);
    res.expect("the dropping task completed");
    assert!(
        wait_until(LIMIT, || home.dropped.get() == 60),
        "pinned tasks not all dropped: {}",
        home.dropped.get()
    );
    home.assert_all_home_and_dropped("dropped from its own task");
    for h in handles {
        assert!(cancelled(h));
    }
}

#[test]
fn wakes_and_aborts_from_a_pinned_drop_during_shutdown_are_harmless() {
    let _wd = Watchdog::new("wakes_and_aborts_from_a_pinned_drop_during_shutdown_are_harmless");
    /// Wakes (by dropping a sender) and aborts other tasks from its Drop.
    struct Chaos {
        wake: Option<tokio::sync::oneshot::Sender<()>>,
        abort: Option<JoinHandle<()>>,
    }
    impl Drop for Chaos {
        fn drop(&mut self) {
            drop(self.wake.take());
            if let Some(h) = self.abort.take() {
                h.abort();
            }
        }
    }
    for round in 0..10 {
        let rt = support::rt_named(3, "trl-dsd5");
        let home = Home::new();
        let mut handles = Vec::new();
        let mut prev: Option<JoinHandle<()>> = None;
        for i in 0..90 {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            // The woken task: pinned on some domain, or stealable.
            let h = home.clone();
            let woken = if i % 3 == 2 {
                rt.spawn(async move {
                    let _ = rx.await;
                    std::future::pending::<()>().await;
                })
            } else {
                rt.spawn_on(d((i + 1) % 3), move || {
                    h.wrap(async move {
                        let _ = rx.await;
                        std::future::pending::<()>().await;
                    })
                })
            };
            let chaos = Chaos {
                wake: Some(tx),
                abort: prev.take(),
            };
            let h = home.clone();
            prev = Some(rt.spawn_on(d(i % 3), move || {
                h.wrap(async move {
                    let _chaos = chaos;
                    std::future::pending::<()>().await;
                })
            }));
            handles.push(woken);
        }
        assert!(wait_until(LIMIT, || home.pending.get() == 150));
        drop(rt);
        home.assert_all_home_and_dropped(&format!("round {round}"));
        for h in handles.into_iter().chain(prev) {
            assert!(cancelled(h), "round {round}");
        }
    }
}

/// A blocking thread detached by `shutdown_timeout` is still inside the runtime's context: a
/// `spawn_on` from there, after every domain has closed, must give a cancelled handle at once
/// (the closure dropped on the calling thread, never run), and `spawn_local` still panics.
#[test]
fn spawn_on_from_a_detached_blocking_thread_after_shutdown_is_cancelled() {
    let _wd = Watchdog::new("spawn_on_from_a_detached_blocking_thread_after_shutdown_is_cancelled");
    let rt = support::rt_named(2, "trl-dsd6");
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (res_tx, res_rx) = mpsc::channel();
    let closure_drops = Arc::new(Mutex::new(Vec::new()));
    let log = closure_drops.clone();
    let _detached = rt.spawn_blocking(move || {
        started_tx.send(()).unwrap();
        go_rx.recv_timeout(LIMIT).expect("go");
        let guard = DropOn::new(&log);
        let ran = Arc::new(Mutex::new(false));
        let r2 = ran.clone();
        let h = trellis::spawn_on(d(1), move || {
            let _guard = guard;
            *r2.lock().unwrap() = true;
            async { 5 }
        });
        // Must resolve without any worker: never wait on it unboundedly here.
        let finished = wait_until(Duration::from_secs(5), || h.is_finished());
        let outcome =
            finished.then(|| futures_lite::future::block_on(h).map_err(|e| e.is_cancelled()));
        let local_panics =
            std::panic::catch_unwind(|| drop(trellis::spawn_local(async {}))).is_err();
        let _ = res_tx.send((
            outcome,
            *ran.lock().unwrap(),
            thread::current().id(),
            local_panics,
        ));
    });
    // The job must be running (a queued one is cancelled by the shutdown, its closure dropped
    // unrun): only then does the shutdown detach its thread.
    started_rx
        .recv_timeout(LIMIT)
        .expect("the blocking job started");
    rt.shutdown_timeout(Duration::from_millis(20)); // the blocking thread waits on `go`: detached
    go_tx.send(()).unwrap();
    let (outcome, ran, blocking_thread, local_panics) = res_rx
        .recv_timeout(LIMIT)
        .expect("the blocking thread reported");
    assert_eq!(
        outcome,
        Some(Err(true)),
        "spawn_on after shutdown: not cancelled at once"
    );
    assert!(!ran, "the closure of a spawn_on after shutdown ran");
    assert_eq!(*closure_drops.lock().unwrap(), vec![blocking_thread]);
    assert!(local_panics, "spawn_local on a blocking thread must panic");
}

/// `shutdown_timeout` returns while a pinned task is stuck in a long poll; the stuck domain's
/// pinned tasks (queued behind it, or parked) are dropped at home once the poll returns.
#[test]
fn shutdown_timeout_with_a_stuck_pinned_task_drops_its_domain_at_home_later() {
    let _wd =
        Watchdog::new("shutdown_timeout_with_a_stuck_pinned_task_drops_its_domain_at_home_later");
    let rt = support::rt_named(2, "trl-dsd7");
    let home = Home::new();
    let (stuck_tx, stuck_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let h = home.clone();
    let stuck = rt.spawn_on(d(0), move || {
        h.wrap(async move {
            stuck_tx.send(()).unwrap();
            release_rx.recv_timeout(LIMIT).expect("released");
        })
    });
    stuck_rx.recv_timeout(LIMIT).unwrap();
    let mut handles = Vec::new();
    for i in 0..40 {
        // Queued behind the stuck poll on domain 0 (never built: the closures are dropped), or
        // parked on domain 1.
        let h = home.clone();
        handles.push(rt.spawn_on(d(i % 2), move || h.wrap(std::future::pending::<()>())));
    }
    assert!(wait_until(LIMIT, || home.pending.get() == 20));
    rt.shutdown_timeout(Duration::from_millis(20));
    // Domain 1 is done; domain 0 is still in its poll.
    // (Waited for: under load, domain 1 may be past the deadline too, and detached.)
    assert!(
        wait_until(LIMIT, || home.dropped.get() == 20),
        "domain 1's parked tasks"
    );
    assert_eq!(
        home.first_polls.get(),
        21,
        "nothing ran after shutdown began"
    );
    release_tx.send(()).unwrap();
    for h in handles {
        assert!(cancelled(h));
    }
    // The stuck task completed its poll; it was already running, so it finished normally.
    let res: Result<(), JoinError> = futures_lite::future::block_on(stuck);
    res.expect("the stuck task finished its poll");
    assert!(wait_until(LIMIT, || home.dropped.get() == home.created.get()));
    home.assert_all_home_and_dropped("stuck domain");
}
