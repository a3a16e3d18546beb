//! Instrument hooks (`Builder::instrument`), task names (`TaskBuilder`, `start_soon_named`) and
//! `time::advance` on the paused clock.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::Watchdog;
use trellis::time::{Instant, advance, sleep};
use trellis::{DomainId, Instrument, Runtime, TaskBuilder, TaskId, TaskInfo};

/// Records every event, with the task's name (or type name) and the thread it happened on.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<(&'static str, TaskId, String)>>,
    /// Task id -> the thread its current poll runs on.
    polling: Mutex<HashMap<TaskId, std::thread::ThreadId>>,
    stopped: Mutex<usize>,
    mismatched_poll_threads: Mutex<usize>,
    wrong_domain: Mutex<usize>,
}

impl Recorder {
    fn push(&self, kind: &'static str, task: &TaskInfo<'_>) {
        let label = task.name().unwrap_or(task.type_name()).to_owned();
        self.events.lock().unwrap().push((kind, task.id(), label));
    }

    fn count_named(&self, kind: &str, name: &str) -> usize {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.0 == kind && e.2 == name)
            .count()
    }
}

impl Instrument for Recorder {
    fn task_spawned(&self, task: &TaskInfo<'_>) {
        self.push("spawned", task);
    }
    fn task_scheduled(&self, task: &TaskInfo<'_>) {
        self.push("scheduled", task);
    }
    fn before_task_poll(&self, task: &TaskInfo<'_>) {
        if let Some(d) = task.domain() {
            if trellis::domain::current() != Some(d) {
                *self.wrong_domain.lock().unwrap() += 1;
            }
        }
        self.polling
            .lock()
            .unwrap()
            .insert(task.id(), std::thread::current().id());
        self.push("before", task);
    }
    fn after_task_poll(&self, task: &TaskInfo<'_>) {
        let thread = self.polling.lock().unwrap().remove(&task.id());
        if thread != Some(std::thread::current().id()) {
            *self.mismatched_poll_threads.lock().unwrap() += 1;
        }
        self.push("after", task);
    }
    fn task_exited(&self, task: &TaskInfo<'_>) {
        self.push("exited", task);
    }
    fn runtime_stopped(&self) {
        *self.stopped.lock().unwrap() += 1;
    }
}

fn instrumented(workers: usize, recorder: &Arc<Recorder>) -> Runtime {
    support::build(support::builder(workers).instrument(recorder.clone()))
}

#[test]
fn instrument_sees_every_task_spawned_polled_and_exited() {
    let _wd = Watchdog::new("instrument_sees_every_task_spawned_polled_and_exited");
    let rec = Arc::new(Recorder::default());
    let rt = instrumented(2, &rec);
    rt.block_on(async {
        let mut handles = Vec::new();
        for i in 0..100 {
            handles.push(TaskBuilder::new().name("worker").spawn(async move {
                for _ in 0..i % 4 {
                    trellis::yield_now().await;
                }
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
    });
    drop(rt);
    assert_eq!(rec.count_named("spawned", "worker"), 100);
    assert_eq!(rec.count_named("exited", "worker"), 100);
    let before = rec.count_named("before", "worker");
    assert_eq!(before, rec.count_named("after", "worker"));
    // 0 + 1 + 2 + 3 yields per four tasks, plus the first poll of each.
    assert_eq!(before, 100 + 25 * (1 + 2 + 3));
    // Every poll was scheduled first (spawn, or the yield's own wake).
    assert_eq!(rec.count_named("scheduled", "worker"), before);
    assert_eq!(*rec.mismatched_poll_threads.lock().unwrap(), 0);
    assert_eq!(*rec.stopped.lock().unwrap(), 1, "runtime_stopped once");
}

#[test]
fn instrument_events_of_a_task_come_in_order() {
    let _wd = Watchdog::new("instrument_events_of_a_task_come_in_order");
    let rec = Arc::new(Recorder::default());
    let rt = instrumented(2, &rec);
    rt.block_on(async {
        TaskBuilder::new()
            .name("one")
            .spawn(async {
                sleep(Duration::from_millis(2)).await;
            })
            .await
            .unwrap();
    });
    drop(rt);
    let kinds: Vec<_> = rec
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.2 == "one")
        .map(|e| e.0)
        .collect();
    assert_eq!(
        kinds,
        [
            "spawned",
            "scheduled",
            "before",
            "after",
            "scheduled",
            "before",
            "after",
            "exited"
        ]
    );
}

#[test]
fn instrument_names_pinned_blocking_and_nursery_children() {
    let _wd = Watchdog::new("instrument_names_pinned_blocking_and_nursery_children");
    let rec = Arc::new(Recorder::default());
    let rt = instrumented(3, &rec);
    rt.block_on(async {
        TaskBuilder::new()
            .name("pinned")
            .spawn_on(DomainId::new(2), || async { trellis::yield_now().await })
            .await
            .unwrap();
        TaskBuilder::new()
            .name("blocking")
            .spawn_blocking(|| 1)
            .await
            .unwrap();
        trellis::spawn(async {
            TaskBuilder::new()
                .name("local")
                .spawn_local(async {})
                .await
                .unwrap();
        })
        .await
        .unwrap();
        trellis::nursery(async |n| {
            n.start_soon_named("named-child", async {});
            n.start_soon(async { trellis::yield_now().await });
            n.start_soon_on(DomainId::new(1), || async {});
        })
        .await
        .unwrap();
    });
    drop(rt);
    for name in ["pinned", "blocking", "local", "named-child"] {
        assert_eq!(rec.count_named("spawned", name), 1, "{name}");
        assert_eq!(rec.count_named("exited", name), 1, "{name}");
    }
    // Unnamed nursery children are labelled with their future's type name.
    let events = rec.events.lock().unwrap();
    let unnamed_children = events
        .iter()
        .filter(|e| e.0 == "spawned" && e.2.starts_with("rt_instrument::instrument_names_pinned"))
        .count();
    // The stealable task spawned above, and the two unnamed nursery children.
    assert_eq!(unnamed_children, 3, "{events:?}");
    assert_eq!(*rec.wrong_domain.lock().unwrap(), 0);
}

#[test]
fn uninstrumented_runtime_has_no_names_to_pay_for() {
    // Names are accepted (and ignored) without an instrument; nothing breaks.
    let _wd = Watchdog::new("uninstrumented_runtime_has_no_names_to_pay_for");
    let rt = support::rt(1);
    let v = rt.block_on(async {
        trellis::nursery(async |n| n.start_soon_named("x", async {}))
            .await
            .unwrap();
        TaskBuilder::new()
            .name("y")
            .spawn(async { 5 })
            .await
            .unwrap()
    });
    assert_eq!(v, 5);
}

#[test]
fn advance_moves_the_paused_clock_and_fires_due_timers() {
    let _wd = Watchdog::new("advance_moves_the_paused_clock_and_fires_due_timers");
    let rt = support::paused_rt(2);
    rt.block_on(async {
        let start = Instant::now();
        let nap = sleep(Duration::from_secs(1)); // deadline: start + 1 s
        let sleeper = trellis::spawn(async move {
            nap.await;
            start.elapsed()
        });
        trellis::yield_now().await;
        advance(Duration::from_millis(1500));
        assert_eq!(start.elapsed(), Duration::from_millis(1500));
        // Fired by the advance, not by a later jump: it saw the advanced time.
        assert_eq!(sleeper.await.unwrap(), Duration::from_millis(1500));
    });
}

#[test]
#[should_panic(expected = "needs a paused clock")]
fn advance_without_a_paused_clock_panics() {
    let _w = support::Watchdog::new("advance_without_a_paused_clock_panics");
    let rt = support::rt(1);
    rt.block_on(async { advance(Duration::from_secs(1)) });
}

/// Panics in one poll hook for tasks with a given name.
struct PanickingHook {
    before: bool,
}

impl Instrument for PanickingHook {
    fn before_task_poll(&self, task: &TaskInfo<'_>) {
        if self.before && task.name() == Some("boom") {
            panic!("before_task_poll hook panicked");
        }
    }
    fn after_task_poll(&self, task: &TaskInfo<'_>) {
        if !self.before && task.name() == Some("boom") {
            panic!("after_task_poll hook panicked");
        }
    }
}

/// Issue 10, defect 9: a panicking `before_task_poll` / `after_task_poll` hook used to unwind
/// out of the task harness and kill the worker, after which the runtime hung. The panic is the
/// polled task's failure; the future is dropped exactly once; the worker runs on.
#[test]
#[cfg(panic = "unwind")]
fn panicking_poll_hook_fails_the_task_and_the_worker_survives() {
    let _w = Watchdog::with_timeout(
        "panicking_poll_hook_fails_the_task_and_the_worker_survives",
        Duration::from_secs(30),
    );
    for before in [true, false] {
        let rt = support::build(support::builder(1).instrument(Arc::new(PanickingHook { before })));
        let tracker = support::Tracker::new();
        let (boom, pending_boom) = rt.block_on(async {
            let boom = TaskBuilder::new()
                .name("boom")
                .spawn(tracker.track(async { 1 }));
            let pending_boom = TaskBuilder::new()
                .name("boom")
                .spawn(tracker.track(std::future::pending::<u32>()));
            (boom, pending_boom)
        });
        let hook = if before { "before" } else { "after" };
        for (what, h) in [("ready", boom), ("pending", pending_boom)] {
            match support::join_within(h, Duration::from_secs(10)) {
                Some(Err(e)) => assert!(e.is_panic(), "{hook} hook, {what} task: {e:?}"),
                Some(Ok(v)) => panic!("{hook} hook, {what} task: returned {v} despite the panic"),
                None => panic!("{hook} hook, {what} task: never finished (the worker died?)"),
            }
        }
        // The worker survived: an ordinary task still runs.
        let ok = rt.spawn(async { 2 });
        assert_eq!(
            support::join_within(ok, Duration::from_secs(10)).map(Result::unwrap),
            Some(2),
            "{hook} hook: the worker did not survive the hook's panic"
        );
        assert_eq!(
            tracker.dropped.get(),
            2,
            "{hook} hook: each future dropped once"
        );
    }
}

/// Panics in every hook that is not a poll hook.
struct PanicsOutsidePolls;

impl Instrument for PanicsOutsidePolls {
    fn task_spawned(&self, _task: &TaskInfo<'_>) {
        panic!("task_spawned hook panicked");
    }
    fn task_scheduled(&self, _task: &TaskInfo<'_>) {
        panic!("task_scheduled hook panicked");
    }
    fn task_exited(&self, _task: &TaskInfo<'_>) {
        panic!("task_exited hook panicked");
    }
    fn runtime_stopped(&self) {
        panic!("runtime_stopped hook panicked");
    }
}

/// Issue 10, defect 9: a panic of any other hook (some run inside wakers, on a worker, when a
/// timer fires) is contained: reported and ignored; tasks and timers carry on, and the runtime
/// shuts down normally.
#[test]
#[cfg(panic = "unwind")]
fn panicking_scheduling_hooks_are_contained() {
    let _w = Watchdog::with_timeout(
        "panicking_scheduling_hooks_are_contained",
        Duration::from_secs(30),
    );
    let rt = support::build(support::builder(1).instrument(Arc::new(PanicsOutsidePolls)));
    // A timer wakes the task (task_scheduled from the timer's wake), then it exits.
    let h = rt.spawn(async {
        sleep(Duration::from_millis(2)).await;
        trellis::yield_now().await;
        5
    });
    assert_eq!(
        support::join_within(h, Duration::from_secs(10)).map(Result::unwrap),
        Some(5),
        "a panicking hook stopped the task or its worker"
    );
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(rt); // runtime_stopped panics: contained
        let _ = tx.send(());
    });
    assert!(
        rx.recv_timeout(Duration::from_secs(10)).is_ok(),
        "shutdown did not complete"
    );
}
