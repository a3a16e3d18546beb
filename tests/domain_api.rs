//! The domain API: `DomainId`, `domain::current`, `domain::count`, `spawn_local` (and its panic
//! outside a domain, which names `spawn_on`), `spawn_on` from everywhere (and its clear panic for
//! an unknown domain, never a hang), join handles awaited from anywhere, and aborting a pinned
//! task from another domain (dropped at home). ARCHITECTURE.md, guarantees G11 and G14.
#![cfg(panic = "unwind")]

mod domain_common;
mod support;

use std::collections::{BTreeSet, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use domain_common::{Home, domain_threads};
use support::{Watchdog, panic_message, wait_until};
use trellis::{DomainId, Runtime};

const LIMIT: Duration = Duration::from_secs(30);

fn d(i: usize) -> DomainId {
    DomainId::new(i)
}

/// The panic message of `f`, which must panic.
fn panic_of<R>(f: impl FnOnce() -> R) -> String {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected a panic"),
        Err(payload) => panic_message(&*payload),
    }
}

#[test]
fn domain_id_traits_and_formatting() {
    let _w = support::Watchdog::new("domain_id_traits_and_formatting");
    let a = DomainId::new(3);
    let b = a; // Copy
    assert_eq!(a, b);
    assert_eq!(a.index(), 3);
    assert_eq!(format!("{a:?}"), "DomainId(3)");
    assert_eq!(format!("{a}"), "domain 3");
    assert!(DomainId::new(1) < DomainId::new(2));
    let set: HashSet<DomainId> = [d(0), d(1), d(0)].into_iter().collect();
    assert_eq!(set.len(), 2);
    let sorted: BTreeSet<DomainId> = [d(2), d(0), d(1)].into_iter().collect();
    assert_eq!(
        sorted.into_iter().collect::<Vec<_>>(),
        vec![d(0), d(1), d(2)]
    );
    const C: DomainId = DomainId::new(7);
    assert_eq!(C.index(), 7);
}

#[test]
fn current_is_none_off_workers_and_names_each_worker() {
    let _wd = Watchdog::new("current_is_none_off_workers_and_names_each_worker");
    let rt = support::rt_named(3, "trl-dapi1");
    assert_eq!(trellis::domain::current(), None, "plain thread");
    rt.block_on(async { assert_eq!(trellis::domain::current(), None, "block_on thread") });
    let on_blocking = rt
        .block_on(rt.spawn_blocking(trellis::domain::current))
        .unwrap();
    assert_eq!(on_blocking, None, "blocking pool thread");
    // Each domain reports itself, on a distinct thread.
    let threads = domain_threads(&rt);
    for (i, expected) in threads.iter().enumerate() {
        let (cur, thread) = rt
            .block_on(rt.spawn_on(d(i), || async {
                (trellis::domain::current(), thread::current().id())
            }))
            .unwrap();
        assert_eq!(cur, Some(d(i)));
        assert_eq!(thread, *expected);
    }
    assert_eq!(threads.iter().collect::<HashSet<_>>().len(), 3);
    // A stealable task reports the domain of the worker that polls it.
    let seen = rt
        .block_on(rt.spawn(async {
            let cur = trellis::domain::current().expect("a task runs on a worker");
            (cur, thread::current().id())
        }))
        .unwrap();
    assert_eq!(threads[seen.0.index()], seen.1);
}

#[test]
fn count_is_the_number_of_workers_everywhere_in_the_runtime() {
    let _wd = Watchdog::new("count_is_the_number_of_workers_everywhere_in_the_runtime");
    for workers in [1, 2, 5] {
        let rt = support::rt_named(workers, "trl-dapi2");
        assert_eq!(rt.block_on(async { trellis::domain::count() }), workers);
        assert_eq!(
            rt.block_on(rt.spawn(async { trellis::domain::count() }))
                .unwrap(),
            workers
        );
        assert_eq!(
            rt.block_on(rt.spawn_on(d(workers - 1), || async { trellis::domain::count() }))
                .unwrap(),
            workers
        );
        assert_eq!(
            rt.block_on(rt.spawn_blocking(trellis::domain::count))
                .unwrap(),
            workers
        );
    }
}

#[test]
fn count_panics_outside_a_runtime() {
    let _w = support::Watchdog::new("count_panics_outside_a_runtime");
    let msg = panic_of(trellis::domain::count);
    assert!(msg.contains("domain::count"), "{msg}");
}

#[test]
fn spawn_local_outside_a_domain_panics_naming_spawn_on() {
    let _wd = Watchdog::new("spawn_local_outside_a_domain_panics_naming_spawn_on");
    let rt = support::rt_named(2, "trl-dapi3");
    // From the block_on thread.
    let msg = rt.block_on(async { panic_of(|| trellis::spawn_local(async {})) });
    assert!(msg.contains("spawn_on"), "block_on: {msg}");
    assert!(msg.contains("outside a domain"), "block_on: {msg}");
    // From a blocking pool thread.
    let msg = rt
        .block_on(rt.spawn_blocking(|| panic_of(|| trellis::spawn_local(async {}))))
        .unwrap();
    assert!(msg.contains("spawn_on"), "spawn_blocking: {msg}");
    // From a plain thread.
    let msg = panic_of(|| trellis::spawn_local(async {}));
    assert!(msg.contains("spawn_on"), "plain thread: {msg}");
    // The runtime is fine afterwards.
    assert_eq!(rt.block_on(rt.spawn(async { 1 })).unwrap(), 1);
}

#[test]
fn spawn_on_an_unknown_domain_panics_with_the_range_and_never_hangs() {
    let _wd = Watchdog::new("spawn_on_an_unknown_domain_panics_with_the_range_and_never_hangs");
    let rt = support::rt_named(2, "trl-dapi4");
    for bad in [2, 3, 1000, usize::MAX] {
        // From block_on.
        let msg = rt.block_on(async { panic_of(|| trellis::spawn_on(d(bad), || async {})) });
        assert!(msg.contains(&format!("DomainId({bad})")), "{msg}");
        assert!(msg.contains("DomainId(0) to DomainId(1)"), "{msg}");
        // From a task; the panic becomes the task's JoinError, the worker lives on.
        let err = rt
            .block_on(rt.spawn(async move {
                drop(trellis::spawn_on(d(bad), || async {}));
            }))
            .unwrap_err();
        let msg = panic_message(&*err.into_panic());
        assert!(msg.contains("DomainId(0) to DomainId(1)"), "{msg}");
        // From a pinned task: caught there.
        let msg = rt
            .block_on(rt.spawn_on(d(1), move || async move {
                panic_of(|| trellis::spawn_on(d(bad), || async {}))
            }))
            .unwrap();
        assert!(msg.contains("2 domain"), "{msg}");
        // From outside, through the runtime.
        let msg = panic_of(|| rt.spawn_on(d(bad), || async {}));
        assert!(msg.contains("DomainId(0) to DomainId(1)"), "{msg}");
    }
    // Still healthy.
    for i in 0..2 {
        assert_eq!(
            rt.block_on(rt.spawn_on(d(i), || async { trellis::domain::current() }))
                .unwrap(),
            Some(d(i))
        );
    }
}

#[test]
fn spawn_on_outside_a_runtime_panics_clearly() {
    let _w = support::Watchdog::new("spawn_on_outside_a_runtime_panics_clearly");
    let msg = panic_of(|| trellis::spawn_on(d(0), || async {}));
    assert!(msg.contains("spawn_on"), "{msg}");
    assert!(msg.contains("Runtime::spawn"), "{msg}");
}

#[test]
fn spawn_on_from_everywhere_builds_the_future_on_the_target() {
    let _wd = Watchdog::new("spawn_on_from_everywhere_builds_the_future_on_the_target");
    let rt = support::rt_named(3, "trl-dapi5");
    let threads = domain_threads(&rt);
    let threads = Arc::new(threads);
    // The closure runs on the target thread, and the (!Send) future it builds stays there.
    fn probe(target: DomainId) -> trellis::JoinHandle<(thread::ThreadId, thread::ThreadId, bool)> {
        trellis::spawn_on(target, move || {
            let built_on = thread::current().id();
            let state = Rc::new(5); // !Send, lives in the future
            async move {
                trellis::yield_now().await;
                let polled_on = thread::current().id();
                (built_on, polled_on, *state == 5)
            }
        })
    }
    for target in 0..3 {
        let expect = (threads[target], threads[target], true);
        // From the block_on thread.
        let got = rt.block_on(async { probe(d(target)).await.unwrap() });
        assert_eq!(got, expect, "from block_on");
        // From the runtime handle on this (plain) thread.
        let got = rt
            .block_on(rt.spawn_on(d(target), || async { thread::current().id() }))
            .unwrap();
        assert_eq!(got, threads[target], "Runtime::spawn_on");
        // From every domain, including the target itself.
        for from in 0..3 {
            let got =
                rt.block_on(rt.spawn_on(d(from), move || async move {
                    probe(d(target)).await.unwrap()
                }))
                .unwrap();
            assert_eq!(got, expect, "from domain {from}");
        }
        // From a stealable task.
        let got = rt
            .block_on(rt.spawn(async move { probe(d(target)).await.unwrap() }))
            .unwrap();
        assert_eq!(got, expect, "from a stealable task");
        // From a blocking thread, awaited there.
        let got = rt
            .block_on(
                rt.spawn_blocking(move || {
                    futures_lite::future::block_on(probe(d(target))).unwrap()
                }),
            )
            .unwrap();
        assert_eq!(got, expect, "from the blocking pool");
    }
}

#[test]
fn join_handle_of_a_pinned_task_is_awaitable_from_anywhere() {
    let _wd = Watchdog::new("join_handle_of_a_pinned_task_is_awaitable_from_anywhere");
    let rt = support::rt_named(3, "trl-dapi6");
    let home = Home::new();
    let spawn = |v: u32| {
        let h = home.clone();
        rt.spawn_on(d(0), move || {
            h.wrap(async move {
                trellis::yield_now().await;
                v
            })
        })
    };
    // block_on
    assert_eq!(rt.block_on(spawn(1)).unwrap(), 1);
    // another domain
    let h = spawn(2);
    assert_eq!(
        rt.block_on(rt.spawn_on(d(2), move || h)).unwrap().unwrap(),
        2
    );
    // the same domain
    let h = spawn(3);
    assert_eq!(
        rt.block_on(rt.spawn_on(d(0), move || h)).unwrap().unwrap(),
        3
    );
    // a stealable task
    let h = spawn(4);
    assert_eq!(rt.block_on(rt.spawn(h)).unwrap().unwrap(), 4);
    // a blocking thread
    let h = spawn(5);
    assert_eq!(
        rt.block_on(rt.spawn_blocking(move || futures_lite::future::block_on(h)))
            .unwrap()
            .unwrap(),
        5
    );
    // a plain thread, outside the runtime
    let h = spawn(6);
    assert_eq!(
        thread::spawn(move || futures_lite::future::block_on(h))
            .join()
            .unwrap()
            .unwrap(),
        6
    );
    // is_finished from a plain thread
    let h = spawn(7);
    assert!(wait_until(LIMIT, || h.is_finished()));
    assert_eq!(futures_lite::future::block_on(h).unwrap(), 7);
    drop(rt);
    home.assert_all_home_and_dropped("awaited from anywhere");
}

#[test]
fn abort_of_a_pinned_task_from_another_domain_drops_it_at_home() {
    let _wd = Watchdog::new("abort_of_a_pinned_task_from_another_domain_drops_it_at_home");
    let rt = support::rt_named(2, "trl-dapi7");
    let home = Home::new();
    for round in 0..20 {
        let h = home.clone();
        let (parked_tx, parked_rx) = mpsc::channel::<()>();
        let outcome = rt
            .block_on(rt.spawn_on(d(round % 2), move || async move {
                // Spawned on the *other* domain, parked, then aborted from here.
                let other = d(1 - round % 2);
                let victim = trellis::spawn_on(other, move || {
                    h.wrap(async move {
                        parked_tx.send(()).unwrap();
                        std::future::pending::<()>().await;
                    })
                });
                // Wait (cooperatively) until it has parked.
                while parked_rx.try_recv().is_err() {
                    trellis::yield_now().await;
                }
                victim.abort();
                victim.await
            }))
            .unwrap();
        assert!(outcome.unwrap_err().is_cancelled(), "round {round}");
        assert_eq!(home.dropped.get(), round + 1, "round {round}");
    }
    drop(rt);
    home.assert_all_home_and_dropped("abort from another domain");
}

#[test]
fn panics_in_pinned_tasks_and_spawn_on_closures_become_join_errors() {
    let _wd = Watchdog::new("panics_in_pinned_tasks_and_spawn_on_closures_become_join_errors");
    let rt = support::rt_named(2, "trl-dapi8");
    let home = Home::new();
    // The closure panics while building the future (on the target thread).
    let err = rt
        .block_on(rt.spawn_on(d(1), || -> std::future::Ready<()> {
            panic!("closure panic")
        }))
        .unwrap_err();
    assert_eq!(panic_message(&*err.into_panic()), "closure panic");
    // The pinned future panics.
    let h = home.clone();
    let res: Result<(), trellis::JoinError> = rt.block_on(rt.spawn_on(d(1), move || {
        h.wrap(async {
            trellis::yield_now().await;
            panic!("future panic")
        })
    }));
    let err = res.unwrap_err();
    assert_eq!(panic_message(&*err.into_panic()), "future panic");
    // The domain lives on; spawn_local children of a panicking parent keep running.
    let h = home.clone();
    let (tx, rx) = mpsc::channel();
    let res: Result<(), trellis::JoinError> = rt.block_on(rt.spawn_on(d(1), move || async move {
        drop(trellis::spawn_local(h.wrap(async move {
            trellis::yield_now().await;
            tx.send(trellis::domain::current()).unwrap();
        })));
        panic!("parent panic")
    }));
    let err = res.unwrap_err();
    assert!(err.is_panic());
    assert_eq!(rx.recv_timeout(LIMIT).unwrap(), Some(d(1)));
    drop(rt);
    home.assert_all_home_and_dropped("panics");
}

#[test]
fn spawn_local_output_may_be_not_send() {
    let _wd = Watchdog::new("spawn_local_output_may_be_not_send");
    let rt = support::rt_named(2, "trl-dapi9");
    let v = rt
        .block_on(rt.spawn_on(d(1), || async {
            let shared = Rc::new(std::cell::RefCell::new(vec![1]));
            let s2 = shared.clone();
            let out: Rc<u32> = trellis::spawn_local(async move {
                s2.borrow_mut().push(2);
                Rc::new(40)
            })
            .await
            .unwrap();
            *out + shared.borrow().iter().sum::<u32>() - 1
        }))
        .unwrap();
    assert_eq!(v, 42);
}

#[test]
fn two_runtimes_have_separate_domains() {
    let _wd = Watchdog::new("two_runtimes_have_separate_domains");
    let a = support::rt_named(2, "trl-dapiA");
    let b = support::rt_named(3, "trl-dapiB");
    let ta = domain_threads(&a);
    let tb = domain_threads(&b);
    assert!(ta.iter().all(|t| !tb.contains(t)));
    // spawn_on through b's handle from a task of a lands on b's domain.
    let b = Arc::new(b);
    let b2 = b.clone();
    let (thread, count) = a
        .block_on(a.spawn_on(d(0), move || async move {
            b2.spawn_on(d(2), || async {
                (thread::current().id(), trellis::domain::count())
            })
            .await
            .unwrap()
        }))
        .unwrap();
    assert_eq!(thread, tb[2]);
    assert_eq!(count, 3);
    drop(a);
    let b = Arc::try_unwrap(b).expect("no other reference to b");
    let _: Runtime = b;
}

#[test]
fn spawn_local_from_a_stealable_task_pins_to_the_domain_that_polls_it() {
    let _wd = Watchdog::new("spawn_local_from_a_stealable_task_pins_to_the_domain_that_polls_it");
    let rt = support::rt_named(2, "trl-dapiC");
    let home = Home::new();
    let threads = domain_threads(&rt);
    for _ in 0..50 {
        let h = home.clone();
        let (spawned_on, ran_on) = rt
            .block_on(rt.spawn(async move {
                let here = trellis::domain::current().unwrap();
                let child = trellis::spawn_local(h.wrap(async {
                    trellis::yield_now().await;
                    thread::current().id()
                }));
                (here, child.await.unwrap())
            }))
            .unwrap();
        assert_eq!(threads[spawned_on.index()], ran_on);
    }
    drop(rt);
    home.assert_all_home_and_dropped("spawn_local from a stealable task");
}
