//! `Runtime`: owns the workers; `block_on`, `spawn`, shutdown.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, JoinHandle as ThreadHandle, Thread};
use std::time::{Duration, Instant};

use crate::blocking::BlockingTask;
use crate::builder::Builder;
use crate::scheduler::Shared;
use crate::scheduler::context::{self, BlockOnGuard, RuntimeGuard};
use crate::task::{JoinHandle, Route};
use crate::time::clock;

/// A Trellis runtime: a set of worker threads (one domain each) running tasks with work
/// stealing, a timer queue, and a pool for blocking calls.
///
/// `Runtime` is `Send + Sync`: share it across threads by reference or in an `Arc`. Several
/// runtimes may live in one process. Dropping it shuts it down: every task is cancelled and
/// dropped exactly once, and every thread is joined (see [`shutdown_timeout`](Self::shutdown_timeout)
/// for a bounded wait).
///
/// # Examples
///
/// ```
/// let rt = trellis::Runtime::builder().workers(2).build().unwrap();
/// let answer = rt.block_on(async {
///     let a = trellis::spawn(async { 20 });
///     let b = trellis::spawn(async { 22 });
///     a.await.unwrap() + b.await.unwrap()
/// });
/// assert_eq!(answer, 42);
/// ```
pub struct Runtime {
    shared: Arc<Shared>,
    threads: Mutex<Vec<ThreadHandle<()>>>,
}

impl Runtime {
    pub(crate) fn from_parts(shared: Arc<Shared>, threads: Vec<ThreadHandle<()>>) -> Runtime {
        Runtime {
            shared,
            threads: Mutex::new(threads),
        }
    }

    /// A runtime with the defaults: `TRELLIS_WORKERS` workers if set, else one per CPU.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `TRELLIS_WORKERS` is not a positive integer (the message says how to
    /// fix it); the OS error if a thread cannot be started.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = trellis::Runtime::new()?;
    /// assert!(rt.workers() >= 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> std::io::Result<Runtime> {
        Ok(Builder::new().build()?)
    }

    /// A [`Builder`] to configure a runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = trellis::Runtime::builder().workers(4).build().unwrap();
    /// assert_eq!(rt.workers(), 4);
    /// ```
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// The number of worker threads (domains).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = trellis::Runtime::builder().workers(2).build().unwrap();
    /// assert_eq!(rt.workers(), 2);
    /// ```
    pub fn workers(&self) -> usize {
        self.shared.workers()
    }

    /// Runs `future` to completion on the calling thread, which is not a worker: the future may
    /// be `!Send`, and tasks it spawns run on the workers. Inside it, [`spawn`](crate::spawn),
    /// [`time::sleep`](crate::time::sleep) and the rest find this runtime.
    ///
    /// # Panics
    ///
    /// Panics if called from a worker thread (blocking a worker would stall its tasks: `.await`
    /// instead) or from inside another `block_on`. A panic of `future` propagates.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = trellis::Runtime::builder().workers(1).build().unwrap();
    /// let v = rt.block_on(async { trellis::spawn(async { 7 }).await.unwrap() });
    /// assert_eq!(v, 7);
    /// ```
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let _guard = BlockOnGuard::enter(&self.shared, "Runtime::block_on");
        let mut future = pin!(future);
        let (parker, _counted) = if self.shared.clock.is_paused() {
            // A paused clock counts this thread as a participant while it is awake.
            let counted = ClockParticipant::enter(&self.shared);
            (ThreadParker::counted(&self.shared), Some(counted))
        } else {
            (ThreadParker::current(), None)
        };
        let waker = Waker::from(parker.clone());
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
            parker.park();
        }
    }

    /// Spawns a task on this runtime from anywhere (any thread, inside or outside it). Like
    /// [`trellis::spawn`](crate::spawn).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = trellis::Runtime::builder().workers(2).build().unwrap();
    /// let handle = rt.spawn(async { "done" });
    /// assert_eq!(rt.block_on(handle).unwrap(), "done");
    /// ```
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.shared.spawn(future, Route::STEALABLE, None)
    }

    /// Spawns a task pinned to `domain` from anywhere; like [`trellis::spawn_on`](crate::spawn_on).
    ///
    /// # Panics
    ///
    /// Panics if `domain` does not exist in this runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use trellis::DomainId;
    ///
    /// let rt = trellis::Runtime::builder().workers(2).build().unwrap();
    /// let handle = rt.spawn_on(DomainId::new(1), || async { trellis::domain::current() });
    /// assert_eq!(rt.block_on(handle).unwrap(), Some(DomainId::new(1)));
    /// ```
    pub fn spawn_on<M, F>(&self, domain: crate::DomainId, make: M) -> JoinHandle<F::Output>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future + 'static,
        F::Output: Send + 'static,
    {
        crate::domain::spawn_on_inner(&self.shared, domain, make, None, "Runtime::spawn_on")
    }

    /// Runs a blocking closure on this runtime's blocking pool. Like
    /// [`trellis::spawn_blocking`](crate::spawn_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = trellis::Runtime::builder().workers(1).build().unwrap();
    /// let handle = rt.spawn_blocking(|| std::fs::metadata(".").is_ok());
    /// assert!(rt.block_on(handle).unwrap());
    /// ```
    pub fn spawn_blocking<F, T>(&self, func: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.shared
            .spawn(BlockingTask::new(func), Route::BLOCKING, None)
    }

    /// Shuts the runtime down, waiting at most `timeout` for worker and blocking threads that
    /// are stuck in a long poll or a blocking call; those are detached.
    ///
    /// When it returns:
    ///
    /// - every stealable task (`spawn`) that is not being polled has been cancelled and
    ///   dropped: idle ones, and queued ones wherever they wait (the injector, any worker's
    ///   queue, including the queue of a worker stuck in a poll), and every blocking job that
    ///   had not started;
    /// - every pinned task (`spawn_on`, `spawn_local`) of a domain whose worker has exited has
    ///   been dropped, on its home domain.
    ///
    /// A task being polled (or a blocking job running) at the deadline is dropped by its
    /// thread when its poll returns. So are the pinned tasks of a domain whose worker is stuck
    /// in a poll at the deadline: a pinned future may be `!Send`, so no thread but its home
    /// worker may drop it, and that worker drops them, at home, as soon as its poll returns
    /// (after this call returned). If that poll never returns, they are never dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rt = trellis::Runtime::builder().workers(1).build().unwrap();
    /// let _detached = rt.spawn_blocking(|| std::thread::sleep(Duration::from_millis(200)));
    /// rt.shutdown_timeout(Duration::from_millis(10)); // returns without waiting 200 ms
    /// ```
    pub fn shutdown_timeout(mut self, timeout: Duration) {
        self.shutdown(Instant::now().checked_add(timeout));
    }

    fn shutdown(&mut self, deadline: Option<Instant>) {
        self.shared.begin_shutdown();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        let me = thread::current().id();
        for handle in threads {
            if handle.thread().id() == me {
                continue; // dropped from one of its own tasks: this worker exits after the poll
            }
            match deadline {
                None => {
                    let _ = handle.join();
                }
                Some(deadline) => {
                    while !handle.is_finished() && Instant::now() < deadline {
                        thread::sleep(Duration::from_millis(1));
                    }
                    if handle.is_finished() {
                        let _ = handle.join();
                    }
                }
            }
        }
        // Futures dropped here may spawn or sleep from their `Drop`: they find this runtime
        // (and get a cancelled handle) instead of panicking.
        let _runtime = RuntimeGuard::enter(self.shared.clone());
        self.shared.finish_shutdown(deadline);
        self.shared.instruments.runtime_stopped();
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if !self.shared.is_shutdown() || !self.threads.get_mut().map_or(true, |t| t.is_empty()) {
            self.shutdown(None);
        }
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("workers", &self.workers())
            .finish_non_exhaustive()
    }
}

use crate::tuning::BLOCK_ON_SPINS;

/// `ThreadParker` states.
const EMPTY: usize = 0;
/// The `block_on` thread sleeps (or is about to) in `thread::park`.
const PARKED: usize = 1;
/// A wake arrived; the next `park` consumes it.
const NOTIFIED: usize = 2;

/// Wakes the thread blocked in `block_on`. The same token protocol as the worker parker
/// (`scheduler/park.rs`): a wake swaps in `NOTIFIED` and unparks the thread only if it was
/// `PARKED`; with a paused clock, that wake counts the thread busy again before unparking it.
struct ThreadParker {
    thread: Thread,
    state: AtomicUsize,
    /// The paused-clock runtime this thread counts in (`None`: no accounting).
    counted_in: Option<Weak<Shared>>,
}

impl ThreadParker {
    /// This thread's parker, allocated once per thread.
    fn current() -> Arc<ThreadParker> {
        thread_local! {
            static PARKER: Arc<ThreadParker> = Arc::new(ThreadParker {
                thread: thread::current(),
                state: AtomicUsize::new(EMPTY),
                counted_in: None,
            });
        }
        PARKER.with(Arc::clone)
    }

    /// A parker for one `block_on` call on a runtime with a paused clock.
    fn counted(shared: &Arc<Shared>) -> Arc<ThreadParker> {
        Arc::new(ThreadParker {
            thread: thread::current(),
            state: AtomicUsize::new(EMPTY),
            counted_in: Some(Arc::downgrade(shared)),
        })
    }

    fn consume(&self) -> bool {
        self.state
            .compare_exchange(NOTIFIED, EMPTY, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    fn park(&self) {
        // A short, polite spin first: a task that finishes within a few microseconds (the
        // common case for a small spawn) is seen without a futex round trip on either side,
        // and `yield_now` hands the core to a worker that needs it.
        for _ in 0..BLOCK_ON_SPINS {
            if self.consume() {
                return;
            }
            for _ in 0..64 {
                std::hint::spin_loop();
            }
        }
        if self
            .state
            .compare_exchange(EMPTY, PARKED, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            // The token arrived in between.
            self.state.store(EMPTY, Ordering::SeqCst);
            return;
        }
        if let Some(shared) = self.counted_in.as_ref().and_then(Weak::upgrade) {
            shared.leave_clock();
        }
        // Acquire pairs with the waker's swap: whatever the waker published is visible.
        while !self.consume() {
            thread::park();
        }
    }
}

impl Wake for ThreadParker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if self.state.swap(NOTIFIED, Ordering::SeqCst) == PARKED {
            if let Some(shared) = self.counted_in.as_ref().and_then(Weak::upgrade) {
                clock::enter(shared.clock.busy());
            }
            self.thread.unpark();
        }
    }
}

/// Counts a `block_on` thread in a paused clock's participants until dropped.
struct ClockParticipant<'a>(&'a Shared);

impl ClockParticipant<'_> {
    fn enter(shared: &Shared) -> ClockParticipant<'_> {
        clock::enter(shared.clock.busy());
        ClockParticipant(shared)
    }
}

impl Drop for ClockParticipant<'_> {
    fn drop(&mut self) {
        self.0.leave_clock();
    }
}

/// Runs `future` on a runtime built with the defaults (`TRELLIS_WORKERS` workers, else one per
/// CPU), then shuts the runtime down. The future runs on the calling thread; tasks it spawns
/// run on the workers.
///
/// # Panics
///
/// Panics with the [`BuildError`](crate::BuildError) message if the runtime cannot be built
/// (for instance `TRELLIS_WORKERS=0`), and in the cases where [`Runtime::block_on`] panics.
///
/// # Examples
///
/// ```
/// let v = trellis::run(async {
///     let h = trellis::spawn(async { 6 * 7 });
///     h.await.unwrap()
/// });
/// assert_eq!(v, 42);
/// ```
pub fn run<F: Future>(future: F) -> F::Output {
    // Before building a runtime that could not be used anyway.
    crate::scheduler::context::assert_may_block("trellis::run");
    let rt = match Builder::new().build() {
        Ok(rt) => rt,
        Err(err) => panic!("trellis::run: {err}"),
    };
    rt.block_on(future)
}

/// Spawns a `Send` task on the current runtime. It may run on any worker (work stealing), and
/// starts after the caller's next checkpoint at the earliest, never inline.
///
/// # Panics
///
/// Panics outside a Trellis runtime (use [`Runtime::spawn`] there).
///
/// # Examples
///
/// ```
/// trellis::run(async {
///     let handles: Vec<_> = (0..4).map(|i| trellis::spawn(async move { i * i })).collect();
///     let mut sum = 0;
///     for h in handles {
///         sum += h.await.unwrap();
///     }
///     assert_eq!(sum, 14);
/// });
/// ```
///
/// A `!Send` future is rejected at compile time:
///
/// ```compile_fail
/// trellis::run(async {
///     let rc = std::rc::Rc::new(1);
///     trellis::spawn(async move { drop(rc) });
/// });
/// ```
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    context::expect_runtime("trellis::spawn", |shared| {
        shared.spawn(future, Route::STEALABLE, None)
    })
}

/// Runs a blocking closure on the runtime's blocking pool: a separate, elastic set of threads
/// (bounded by [`Builder::max_blocking_threads`]; idle ones exit), so blocking work never
/// stalls a worker.
///
/// Aborting the handle before the closure starts drops it unrun; once started it runs to the
/// end (a thread cannot be interrupted). A panic in the closure becomes a `JoinError`.
///
/// # Panics
///
/// Panics outside a Trellis runtime (use [`Runtime::spawn_blocking`] there).
///
/// # Examples
///
/// ```
/// trellis::run(async {
///     let n = trellis::spawn_blocking(|| std::fs::read_dir(".").map(|d| d.count()).unwrap_or(0))
///         .await
///         .unwrap();
///     assert!(n > 0);
/// });
/// ```
pub fn spawn_blocking<F, T>(func: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    context::expect_runtime("trellis::spawn_blocking", |shared| {
        shared.spawn(BlockingTask::new(func), Route::BLOCKING, None)
    })
}
