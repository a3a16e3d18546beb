//! Shutdown loses nothing silently (ARCHITECTURE.md, guarantee G12 and invariant I4): dropping or
//! shutting down the runtime cancels every task, drops every future exactly once, joins every
//! worker thread, and spawning after shutdown yields `JoinError::Cancelled`, never a hang.

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use support::{
    Counter, Tracker, Watchdog, count_exit_of_current_thread, live_threads_named,
    no_live_threads_named, spin_until, wait_until,
};
use trellis::JoinHandle;

const LIMIT: Duration = Duration::from_secs(30);
const HOUR: Duration = Duration::from_secs(3600);

/// Records which threads ran tasks, and counts their exits through a thread-local destructor.
#[derive(Clone, Default)]
struct ThreadLog {
    seen: Arc<Mutex<HashSet<std::thread::ThreadId>>>,
    exits: Counter,
}

impl ThreadLog {
    fn record(&self) {
        self.seen
            .lock()
            .unwrap()
            .insert(std::thread::current().id());
        count_exit_of_current_thread(&self.exits);
    }
    fn distinct(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

/// Yields to the executor forever.
async fn yield_forever() {
    loop {
        trellis::yield_now().await;
    }
}

fn assert_all_cancelled<T: std::fmt::Debug>(handles: Vec<JoinHandle<T>>, what: &str) {
    for (i, h) in handles.into_iter().enumerate() {
        match futures_lite::future::block_on(h) {
            Err(e) => assert!(e.is_cancelled(), "{what} {i}: {e:?}"),
            Ok(v) => panic!("{what} {i}: completed with {v:?}, expected cancelled"),
        }
    }
}

#[test]
fn shutdown_drops_parked_sleeping_queued_and_yielding_tasks_exactly_once() {
    let _wd =
        Watchdog::new("shutdown_drops_parked_sleeping_queued_and_yielding_tasks_exactly_once");
    let rt = support::rt_named(2, "trl-sd1");
    let tracker = Tracker::new();
    let threads = ThreadLog::default();
    let mut senders = Vec::new();
    let mut parked = Vec::new();
    let mut sleeping = Vec::new();
    let mut yielding = Vec::new();
    for _ in 0..200 {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        senders.push(tx);
        let t = threads.clone();
        parked.push(rt.spawn(tracker.track(async move {
            t.record();
            let _ = rx.await;
        })));
        let t = threads.clone();
        sleeping.push(rt.spawn(tracker.track(async move {
            t.record();
            trellis::time::sleep(HOUR).await;
        })));
    }
    for _ in 0..4 {
        let t = threads.clone();
        yielding.push(rt.spawn(tracker.track(async move {
            t.record();
            yield_forever().await;
        })));
    }
    assert!(
        wait_until(LIMIT, || tracker.polled.get() == 404),
        "not every task was polled: {}",
        tracker.polled.get()
    );
    // A burst spawned right before the drop: most are still queued when shutdown begins.
    let queued: Vec<_> = (0..1000)
        .map(|_| {
            let t = threads.clone();
            rt.spawn(tracker.track(async move {
                t.record();
                std::future::pending::<()>().await;
            }))
        })
        .collect();
    assert!(live_threads_named("trl-sd1").is_none_or(|n| n >= 1));
    drop(rt);
    assert_eq!(tracker.spawned.get(), 1404);
    assert_eq!(
        tracker.dropped.get(),
        1404,
        "every future dropped exactly once by the time drop(Runtime) returns"
    );
    assert!(
        no_live_threads_named("trl-sd1"),
        "worker threads still alive after the runtime shut down"
    );
    assert_eq!(
        threads.exits.get(),
        threads.distinct(),
        "every thread that ran a task has exited (joined) by the time drop(Runtime) returns"
    );
    assert_all_cancelled(parked, "parked");
    assert_all_cancelled(sleeping, "sleeping");
    assert_all_cancelled(yielding, "yielding");
    assert_all_cancelled(queued, "queued");
    drop(senders);
}

#[test]
fn shutdown_with_one_worker_blocked_until_shutdown_begins() {
    let _wd = Watchdog::new("shutdown_with_one_worker_blocked_until_shutdown_begins");
    // The only worker is stuck in a poll while 500 tasks queue up behind it; it is released
    // from another thread while the main thread is already in drop(Runtime).
    let rt = support::rt_named(1, "trl-sd2");
    let tracker = Tracker::new();
    let (started_tx, started_rx) = mpsc::channel();
    let release = Arc::new(AtomicBool::new(false));
    let r = release.clone();
    let blocker = rt.spawn(tracker.track(async move {
        started_tx.send(()).unwrap();
        assert!(spin_until(LIMIT, || r.load(SeqCst)));
        std::future::pending::<()>().await;
    }));
    started_rx.recv_timeout(LIMIT).unwrap();
    let queued: Vec<_> = (0..500)
        .map(|_| rt.spawn(tracker.track(async { 1 })))
        .collect();
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        release.store(true, SeqCst);
    });
    drop(rt);
    releaser.join().unwrap();
    assert_eq!(tracker.dropped.get(), tracker.spawned.get());
    assert!(
        no_live_threads_named("trl-sd2"),
        "worker threads still alive after the runtime shut down"
    );
    assert_all_cancelled(vec![blocker], "blocker");
    // Queued tasks may or may not have run before shutdown began; none may be lost.
    for h in queued {
        match futures_lite::future::block_on(h) {
            Ok(v) => assert_eq!(v, 1),
            Err(e) => assert!(e.is_cancelled(), "{e:?}"),
        }
    }
}

/// Calls `trellis::spawn` from its `Drop` (which runs during shutdown) and reports the outcome.
struct SpawnOnDrop {
    child: Tracker,
    report: mpsc::Sender<Result<JoinHandle<u32>, String>>,
}

impl Drop for SpawnOnDrop {
    fn drop(&mut self) {
        let child = self.child.clone();
        let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            trellis::spawn(child.track(async { 5u32 }))
        }))
        .map_err(|p| support::panic_message(&*p));
        let _ = self.report.send(res);
    }
}

#[test]
fn spawn_during_shutdown_yields_cancelled() {
    let _wd = Watchdog::new("spawn_during_shutdown_yields_cancelled");
    let rt = support::rt_named(2, "trl-sd3");
    let child = Tracker::new();
    let (report_tx, report_rx) = mpsc::channel();
    let polled = Counter::new();
    let p = polled.clone();
    let guard = SpawnOnDrop {
        child: child.clone(),
        report: report_tx,
    };
    let h = rt.spawn(async move {
        let _guard = guard;
        p.incr();
        std::future::pending::<()>().await;
    });
    assert!(wait_until(LIMIT, || polled.get() == 1));
    drop(rt);
    let res = report_rx
        .recv_timeout(LIMIT)
        .expect("the parked task's future was dropped at shutdown");
    let child_handle = res.unwrap_or_else(|msg| {
        panic!("trellis::spawn from a Drop running during shutdown panicked: {msg}")
    });
    assert_all_cancelled(vec![child_handle], "spawned during shutdown");
    assert_eq!(child.spawned.get(), 1);
    assert_eq!(
        child.polled.get(),
        0,
        "a task spawned after shutdown must not run"
    );
    assert_eq!(child.dropped.get(), 1, "...and its future is dropped");
    assert_all_cancelled(vec![h], "parked");
}

/// Drops a oneshot sender (waking another task) from its `Drop`.
struct WakeOnDrop(#[allow(dead_code)] tokio::sync::oneshot::Sender<()>);

#[test]
fn wake_from_drop_during_shutdown_is_harmless() {
    let _wd = Watchdog::new("wake_from_drop_during_shutdown_is_harmless");
    for _ in 0..20 {
        let rt = support::rt_named(2, "trl-sd4");
        let tracker = Tracker::new();
        let mut handles = Vec::new();
        let mut keep = Vec::new();
        for _ in 0..50 {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let (keep_tx, keep_rx) = tokio::sync::oneshot::channel::<()>();
            // A waits for B's sender; B holds that sender and parks forever.
            handles.push(rt.spawn(tracker.track(async move {
                let _ = rx.await;
                // Woken during shutdown: park again on something that never completes.
                std::future::pending::<()>().await;
            })));
            let waker_guard = WakeOnDrop(tx);
            handles.push(rt.spawn(tracker.track(async move {
                let _g = waker_guard;
                let _ = keep_rx.await;
            })));
            keep.push(keep_tx);
        }
        assert!(wait_until(LIMIT, || tracker.polled.get() == 100));
        drop(rt);
        assert_eq!(tracker.dropped.get(), 100);
        assert_all_cancelled(handles, "task");
        drop(keep);
    }
}

#[test]
fn join_handle_waiting_on_another_thread_wakes_at_shutdown() {
    let _wd = Watchdog::new("join_handle_waiting_on_another_thread_wakes_at_shutdown");
    let rt = support::rt_named(2, "trl-sd5");
    let tracker = Tracker::new();
    let (_tx, rx) = tokio::sync::oneshot::channel::<()>();
    let h = rt.spawn(tracker.track(async move {
        let _ = rx.await;
    }));
    assert!(wait_until(LIMIT, || tracker.polled.get() == 1));
    let (waiting_tx, waiting_rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        waiting_tx.send(()).unwrap();
        futures_lite::future::block_on(h)
    });
    waiting_rx.recv_timeout(LIMIT).unwrap();
    drop(rt);
    let res = waiter.join().unwrap();
    assert!(res.expect_err("cancelled by shutdown").is_cancelled());
    assert_eq!(tracker.dropped.get(), 1);
}

#[test]
fn shutdown_timeout_drops_everything_and_returns_promptly() {
    let _wd = Watchdog::new("shutdown_timeout_drops_everything_and_returns_promptly");
    let rt = support::rt_named(2, "trl-sd6");
    let tracker = Tracker::new();
    let mut handles = Vec::new();
    let mut senders = Vec::new();
    for _ in 0..100 {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        senders.push(tx);
        handles.push(rt.spawn(tracker.track(async move {
            let _ = rx.await;
        })));
        handles.push(rt.spawn(tracker.track(async move {
            trellis::time::sleep(HOUR).await;
        })));
    }
    assert!(wait_until(LIMIT, || tracker.polled.get() == 200));
    let start = Instant::now();
    rt.shutdown_timeout(Duration::from_secs(30));
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "shutdown_timeout with nothing stuck took {took:?}"
    );
    assert_eq!(tracker.dropped.get(), 200);
    assert!(
        no_live_threads_named("trl-sd6"),
        "worker threads still alive after the runtime shut down"
    );
    assert_all_cancelled(handles, "task");
    drop(senders);
}

#[test]
fn shutdown_timeout_returns_with_a_task_stuck_in_a_blocking_loop() {
    let _wd = Watchdog::new("shutdown_timeout_returns_with_a_task_stuck_in_a_blocking_loop");
    let rt = support::rt_named(2, "trl-sd7");
    let tracker = Tracker::new();
    let running = Arc::new(AtomicBool::new(false));
    let release = Arc::new(AtomicBool::new(false));
    let (run2, rel2) = (running.clone(), release.clone());
    let stuck = rt.spawn(tracker.track(async move {
        run2.store(true, SeqCst);
        // Never yields to the executor until released.
        while !rel2.load(SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        trellis::yield_now().await;
    }));
    let parked: Vec<_> = (0..10)
        .map(|_| {
            rt.spawn(tracker.track(async {
                std::future::pending::<()>().await;
            }))
        })
        .collect();
    assert!(wait_until(LIMIT, || running.load(SeqCst)));
    let start = Instant::now();
    rt.shutdown_timeout(Duration::from_millis(300));
    let took = start.elapsed();
    release.store(true, SeqCst);
    assert!(
        took < Duration::from_secs(10),
        "shutdown_timeout(300ms) with a stuck task took {took:?}"
    );
    // Once the stuck poll returns, its worker still cleans up: nothing is lost.
    assert!(
        wait_until(LIMIT, || tracker.dropped.get() == tracker.spawned.get()),
        "dropped {} of {} futures after the stuck poll returned",
        tracker.dropped.get(),
        tracker.spawned.get()
    );
    assert_all_cancelled(parked, "parked");
    match futures_lite::future::block_on(stuck) {
        Ok(()) => {}
        Err(e) => assert!(e.is_cancelled(), "{e:?}"),
    }
}

#[test]
fn shutdown_timeout_returns_with_a_stuck_blocking_closure() {
    let _wd = Watchdog::new("shutdown_timeout_returns_with_a_stuck_blocking_closure");
    let rt = support::rt_named(1, "trl-sd8");
    let running = Arc::new(AtomicBool::new(false));
    let release = Arc::new(AtomicBool::new(false));
    let (run2, rel2) = (running.clone(), release.clone());
    #[allow(clippy::async_yields_async)]
    let h = rt.block_on(async move {
        trellis::spawn_blocking(move || {
            run2.store(true, SeqCst);
            while !rel2.load(SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
            9
        })
    });
    assert!(wait_until(LIMIT, || running.load(SeqCst)));
    let start = Instant::now();
    rt.shutdown_timeout(Duration::from_millis(300));
    let took = start.elapsed();
    release.store(true, SeqCst);
    assert!(
        took < Duration::from_secs(10),
        "shutdown_timeout(300ms) with a stuck blocking closure took {took:?}"
    );
    // The closure was running: it either completes or its handle reports cancellation.
    match futures_lite::future::block_on(h) {
        Ok(v) => assert_eq!(v, 9),
        Err(e) => assert!(e.is_cancelled(), "{e:?}"),
    }
}

#[test]
fn create_and_drop_cycles_lose_nothing() {
    let _wd = Watchdog::new("create_and_drop_cycles_lose_nothing");
    let tracker = Tracker::new();
    for cycle in 0..50 {
        let rt = support::rt_named(2, "trl-sd9");
        let t = tracker.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let mut handles = Vec::new();
        handles.push(rt.spawn(t.track(async move {
            let _ = rx.await;
        })));
        handles.push(rt.spawn(t.track(async {
            trellis::time::sleep(HOUR).await;
        })));
        handles.push(rt.spawn(t.track(yield_forever())));
        let t2 = t.clone();
        handles.push(rt.spawn(t.track(async move {
            // Spawns children (some complete, some park) and then parks.
            for i in 0..10 {
                let c = trellis::spawn(t2.track(async move {
                    if i % 2 == 0 {
                        std::future::pending::<()>().await;
                    }
                }));
                drop(c);
            }
            std::future::pending::<()>().await;
        })));
        for _ in 0..20 {
            drop(rt.spawn(t.track(async {})));
        }
        if cycle % 2 == 0 {
            rt.block_on(trellis::yield_now());
        }
        drop(rt);
        assert_eq!(
            tracker.dropped.get(),
            tracker.spawned.get(),
            "cycle {cycle}: dropped != spawned"
        );
        assert!(
            no_live_threads_named("trl-sd9"),
            "cycle {cycle}: worker threads still alive"
        );
        for h in handles {
            assert!(
                futures_lite::future::block_on(h)
                    .unwrap_err()
                    .is_cancelled()
            );
        }
        drop(tx);
    }
}

#[test]
fn drop_runtime_on_another_thread() {
    let _wd = Watchdog::new("drop_runtime_on_another_thread");
    let rt = support::rt_named(2, "trl-sdx");
    let tracker = Tracker::new();
    let h = rt.spawn(tracker.track(std::future::pending::<()>()));
    std::thread::spawn(move || drop(rt)).join().unwrap();
    assert_eq!(tracker.dropped.get(), 1);
    assert!(
        futures_lite::future::block_on(h)
            .unwrap_err()
            .is_cancelled()
    );
}

#[test]
fn spawn_from_a_task_running_across_shutdown_yields_cancelled() {
    let _wd = Watchdog::new("spawn_from_a_task_running_across_shutdown_yields_cancelled");
    // A task stuck in one poll while shutdown_timeout gives up on it; when released it spawns
    // (on its worker thread, after shutdown) a task and a blocking closure.
    let rt = support::rt_named(2, "trl-sdy");
    let child = Tracker::new();
    let blocking_ran = Arc::new(AtomicBool::new(false));
    let running = Arc::new(AtomicBool::new(false));
    let release = Arc::new(AtomicBool::new(false));
    let (report_tx, report_rx) = mpsc::channel();
    let (run2, rel2, c2, b2) = (
        running.clone(),
        release.clone(),
        child.clone(),
        blocking_ran.clone(),
    );
    let stuck = rt.spawn(async move {
        run2.store(true, SeqCst);
        while !rel2.load(SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let task = trellis::spawn(c2.track(async { 1u32 }));
            let blocking = trellis::spawn_blocking(move || b2.store(true, SeqCst));
            (task, blocking)
        }))
        .map_err(|p| support::panic_message(&*p));
        report_tx.send(res).unwrap();
        trellis::yield_now().await;
    });
    assert!(wait_until(LIMIT, || running.load(SeqCst)));
    rt.shutdown_timeout(Duration::from_millis(100));
    release.store(true, SeqCst);
    let (task, blocking) = report_rx
        .recv_timeout(LIMIT)
        .expect("the stuck task resumed")
        .unwrap_or_else(|msg| panic!("spawning on a worker after shutdown panicked: {msg}"));
    assert_all_cancelled(vec![task], "task spawned after shutdown");
    assert_all_cancelled(vec![blocking], "blocking closure spawned after shutdown");
    assert_eq!(
        child.polled.get(),
        0,
        "a task spawned after shutdown must not run"
    );
    assert_eq!(child.dropped.get(), 1);
    assert!(
        !blocking_ran.load(SeqCst),
        "a closure spawned after shutdown must not run"
    );
    match futures_lite::future::block_on(stuck) {
        Ok(()) => {}
        Err(e) => assert!(e.is_cancelled(), "{e:?}"),
    }
}

/// Panics when dropped (unless already unwinding).
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("panic in Drop during shutdown");
        }
    }
}

#[cfg(panic = "unwind")]
#[test]
fn panic_in_a_future_drop_during_shutdown_loses_nothing_else() {
    let _wd = Watchdog::new("panic_in_a_future_drop_during_shutdown_loses_nothing_else");
    let rt = support::rt_named(2, "trl-sdp");
    let tracker = Tracker::new();
    let mut handles = Vec::new();
    for i in 0..100 {
        handles.push(rt.spawn(tracker.track(async move {
            // (Not `then_some`: that would build, and drop, a PanicOnDrop for every task.)
            let _guard = if i % 10 == 0 { Some(PanicOnDrop) } else { None };
            std::future::pending::<()>().await;
        })));
    }
    assert!(wait_until(LIMIT, || tracker.pending.get() >= 100));
    // Whether drop(Runtime) swallows these panics or re-raises one is not specified here; what
    // is: every other future is still dropped and every thread joined.
    let dropped_cleanly =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(rt))).is_ok();
    println!("drop(Runtime) with panicking Drop impls returned normally: {dropped_cleanly}");
    assert_eq!(
        tracker.dropped.get(),
        100,
        "futures lost after a panic in another future's Drop during shutdown"
    );
    assert!(
        no_live_threads_named("trl-sdp"),
        "worker threads left running"
    );
    for (i, h) in handles.into_iter().enumerate() {
        let e = futures_lite::future::block_on(h).expect_err("cancelled at shutdown");
        if i % 10 == 0 {
            // Its cancellation panicked: reported as either.
            assert!(e.is_cancelled() || e.is_panic(), "task {i}: {e:?}");
        } else {
            assert!(e.is_cancelled(), "task {i}: {e:?}");
        }
    }
}

#[test]
fn last_runtime_reference_dropped_inside_its_own_task() {
    let _wd = Watchdog::new("last_runtime_reference_dropped_inside_its_own_task");
    // The runtime is shared through an Arc; the last reference is held by one of its own tasks,
    // so drop(Runtime) runs on one of its worker threads. No deadlock, nothing lost.
    let rt = Arc::new(support::rt_named(2, "trl-sdself"));
    let tracker = Tracker::new();
    let parked: Vec<_> = (0..20)
        .map(|_| rt.spawn(tracker.track(std::future::pending::<()>())))
        .collect();
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let rt2 = Arc::clone(&rt);
    let owner = rt.spawn(tracker.track(async move {
        let _ = go_rx.await;
        drop(rt2); // the last reference: shuts the runtime down from inside
        7
    }));
    assert!(wait_until(LIMIT, || tracker.pending.get() >= 21));
    drop(rt);
    go_tx.send(()).unwrap();
    match futures_lite::future::block_on(owner) {
        Ok(v) => assert_eq!(v, 7),
        Err(e) => assert!(e.is_cancelled(), "{e:?}"),
    }
    assert_all_cancelled(parked, "parked");
    assert!(
        wait_until(LIMIT, || tracker.dropped.get() == 21),
        "dropped {} of 21 futures",
        tracker.dropped.get()
    );
    assert!(
        no_live_threads_named("trl-sdself"),
        "worker threads still alive"
    );
}

/// Issue 10, defect 10: `shutdown_timeout` returned with the stealable tasks queued on a worker
/// stuck in a long poll still alive (only that worker drained its queue, after its poll). Every
/// stealable task that is not running is now dropped before `shutdown_timeout` returns.
#[test]
fn shutdown_timeout_drops_tasks_queued_behind_a_stuck_poll_before_returning() {
    let _wd =
        Watchdog::new("shutdown_timeout_drops_tasks_queued_behind_a_stuck_poll_before_returning");
    const QUEUED: usize = 10;
    for workers in [1, 2] {
        let rt = support::rt_named(workers, "trl-sdq");
        let tracker = Tracker::new();
        let (queued_tx, queued_rx) = mpsc::channel::<Vec<JoinHandle<()>>>();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let t2 = tracker.clone();
        let stuck = rt.spawn(async move {
            // Queued on this worker (its LIFO slot and local queue), never polled: this poll
            // does not return until released.
            let handles = (0..QUEUED)
                .map(|_| trellis::spawn(t2.track(std::future::pending::<()>())))
                .collect();
            queued_tx.send(handles).unwrap();
            release_rx.recv_timeout(LIMIT).expect("released");
        });
        let handles = queued_rx.recv_timeout(LIMIT).unwrap();
        rt.shutdown_timeout(Duration::from_millis(50));
        // Counted right away: the drops happened before shutdown_timeout returned.
        let dropped = tracker.dropped.get();
        release_tx.send(()).unwrap();
        assert_eq!(
            dropped, QUEUED,
            "{workers} worker(s): {dropped} of {QUEUED} tasks queued behind the stuck poll were \
             dropped when shutdown_timeout returned"
        );
        assert_all_cancelled(handles, "queued");
        let _ = support::join_within(stuck, LIMIT).expect("the stuck task ends its poll");
        assert!(
            no_live_threads_named("trl-sdq"),
            "the detached worker did not exit after its poll"
        );
    }
}
