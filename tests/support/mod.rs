//! Shared helpers for the integration tests: a watchdog that turns a hang into a failure, drop
//! counters for futures and outputs, bounded spin/wait helpers and a few Linux `/proc` readers.
//!
//! Each test binary uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

pub(crate) mod alloc;
pub(crate) mod handoff;

use std::any::Any;
use std::cell::RefCell;
use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, mpsc};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// How long one test may take before the watchdog aborts the process (longer under miri,
/// which runs code some thousands of times slower).
pub(crate) const WATCHDOG: Duration = Duration::from_secs(if cfg!(miri) { 900 } else { 60 });

/// An iteration count for a test: `n` normally, `n / 100` (at least 1) under miri.
pub(crate) const fn scale(n: usize) -> usize {
    if cfg!(miri) {
        if n / 100 == 0 { 1 } else { n / 100 }
    } else {
        n
    }
}

/// Aborts the whole test process (with a message naming the test) unless dropped within the
/// timeout. Dropping it (also while unwinding from a failed assertion) disarms it.
///
/// The message names the test itself: libtest runs each test on a thread named after it
/// (`module::test_name`), and the watchdog reads that name when it is armed. A `label` adds
/// context (the phase, or the test's name where the watchdog is armed off the test's thread).
#[derive(Debug)]
pub(crate) struct Watchdog {
    _disarm: mpsc::Sender<()>,
}

impl Watchdog {
    /// Arms a watchdog of [`WATCHDOG`] for the current test.
    pub(crate) fn start() -> Self {
        Self::arm(None, WATCHDOG)
    }

    /// Arms a watchdog of [`WATCHDOG`] for the current test, with a label for its message.
    pub(crate) fn new(label: &'static str) -> Self {
        Self::arm(Some(label), WATCHDOG)
    }

    /// As [`Watchdog::new`], with a timeout of its own: for a test that is known to hang on a
    /// defect, so that the hang aborts quickly.
    pub(crate) fn with_timeout(label: &'static str, timeout: Duration) -> Self {
        Self::arm(Some(label), timeout)
    }

    fn arm(label: Option<&'static str>, timeout: Duration) -> Self {
        let test = current_test_name(label);
        let (tx, rx) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || {
                if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(timeout) {
                    // Straight to the process's stderr: `eprintln!` on a thread spawned by a
                    // test goes to libtest's capture, which an abort never prints.
                    let _ = writeln!(
                        std::io::stderr(),
                        "WATCHDOG: test {test} did not finish within {timeout:?} (hang?); \
                         aborting the test process"
                    );
                    std::process::abort();
                }
            })
            .expect("spawn watchdog thread");
        Watchdog { _disarm: tx }
    }
}

/// The running test as libtest names its thread, in backticks, with `label` beside it when it
/// says something the name does not. Off a test thread, the label alone.
fn current_test_name(label: Option<&'static str>) -> String {
    let thread = std::thread::current();
    match (thread.name().filter(|n| *n != "main"), label) {
        (Some(name), Some(label)) if name == label || name.ends_with(&format!("::{label}")) => {
            format!("`{name}`")
        }
        (Some(name), Some(label)) => format!("`{name}` ({label})"),
        (Some(name), None) => format!("`{name}`"),
        (None, Some(label)) => format!("`{label}`"),
        (None, None) => "<unnamed test>".to_owned(),
    }
}

/// A shared counter.
#[derive(Clone, Debug, Default)]
pub(crate) struct Counter(Arc<AtomicUsize>);

impl Counter {
    pub(crate) fn new() -> Self {
        Self::default()
    }
    pub(crate) fn get(&self) -> usize {
        self.0.load(SeqCst)
    }
    pub(crate) fn incr(&self) -> usize {
        self.0.fetch_add(1, SeqCst) + 1
    }
    pub(crate) fn decr(&self) -> usize {
        self.0.fetch_sub(1, SeqCst) - 1
    }
}

/// Increments its counter when dropped.
#[derive(Debug)]
pub(crate) struct DropToken(pub(crate) Counter);

impl Drop for DropToken {
    fn drop(&mut self) {
        self.0.incr();
    }
}

/// A task output that counts its drops.
#[derive(Debug)]
pub(crate) struct Out {
    pub(crate) value: usize,
    drops: Counter,
}

impl Out {
    pub(crate) fn new(value: usize, drops: &Counter) -> Self {
        Out {
            value,
            drops: drops.clone(),
        }
    }
}

impl Drop for Out {
    fn drop(&mut self) {
        self.drops.incr();
    }
}

/// Counts futures created (`spawned`), first polls (`polled`, counted as the poll starts),
/// polls that returned `Pending` (`pending`, counted once the inner poll has returned) and
/// future drops (`dropped`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Tracker {
    pub(crate) spawned: Counter,
    pub(crate) polled: Counter,
    pub(crate) pending: Counter,
    pub(crate) dropped: Counter,
}

impl Tracker {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Wraps `fut` so that its creation, first poll and drop are counted.
    pub(crate) fn track<F: Future>(&self, fut: F) -> Tracked<F> {
        self.spawned.incr();
        Tracked {
            fut: Box::pin(fut),
            first_poll: true,
            tracker: self.clone(),
        }
    }
}

/// A future wrapper counting its first poll and its drop. `Unpin`.
pub(crate) struct Tracked<F> {
    fut: Pin<Box<F>>,
    first_poll: bool,
    tracker: Tracker,
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        if self.first_poll {
            self.first_poll = false;
            self.tracker.polled.incr();
        }
        let res = self.fut.as_mut().poll(cx);
        if res.is_pending() {
            self.tracker.pending.incr();
        }
        res
    }
}

impl<F> Drop for Tracked<F> {
    fn drop(&mut self) {
        self.tracker.dropped.incr();
    }
}

/// Busy-spins (on the current thread, without yielding to the executor) until `cond` holds or
/// `limit` passes. Returns whether `cond` held.
pub(crate) fn spin_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > limit {
            return cond();
        }
        for _ in 0..64 {
            std::hint::spin_loop();
        }
    }
}

/// Polls `cond` every millisecond (sleeping the thread in between) until it holds or `limit`
/// passes. Returns whether `cond` held. Only for waiting on an outcome, never for ordering.
pub(crate) fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > limit {
            return cond();
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Every worker of a runtime held inside a poll (see [`occupy_workers`]) until [`release`]
/// (or drop), so that a task spawned meanwhile is certainly not polled yet: the way to test
/// "before the first poll" without racing an idle worker.
///
/// [`release`]: Occupied::release
pub(crate) struct Occupied {
    releases: Vec<mpsc::Sender<()>>,
    blockers: Vec<trellis::JoinHandle<()>>,
}

/// Blocks every worker of `rt` inside a poll: one task pinned to each domain (so each sits on
/// its own worker), returning once all of them run.
pub(crate) fn occupy_workers(rt: &trellis::Runtime) -> Occupied {
    const LIMIT: Duration = Duration::from_secs(30);
    let (started_tx, started_rx) = mpsc::channel();
    let mut occupied = Occupied {
        releases: Vec::new(),
        blockers: Vec::new(),
    };
    for i in 0..rt.workers() {
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let started_tx = started_tx.clone();
        occupied
            .blockers
            .push(rt.spawn_on(trellis::DomainId::new(i), move || async move {
                started_tx.send(()).unwrap();
                // Released by `release`, or by the sender's drop.
                let _ = release_rx.recv_timeout(LIMIT);
            }));
        occupied.releases.push(release_tx);
    }
    for _ in 0..rt.workers() {
        started_rx
            .recv_timeout(LIMIT)
            .expect("all workers occupied");
    }
    occupied
}

impl Occupied {
    /// Lets every worker go.
    pub(crate) fn release(&mut self) {
        self.releases.clear();
    }

    /// Lets every worker go and waits for the blockers to finish.
    pub(crate) fn join(mut self, rt: &trellis::Runtime) {
        self.release();
        for blocker in self.blockers {
            rt.block_on(blocker).expect("blocker finishes");
        }
    }
}

/// The message of a panic payload (`&str` or `String`), or a placeholder.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_string()
    }
}

thread_local! {
    static EXIT_TOKEN: RefCell<Option<DropToken>> = const { RefCell::new(None) };
}

/// Registers (once per thread) a thread-local whose destructor increments `exits` when the
/// current thread exits. Returns `true` the first time on this thread.
pub(crate) fn count_exit_of_current_thread(exits: &Counter) -> bool {
    EXIT_TOKEN.with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot.is_none() {
            *slot = Some(DropToken(exits.clone()));
            true
        } else {
            false
        }
    })
}

/// The number of live threads of this process whose name starts with `prefix` (Linux: reads
/// `/proc/self/task/*/comm`; names are truncated to 15 bytes there). `None` elsewhere.
pub(crate) fn live_threads_named(prefix: &str) -> Option<usize> {
    let dir = std::fs::read_dir("/proc/self/task").ok()?;
    let mut n = 0;
    for entry in dir.flatten() {
        if let Ok(comm) = std::fs::read_to_string(entry.path().join("comm")) {
            if comm.trim_end().starts_with(prefix) {
                n += 1;
            }
        }
    }
    Some(n)
}

/// Whether no live thread's name starts with `prefix`, allowing a short grace period: right
/// after `JoinHandle::join` returns, the kernel may still list the exited thread in
/// `/proc/self/task` for a moment (seen about once in 3 000 joins with plain `std::thread`).
/// A thread that was detached instead of joined, and is still running, stays visible.
/// Always `true` where `/proc` is unavailable.
pub(crate) fn no_live_threads_named(prefix: &str) -> bool {
    wait_until(Duration::from_secs(5), || {
        live_threads_named(prefix).is_none_or(|n| n == 0)
    })
}

/// User + system CPU time of the whole process so far (Linux, from `/proc/self/stat`, assuming
/// the usual 100 clock ticks per second). `None` elsewhere.
pub(crate) fn process_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// The current thread's name, owned.
pub(crate) fn thread_name() -> Option<String> {
    std::thread::current().name().map(str::to_owned)
}

/// The one runtime constructor of the tests: a builder with `workers` workers, for a test that
/// sets more (an instrument, the blocking pool's size); [`rt`], [`rt_named`] and [`paused_rt`]
/// cover the usual cases.
pub(crate) fn builder(workers: usize) -> trellis::Builder {
    trellis::Runtime::builder().workers(workers)
}

/// Builds `builder`, failing the test with the build error.
#[track_caller]
pub(crate) fn build(builder: trellis::Builder) -> trellis::Runtime {
    builder.build().expect("build the test's runtime")
}

/// A runtime with `workers` workers.
#[track_caller]
pub(crate) fn rt(workers: usize) -> trellis::Runtime {
    build(builder(workers))
}

/// A runtime with `workers` workers whose threads are named after `name` (for the tests that
/// count or look up their own threads).
#[track_caller]
pub(crate) fn rt_named(workers: usize, name: &'static str) -> trellis::Runtime {
    build(builder(workers).thread_name(name))
}

/// A runtime with `workers` workers and a paused clock: time jumps to the next timer whenever
/// every task is blocked (Trio's `autojump_clock`), so elapsed times are exact.
#[track_caller]
pub(crate) fn paused_rt(workers: usize) -> trellis::Runtime {
    build(builder(workers).start_paused(true))
}

/// [`paused_rt`] under the name tests written before it use.
#[allow(unused_imports)]
pub(crate) use self::paused_rt as paused_runtime;

/// Asserts the exact (virtual) time elapsed since `since`.
#[track_caller]
pub(crate) fn assert_elapsed(since: trellis::time::Instant, expected: Duration) {
    assert_eq!(trellis::time::Instant::now() - since, expected);
}

/// Runs `body` as a task of a fresh one-worker [`paused_rt`] (tasks take turns as in
/// Trio), under a [`Watchdog`]; a panic in `body` fails the test with its own message.
pub(crate) fn run_paused<F>(test: &'static str, body: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    run_paused_within(test, WATCHDOG, body);
}

/// [`run_paused`] under a watchdog of `timeout` instead of [`WATCHDOG`]: for a test that is
/// known to hang on a defect, so that the hang aborts quickly.
pub(crate) fn run_paused_within<F>(test: &'static str, timeout: Duration, body: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let _w = Watchdog::with_timeout(test, timeout);
    let rt = paused_rt(1);
    let task = rt.spawn(body);
    if let Err(err) = rt.block_on(task) {
        if err.is_panic() {
            std::panic::resume_unwind(err.into_panic());
        }
        panic!("the test's task did not finish: {err:?}");
    }
}

/// How long [`settle`] sleeps.
pub(crate) const SETTLE: Duration = Duration::from_millis(1);

/// Returns once every other task waits (the paused clock moves only then): Trio's
/// `wait_all_tasks_blocked`, at the cost of [`SETTLE`] of virtual time.
pub(crate) async fn settle() {
    trellis::time::sleep(SETTLE).await;
}

/// Waits for a task's result on a helper thread, at most `limit`: `None` if the task did not
/// finish in time (a hang then fails the calling test with its own message instead of
/// blocking it forever; the helper thread is left behind).
pub(crate) fn join_within<T: Send + 'static>(
    handle: trellis::JoinHandle<T>,
    limit: Duration,
) -> Option<Result<T, trellis::JoinError>> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("join-within".into())
        .spawn(move || {
            let _ = tx.send(futures_lite::future::block_on(handle));
        })
        .expect("spawn join-within thread");
    rx.recv_timeout(limit).ok()
}
