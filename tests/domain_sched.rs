//! Scheduling with domains: pinned tasks are never stolen while stealable tasks keep being
//! stolen (ARCHITECTURE.md, guarantees G11 and G15), and each domain is fair between its pinned
//! tasks and stealable work (`domain/mod.rs`, "Fairness"): neither kind starves the other.

mod domain_common;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::thread;
use std::time::Duration;

use domain_common::{Home, domain_threads};
use support::{Watchdog, spin_until};
use trellis::DomainId;

const SPIN_LIMIT: Duration = Duration::from_secs(20);

fn d(i: usize) -> DomainId {
    DomainId::new(i)
}

/// One half of a computation that can only finish when both halves run at the same time.
fn half(started: &AtomicUsize) -> bool {
    started.fetch_add(1, SeqCst);
    spin_until(SPIN_LIMIT, || started.load(SeqCst) >= 2)
}

#[test]
fn pinned_tasks_are_never_stolen_while_stealable_ones_are() {
    let _wd = Watchdog::new("pinned_tasks_are_never_stolen_while_stealable_ones_are");
    let rt = support::rt_named(2, "trl-dsch1");
    let threads = domain_threads(&rt);
    let home = Home::new();
    for round in 0..5 {
        let h = home.clone();
        let (pinned_ran_during_spin, stolen_threads) = rt
            .block_on(rt.spawn_on(d(0), move || async move {
                // Pinned work queued on this domain, behind the long poll below.
                let pinned_ran = Arc::new(AtomicUsize::new(0));
                let pinned: Vec<_> = (0..100)
                    .map(|_| {
                        let pinned_ran = pinned_ran.clone();
                        trellis::spawn_local(h.wrap(async move {
                            pinned_ran.fetch_add(1, SeqCst);
                        }))
                    })
                    .collect();
                // Stealable work queued here too: the idle worker 1 must steal all of it while
                // this poll spins.
                let stolen_done = Arc::new(AtomicUsize::new(0));
                let stealable: Vec<_> = (0..50)
                    .map(|_| {
                        let stolen_done = stolen_done.clone();
                        trellis::spawn(async move {
                            stolen_done.fetch_add(1, SeqCst);
                            thread::current().id()
                        })
                    })
                    .collect();
                assert!(
                    spin_until(SPIN_LIMIT, || stolen_done.load(SeqCst) == 50),
                    "stealable tasks were stranded behind a pinned task's long poll"
                );
                let pinned_ran_during_spin = pinned_ran.load(SeqCst);
                for p in pinned {
                    p.await.unwrap();
                }
                assert_eq!(pinned_ran.load(SeqCst), 100);
                let mut stolen_threads = Vec::new();
                for s in stealable {
                    stolen_threads.push(s.await.unwrap());
                }
                (pinned_ran_during_spin, stolen_threads)
            }))
            .unwrap();
        assert_eq!(
            pinned_ran_during_spin, 0,
            "round {round}: pinned tasks ran while their domain was busy: stolen"
        );
        assert!(
            stolen_threads.iter().all(|t| *t == threads[1]),
            "round {round}: stealable tasks ran on domain 0 while it spun"
        );
    }
    drop(rt);
    home.assert_all_home_and_dropped("never stolen");
}

#[test]
fn no_stranded_work_with_pinned_tasks_present() {
    let _wd = Watchdog::new("no_stranded_work_with_pinned_tasks_present");
    let rt = support::rt_named(2, "trl-dsch2");
    let home = Home::new();
    for round in 0..10 {
        // Both domains hold parked pinned tasks and domain 0 has runnable pinned work queued;
        // the spawner is itself pinned.
        let h = home.clone();
        let (a_ok, b_ok) = rt
            .block_on(rt.spawn_on(d(round % 2), move || async move {
                let queued: Vec<_> = (0..10)
                    .map(|_| trellis::spawn_local(h.wrap(trellis::yield_now())))
                    .collect();
                let started = Arc::new(AtomicUsize::new(0));
                let s2 = started.clone();
                let other = trellis::spawn(async move { half(&s2) });
                let b_ok = half(&started);
                let a_ok = other.await.unwrap();
                for q in queued {
                    q.await.unwrap();
                }
                (a_ok, b_ok)
            }))
            .unwrap();
        assert!(
            a_ok && b_ok,
            "round {round}: the stealable half was stranded behind a pinned spawner's poll \
             (spawned half saw both: {a_ok}, spawner saw both: {b_ok})"
        );
    }
    // The same with the halves woken (not spawned) by the pinned task.
    for round in 0..10 {
        let (a_ok, b_ok) = rt
            .block_on(rt.spawn_on(d(round % 2), || async {
                let started = Arc::new(AtomicUsize::new(0));
                let parked = Arc::new(AtomicBool::new(false));
                let (tx, rx) = tokio::sync::oneshot::channel::<()>();
                let (s2, p2) = (started.clone(), parked.clone());
                let h = trellis::spawn(async move {
                    p2.store(true, SeqCst);
                    rx.await.unwrap();
                    half(&s2)
                });
                while !parked.load(SeqCst) {
                    trellis::yield_now().await;
                }
                tx.send(()).unwrap();
                let b_ok = half(&started);
                let a_ok = h.await.unwrap();
                (a_ok, b_ok)
            }))
            .unwrap();
        assert!(
            a_ok && b_ok,
            "round {round}: a stealable task woken by a pinned task was stranded"
        );
    }
    drop(rt);
    home.assert_all_home_and_dropped("no stranded work");
}

#[test]
fn pinned_task_blocking_its_domain_does_not_stop_other_domains() {
    let _wd = Watchdog::new("pinned_task_blocking_its_domain_does_not_stop_other_domains");
    let rt = support::rt_named(3, "trl-dsch3");
    let release = Arc::new(AtomicBool::new(false));
    let r2 = release.clone();
    let blocker = rt.spawn_on(d(0), move || async move {
        assert!(spin_until(SPIN_LIMIT, || r2.load(SeqCst)));
    });
    // Pinned tasks of the other domains, and stealable tasks, run meanwhile.
    for i in [1, 2] {
        let got = rt
            .block_on(rt.spawn_on(d(i), move || async move {
                trellis::yield_now().await;
                trellis::domain::current()
            }))
            .unwrap();
        assert_eq!(got, Some(d(i)));
    }
    let sum = rt.block_on(async {
        let hs: Vec<_> = (0..100u64)
            .map(|i| trellis::spawn(async move { i }))
            .collect();
        let mut sum = 0;
        for h in hs {
            sum += h.await.unwrap();
        }
        sum
    });
    assert_eq!(sum, 4950);
    release.store(true, SeqCst);
    rt.block_on(blocker).unwrap();
}

/// Counts the polls of a yielding loop that stops when `stop` is raised.
async fn yield_until(stop: Arc<AtomicBool>, count: Arc<AtomicUsize>) {
    while !stop.load(SeqCst) {
        count.fetch_add(1, SeqCst);
        trellis::yield_now().await;
    }
}

#[test]
fn busy_stealable_yielders_do_not_starve_pinned_tasks() {
    let _wd = Watchdog::new("busy_stealable_yielders_do_not_starve_pinned_tasks");
    let rt = support::rt_named(1, "trl-dsch4");
    let stop = Arc::new(AtomicBool::new(false));
    let stealable_polls = Arc::new(AtomicUsize::new(0));
    let yielders: Vec<_> = (0..4)
        .map(|_| rt.spawn(yield_until(stop.clone(), stealable_polls.clone())))
        .collect();
    // Wait (cooperatively, from outside) until the worker is saturated by the yielders.
    assert!(spin_until(SPIN_LIMIT, || stealable_polls.load(SeqCst) > 100));
    let home = Home::new();
    let mut pinned = Vec::new();
    for i in 0..100 {
        let h = home.clone();
        pinned.push(rt.spawn_on(d(0), move || {
            h.wrap(async move {
                for _ in 0..10 {
                    trellis::yield_now().await;
                }
                i
            })
        }));
    }
    // Also spawn_local'ed ones, from a pinned task.
    let h = home.clone();
    let local = rt.spawn_on(d(0), move || async move {
        let hs: Vec<_> = (0..100)
            .map(|i| {
                trellis::spawn_local(h.wrap(async move {
                    trellis::yield_now().await;
                    i
                }))
            })
            .collect();
        let mut sum = 0;
        for h in hs {
            sum += h.await.unwrap();
        }
        sum
    });
    let before = stealable_polls.load(SeqCst);
    for (i, p) in pinned.into_iter().enumerate() {
        assert_eq!(rt.block_on(p).unwrap(), i);
    }
    assert_eq!(rt.block_on(local).unwrap(), 4950);
    let during = stealable_polls.load(SeqCst) - before;
    assert!(!stop.load(SeqCst));
    stop.store(true, SeqCst);
    for y in yielders {
        rt.block_on(y).unwrap();
    }
    // The yielders kept running while the pinned tasks did (they were never paused).
    assert!(
        during > 0,
        "the stealable yielders stopped while pinned tasks ran"
    );
    drop(rt);
    home.assert_all_home_and_dropped("stealable yielders");
}

#[test]
fn busy_pinned_yielders_do_not_starve_stealable_tasks() {
    let _wd = Watchdog::new("busy_pinned_yielders_do_not_starve_stealable_tasks");
    let rt = support::rt_named(1, "trl-dsch5");
    let stop = Arc::new(AtomicBool::new(false));
    let pinned_polls = Arc::new(AtomicUsize::new(0));
    let yielders: Vec<_> = (0..4)
        .map(|_| {
            let (stop, count) = (stop.clone(), pinned_polls.clone());
            rt.spawn_on(d(0), move || yield_until(stop, count))
        })
        .collect();
    assert!(spin_until(SPIN_LIMIT, || pinned_polls.load(SeqCst) > 100));
    // Stealable tasks from outside (the injector) and from a task (the local queue).
    let remote: Vec<_> = (0..100u64)
        .map(|i| {
            rt.spawn(async move {
                for _ in 0..10 {
                    trellis::yield_now().await;
                }
                i
            })
        })
        .collect();
    let local = rt.spawn(async {
        let hs: Vec<_> = (0..100u64)
            .map(|i| {
                trellis::spawn(async move {
                    trellis::yield_now().await;
                    i
                })
            })
            .collect();
        let mut sum = 0;
        for h in hs {
            sum += h.await.unwrap();
        }
        sum
    });
    let before = pinned_polls.load(SeqCst);
    let mut sum = 0;
    for h in remote {
        sum += rt.block_on(h).unwrap();
    }
    assert_eq!(sum, 4950);
    assert_eq!(rt.block_on(local).unwrap(), 4950);
    let during = pinned_polls.load(SeqCst) - before;
    stop.store(true, SeqCst);
    for y in yielders {
        rt.block_on(y).unwrap();
    }
    assert!(
        during > 0,
        "the pinned yielders stopped while stealable tasks ran"
    );
}

/// One pinned and one stealable yielder share a single worker: each makes progress at a
/// comparable rate (the worker alternates when both kinds are ready).
#[test]
fn one_pinned_and_one_stealable_yielder_share_a_worker() {
    let _wd = Watchdog::new("one_pinned_and_one_stealable_yielder_share_a_worker");
    const N: usize = 2_000;
    let rt = support::rt_named(1, "trl-dsch6");
    for pinned_counts in [true, false] {
        let stop = Arc::new(AtomicBool::new(false));
        let pinned = Arc::new(AtomicUsize::new(0));
        let stealable = Arc::new(AtomicUsize::new(0));
        // The counting side yields N times and reports how far the other side got meanwhile;
        // the other side yields until stopped.
        let (p, s, st) = (pinned.clone(), stealable.clone(), stop.clone());
        let (counter, other) = if pinned_counts {
            let other = rt.spawn(yield_until(st.clone(), s.clone()));
            let counter = rt.spawn_on(d(0), move || async move {
                // Let the other side get going first.
                while s.load(SeqCst) == 0 {
                    trellis::yield_now().await;
                }
                let start = s.load(SeqCst);
                for _ in 0..N {
                    p.fetch_add(1, SeqCst);
                    trellis::yield_now().await;
                }
                st.store(true, SeqCst);
                s.load(SeqCst) - start
            });
            (counter, other)
        } else {
            let other = rt.spawn_on(d(0), {
                let (st, p) = (st.clone(), p.clone());
                move || yield_until(st, p)
            });
            let counter = rt.spawn(async move {
                while p.load(SeqCst) == 0 {
                    trellis::yield_now().await;
                }
                let start = p.load(SeqCst);
                for _ in 0..N {
                    s.fetch_add(1, SeqCst);
                    trellis::yield_now().await;
                }
                st.store(true, SeqCst);
                p.load(SeqCst) - start
            });
            (counter, other)
        };
        let other_progress = rt.block_on(counter).unwrap();
        rt.block_on(other).unwrap();
        let side = if pinned_counts { "stealable" } else { "pinned" };
        // Strict alternation gives N; allow a wide margin (the guarantee is "at least every
        // second task", the bound only catches starvation).
        assert!(
            other_progress >= N / 4,
            "the {side} yielder made {other_progress} polls while the other made {N}: starved"
        );
    }
}
