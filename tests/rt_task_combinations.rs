//! The drop/cancel matrix (after tokio's `task_combinations`): every combination of
//! {body returns, panics in poll, panics in drop} x {output panics on drop or not} x
//! {JoinHandle dropped before the first poll, after the first poll, after finish, awaited} x
//! {no abort, abort before the first poll, while parked, while running on a worker, after
//! finish} x {1 worker, 2 workers, pinned to a domain} that can happen (a dropped handle
//! cannot abort), each on a fresh runtime. Every case checks that the future and the output
//! were dropped exactly once, the future on a worker (a pinned one on its home worker's
//! thread), and a detached task's output where the task finished (ARCHITECTURE.md, section 5).
#![cfg(panic = "unwind")]

mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread::{self, ThreadId};
use std::time::Duration;

use support::{Counter, Watchdog, wait_until};
use trellis::{DomainId, Runtime};

const LIMIT: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Body {
    Returns,
    PanicsInPoll,
    PanicsInDrop,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Handle {
    DropBeforePoll,
    DropAfterFirstPoll,
    DropAfterFinish,
    Await,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Abort {
    None,
    BeforePoll,
    WhileParked,
    WhileRunning,
    AfterFinish,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Rt {
    OneWorker,
    TwoWorkers,
    Pinned,
}

/// Where and how often the subject and its output were dropped.
#[derive(Clone, Default)]
struct Record {
    polls: Counter,
    pending: Counter,
    future_drops: Counter,
    output_drops: Counter,
    future_drop_threads: Arc<Mutex<Vec<ThreadId>>>,
    output_drop_threads: Arc<Mutex<Vec<ThreadId>>>,
}

struct Output {
    record: Record,
    panics: bool,
}

impl Drop for Output {
    fn drop(&mut self) {
        self.record
            .output_drop_threads
            .lock()
            .unwrap()
            .push(thread::current().id());
        self.record.output_drops.incr();
        if self.panics {
            panic!("combination: output panics on drop");
        }
    }
}

/// The task's future: waits for `go`, then returns an `Output` or panics (module doc).
struct Subject {
    body: Body,
    output_panics: bool,
    record: Record,
    go: tokio::sync::oneshot::Receiver<()>,
    /// `WhileRunning`: the first poll reports it runs, then blocks until the abort is done.
    running: Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>,
}

impl Future for Subject {
    type Output = Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Output> {
        self.record.polls.incr();
        if let Some((running, aborted)) = self.running.take() {
            running.send(()).unwrap();
            aborted.recv_timeout(LIMIT).expect("abort done");
            // Aborted while running: the runtime must cancel it at the end of this poll.
            cx.waker().wake_by_ref();
            self.record.pending.incr();
            return Poll::Pending;
        }
        match Pin::new(&mut self.go).poll(cx) {
            Poll::Pending => {
                self.record.pending.incr();
                Poll::Pending
            }
            Poll::Ready(_) => {
                if self.body == Body::PanicsInPoll {
                    panic!("combination: panic in poll");
                }
                Poll::Ready(Output {
                    record: self.record.clone(),
                    panics: self.output_panics,
                })
            }
        }
    }
}

impl Drop for Subject {
    fn drop(&mut self) {
        self.record
            .future_drop_threads
            .lock()
            .unwrap()
            .push(thread::current().id());
        self.record.future_drops.incr();
        if self.body == Body::PanicsInDrop {
            panic!("combination: panic in drop");
        }
    }
}

/// Can the handle still abort, given when it is dropped?
fn possible(handle: Handle, abort: Abort) -> bool {
    match handle {
        Handle::DropBeforePoll => matches!(abort, Abort::None | Abort::BeforePoll),
        Handle::DropAfterFirstPoll => {
            matches!(
                abort,
                Abort::None | Abort::WhileParked | Abort::WhileRunning
            )
        }
        Handle::DropAfterFinish | Handle::Await => true,
    }
}

/// Drops `value`, containing a panic from its destructor (a panicking output).
fn drop_contained<T>(value: T) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(value)));
}

fn run_case(body: Body, output_panics: bool, handle: Handle, abort: Abort, rt_kind: Rt) {
    let case = format!(
        "body={body:?} output_panics={output_panics} handle={handle:?} abort={abort:?} \
         rt={rt_kind:?}"
    );
    let workers = if rt_kind == Rt::OneWorker { 1 } else { 2 };
    let rt = Runtime::builder()
        .workers(workers)
        .thread_name("trl-combo")
        .build()
        .expect("build");
    // The worker threads: domain i's worker runs a task pinned to domain i.
    let worker_threads: Vec<ThreadId> = (0..workers)
        .map(|i| {
            rt.block_on(rt.spawn_on(DomainId::new(i), || async { thread::current().id() }))
                .unwrap()
        })
        .collect();
    let record = Record::default();
    let (go_tx, go) = tokio::sync::oneshot::channel::<()>();
    let (running_tx, running_rx) = mpsc::channel::<()>();
    let (aborted_tx, aborted_rx) = mpsc::channel::<()>();
    let subject = Subject {
        body,
        output_panics,
        record: record.clone(),
        go,
        running: (abort == Abort::WhileRunning).then_some((running_tx, aborted_rx)),
    };

    let mut blockers = (abort == Abort::BeforePoll || handle == Handle::DropBeforePoll)
        .then(|| support::occupy_workers(&rt));
    let h = if rt_kind == Rt::Pinned {
        rt.spawn_on(DomainId::new(0), move || subject)
    } else {
        rt.spawn(subject)
    };
    let mut h = Some(h);
    if abort == Abort::BeforePoll {
        h.as_ref().unwrap().abort();
    }
    if handle == Handle::DropBeforePoll {
        drop(h.take());
    }
    if let Some(b) = &mut blockers {
        b.release();
    }
    match abort {
        Abort::WhileRunning => {
            running_rx.recv_timeout(LIMIT).expect("subject running");
            h.as_ref().unwrap().abort();
            if handle == Handle::DropAfterFirstPoll {
                drop(h.take());
            }
            aborted_tx.send(()).unwrap();
        }
        Abort::WhileParked => {
            assert!(
                wait_until(LIMIT, || record.pending.get() >= 1),
                "{case}: never parked"
            );
            h.as_ref().unwrap().abort();
            if handle == Handle::DropAfterFirstPoll {
                drop(h.take());
            }
        }
        _ => {
            if handle == Handle::DropAfterFirstPoll {
                assert!(
                    wait_until(LIMIT, || record.pending.get() >= 1),
                    "{case}: never parked"
                );
                drop(h.take());
            }
        }
    }
    let _ = go_tx.send(());
    let finishes = matches!(abort, Abort::None | Abort::AfterFinish);
    let produces = finishes && body != Body::PanicsInPoll;
    let output_drops = usize::from(produces);
    if abort == Abort::AfterFinish {
        let hr = h.as_ref().unwrap();
        assert!(
            wait_until(LIMIT, || hr.is_finished()),
            "{case}: never finished"
        );
        hr.abort();
    }
    match handle {
        Handle::DropBeforePoll | Handle::DropAfterFirstPoll => {
            assert!(h.is_none());
            // Without a handle, completion shows as the drops.
            assert!(
                wait_until(LIMIT, || record.future_drops.get() == 1
                    && record.output_drops.get() == output_drops),
                "{case}: detached task never finished (future drops {}, output drops {})",
                record.future_drops.get(),
                record.output_drops.get()
            );
        }
        Handle::DropAfterFinish => {
            let hr = h.take().unwrap();
            assert!(
                wait_until(LIMIT, || hr.is_finished()),
                "{case}: is_finished never became true"
            );
            drop_contained(hr);
        }
        Handle::Await => {
            let res = rt.block_on(h.take().unwrap());
            match (finishes, body, res) {
                (true, Body::Returns, Ok(out)) => drop_contained(out),
                (true, Body::PanicsInPoll, Err(e)) => assert!(e.is_panic(), "{case}: {e:?}"),
                // A future whose destructor panics after it returned: the output, or the
                // panic (the output then dropped by the runtime); either way dropped once.
                (true, Body::PanicsInDrop, Ok(out)) => drop_contained(out),
                (true, Body::PanicsInDrop, Err(e)) => assert!(e.is_panic(), "{case}: {e:?}"),
                (false, _, Err(e)) => assert!(
                    e.is_cancelled() || (body == Body::PanicsInDrop && e.is_panic()),
                    "{case}: {e:?}"
                ),
                (_, _, Err(e)) => panic!("{case}: unexpected error {e:?}"),
                (_, _, Ok(out)) => {
                    drop_contained(out);
                    panic!("{case}: unexpected output");
                }
            }
        }
    }
    if let Some(b) = blockers {
        b.join(&rt);
    }
    drop(rt);

    assert_eq!(record.future_drops.get(), 1, "{case}: future drops");
    assert_eq!(
        record.output_drops.get(),
        output_drops,
        "{case}: output drops"
    );
    if abort == Abort::BeforePoll || handle == Handle::DropBeforePoll && abort == Abort::None {
        // Dropped before its first poll: `DropBeforePoll` with no abort still runs it.
        assert_eq!(
            record.polls.get() == 0,
            abort == Abort::BeforePoll,
            "{case}: polls {}",
            record.polls.get()
        );
    }
    let future_thread = record.future_drop_threads.lock().unwrap()[0];
    if rt_kind == Rt::Pinned {
        assert_eq!(
            future_thread, worker_threads[0],
            "{case}: pinned future dropped away from home"
        );
    } else {
        assert!(
            worker_threads.contains(&future_thread),
            "{case}: future dropped off the workers"
        );
    }
    if output_drops == 1 {
        let output_thread = record.output_drop_threads.lock().unwrap()[0];
        // A future that panics in drop loses its output where it finished (the join result
        // is the panic); a detached task's output is dropped where it finished too.
        let on_worker = body == Body::PanicsInDrop
            || matches!(handle, Handle::DropBeforePoll | Handle::DropAfterFirstPoll);
        if !on_worker {
            // Dropped by the test, through the handle or after taking it.
            assert_eq!(
                output_thread,
                thread::current().id(),
                "{case}: output thread"
            );
        } else if rt_kind == Rt::Pinned {
            assert_eq!(output_thread, worker_threads[0], "{case}: output off home");
        } else {
            assert!(
                worker_threads.contains(&output_thread),
                "{case}: output dropped off the workers"
            );
        }
    }
}

/// Runs every possible case on `rt`; returns how many.
fn matrix(rt: Rt) -> usize {
    let mut cases = 0;
    for body in [Body::Returns, Body::PanicsInPoll, Body::PanicsInDrop] {
        for output_panics in [false, true] {
            for handle in [
                Handle::DropBeforePoll,
                Handle::DropAfterFirstPoll,
                Handle::DropAfterFinish,
                Handle::Await,
            ] {
                for abort in [
                    Abort::None,
                    Abort::BeforePoll,
                    Abort::WhileParked,
                    Abort::WhileRunning,
                    Abort::AfterFinish,
                ] {
                    // A future that panics in drop while its output (which panics in drop
                    // too) unwinds is a double panic: Rust aborts the process.
                    let double_panic = body == Body::PanicsInDrop
                        && output_panics
                        && matches!(abort, Abort::None | Abort::AfterFinish);
                    if possible(handle, abort) && !double_panic {
                        run_case(body, output_panics, handle, abort, rt);
                        cases += 1;
                    }
                }
            }
        }
    }
    cases
}

/// Cases per runtime kind: 15 (handle, abort) pairs x 3 bodies x 2 outputs, less the 6 double
/// panics.
const CASES: usize = 84;

#[test]
fn task_combinations_one_worker() {
    let _wd = Watchdog::new("task_combinations_one_worker");
    assert_eq!(matrix(Rt::OneWorker), CASES);
}

#[test]
fn task_combinations_two_workers() {
    let _wd = Watchdog::new("task_combinations_two_workers");
    assert_eq!(matrix(Rt::TwoWorkers), CASES);
}

#[test]
fn task_combinations_pinned() {
    let _wd = Watchdog::new("task_combinations_pinned");
    assert_eq!(matrix(Rt::Pinned), CASES);
}
