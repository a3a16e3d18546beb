//! Runtime construction and `block_on`: the builder, `Runtime::new`, `trellis::run`, worker thread
//! names, and the `block_on` misuse panics (ARCHITECTURE.md, guarantee G14).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::Duration;

use support::{Watchdog, panic_message};
use trellis::Runtime;

#[test]
fn workers_zero_is_a_build_error_with_a_helpful_message() {
    let _wd = Watchdog::new("workers_zero_is_a_build_error_with_a_helpful_message");
    let err = match Runtime::builder().workers(0).build() {
        Ok(_) => panic!("workers(0) must be a BuildError"),
        Err(e) => e,
    };
    let msg = err.to_string();
    assert!(
        msg.to_lowercase().contains("worker"),
        "BuildError should say what is wrong with `workers`: {msg:?}"
    );
    assert!(msg.len() > 10, "BuildError message too terse: {msg:?}");
    // Debug exists and is non-empty; the error is a std error.
    assert!(!format!("{err:?}").is_empty());
    let _as_std: &dyn std::error::Error = &err;
}

#[test]
fn workers_reports_the_configured_count() {
    let _wd = Watchdog::new("workers_reports_the_configured_count");
    for n in [1, 2, 3] {
        let rt = Runtime::builder().workers(n).build().expect("build");
        assert_eq!(rt.workers(), n);
        assert_eq!(rt.block_on(async { n * 10 }), n * 10);
    }
}

#[test]
fn runtime_new_builds_a_working_runtime() {
    let _wd = Watchdog::new("runtime_new_builds_a_working_runtime");
    let rt = Runtime::new().expect("Runtime::new");
    assert!(rt.workers() >= 1);
    let v = rt.block_on(async { trellis::spawn(async { 40 + 2 }).await.unwrap() });
    assert_eq!(v, 42);
}

#[test]
fn run_returns_the_future_output() {
    let _wd = Watchdog::new("run_returns_the_future_output");
    let v = trellis::run(async {
        let h = trellis::spawn(async { 7u64 });
        h.await.unwrap() * 6
    });
    assert_eq!(v, 42);
}

#[test]
fn thread_name_is_applied_to_worker_threads() {
    let _wd = Watchdog::new("thread_name_is_applied_to_worker_threads");
    let rt = support::rt_named(2, "trl-named");
    // From a task spawned from outside...
    let name = rt
        .block_on(rt.spawn(async { support::thread_name() }))
        .expect("task ok");
    let name = name.expect("worker threads have a name");
    assert!(name.starts_with("trl-named"), "worker thread name {name:?}");
    // ...and from a task spawned inside a task (trellis::spawn finds the same runtime).
    let name2 = rt
        .block_on(async {
            trellis::spawn(async { trellis::spawn(async { support::thread_name() }).await }).await
        })
        .expect("outer ok")
        .expect("inner ok")
        .expect("named");
    assert!(
        name2.starts_with("trl-named"),
        "worker thread name {name2:?}"
    );
}

#[test]
fn block_on_runs_on_the_calling_thread() {
    let _wd = Watchdog::new("block_on_runs_on_the_calling_thread");
    let rt = support::rt_named(1, "trl-bo-caller");
    let me = std::thread::current().id();
    let (there, task_thread) = rt.block_on(async {
        let there = std::thread::current().id();
        let task_thread = trellis::spawn(async { std::thread::current().id() })
            .await
            .unwrap();
        (there, task_thread)
    });
    assert_eq!(
        there, me,
        "block_on must poll its future on the calling thread"
    );
    assert_ne!(task_thread, me, "spawned tasks run on worker threads");
}

#[test]
fn block_on_inside_a_task_panics_with_an_explanation() {
    let _wd = Watchdog::new("block_on_inside_a_task_panics_with_an_explanation");
    let rt = Arc::new(support::rt_named(2, "trl-bo-task"));
    let rt2 = Arc::clone(&rt);
    let h = rt.spawn(async move { rt2.block_on(async { 1 }) });
    let err = rt
        .block_on(h)
        .expect_err("block_on on a worker thread must panic");
    assert!(err.is_panic(), "expected a panic, got {err:?}");
    let msg = panic_message(&*err.into_panic());
    assert!(
        msg.contains("block_on"),
        "the panic should explain the block_on misuse: {msg:?}"
    );
    // The runtime still works afterwards.
    assert_eq!(rt.block_on(rt.spawn(async { 5 })).unwrap(), 5);
}

#[test]
fn nested_block_on_panics_with_an_explanation() {
    let _wd = Watchdog::new("nested_block_on_panics_with_an_explanation");
    let rt = support::rt_named(1, "trl-bo-nest");
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async { rt.block_on(async { 1 }) })
    }));
    let payload = res.expect_err("nested block_on must panic");
    let msg = panic_message(&*payload);
    assert!(msg.contains("block_on"), "panic message {msg:?}");
    // The thread's runtime context was restored while unwinding: block_on works again.
    assert_eq!(rt.block_on(async { 3 }), 3);
    assert_eq!(
        rt.block_on(async { trellis::spawn(async { 4 }).await.unwrap() }),
        4
    );
}

#[test]
fn nested_block_on_of_another_runtime_panics() {
    let _wd = Watchdog::new("nested_block_on_of_another_runtime_panics");
    let rt1 = support::rt_named(1, "trl-bo-n1");
    let rt2 = support::rt_named(1, "trl-bo-n2");
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt1.block_on(async { rt2.block_on(async { 1 }) })
    }));
    let payload = res.expect_err("block_on nested inside another runtime's block_on must panic");
    let msg = panic_message(&*payload);
    assert!(msg.contains("block_on"), "panic message {msg:?}");
    assert_eq!(rt1.block_on(async { 1 }), 1);
    assert_eq!(rt2.block_on(async { 2 }), 2);
}

#[test]
fn block_on_after_a_panicking_block_on_still_works() {
    let _wd = Watchdog::new("block_on_after_a_panicking_block_on_still_works");
    let rt = support::rt_named(1, "trl-bo-pan");
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async {
            trellis::yield_now().await;
            panic!("boom in block_on");
        })
    }));
    let payload = res.expect_err("the panic propagates out of block_on");
    assert_eq!(panic_message(&*payload), "boom in block_on");
    assert_eq!(
        rt.block_on(async { trellis::spawn(async { 9 }).await.unwrap() }),
        9
    );
}

#[test]
fn runtime_is_shared_across_threads_with_concurrent_block_on() {
    let _wd = Watchdog::new("runtime_is_shared_across_threads_with_concurrent_block_on");
    let rt = support::rt_named(2, "trl-shared");
    let total: usize = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|t| {
                let rt = &rt;
                s.spawn(move || {
                    rt.block_on(async move {
                        let mut hs = Vec::new();
                        for i in 0..100 {
                            hs.push(trellis::spawn(async move { t * 1000 + i }));
                        }
                        let mut sum = 0;
                        for h in hs {
                            sum += h.await.unwrap();
                        }
                        sum
                    })
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum()
    });
    let expected: usize = (0..4)
        .map(|t| (0..100).map(|i| t * 1000 + i).sum::<usize>())
        .sum();
    assert_eq!(total, expected);
}

#[test]
fn several_runtimes_live_in_one_process() {
    let _wd = Watchdog::new("several_runtimes_live_in_one_process");
    let a = support::rt_named(1, "trl-rt-a");
    let b = support::rt_named(2, "trl-rt-b");
    let na = a
        .block_on(async { trellis::spawn(async { support::thread_name() }).await })
        .unwrap()
        .unwrap();
    let nb = b
        .block_on(async { trellis::spawn(async { support::thread_name() }).await })
        .unwrap()
        .unwrap();
    assert!(na.starts_with("trl-rt-a"), "{na:?}");
    assert!(nb.starts_with("trl-rt-b"), "{nb:?}");
    // A task of `a` can await a task of `b` (JoinHandle is runtime-agnostic as a future).
    let hb = b.spawn(async { support::thread_name() });
    let from_a = a.block_on(a.spawn(hb)).unwrap().unwrap();
    assert!(from_a.unwrap().starts_with("trl-rt-b"));
    drop(a);
    assert_eq!(b.block_on(async { 1 }), 1);
}

#[test]
fn rt_spawn_from_a_plain_thread_is_awaitable_anywhere() {
    let _wd = Watchdog::new("rt_spawn_from_a_plain_thread_is_awaitable_anywhere");
    let rt = support::rt_named(2, "trl-plain");
    let h = rt.spawn(async { 11 });
    // Awaited by a foreign executor on a plain thread.
    assert_eq!(futures_lite::future::block_on(h).unwrap(), 11);
    let done = Arc::new(AtomicBool::new(false));
    let d2 = done.clone();
    std::thread::scope(|s| {
        s.spawn(|| {
            let h = rt.spawn(async move {
                d2.store(true, SeqCst);
                12
            });
            assert_eq!(futures_lite::future::block_on(h).unwrap(), 12);
        });
    });
    assert!(done.load(SeqCst));
}

#[test]
fn max_blocking_threads_builder_option_builds() {
    let _wd = Watchdog::new("max_blocking_threads_builder_option_builds");
    let rt = Runtime::builder()
        .workers(1)
        .max_blocking_threads(2)
        .thread_name("trl-mbt")
        .build()
        .expect("build");
    let v = rt.block_on(async {
        trellis::spawn_blocking(|| {
            std::thread::sleep(Duration::from_millis(1));
            5
        })
        .await
        .unwrap()
    });
    assert_eq!(v, 5);
}
