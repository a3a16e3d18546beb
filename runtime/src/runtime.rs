//! `Runtime`: owns the workers; `block_on`, `spawn`, shutdown.

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread::{self, JoinHandle as ThreadHandle};
use std::time::{Duration, Instant};

use crate::builder::Builder;
use crate::handle::Handle;
use crate::scheduler::Shared;
use crate::scheduler::context::{BlockOnGuard, RuntimeGuard};
use crate::scheduler::park::ThreadParker;
use crate::spawn::TaskBuilder;
use crate::task::JoinHandle;
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
        block_on(&self.shared, "Runtime::block_on", future)
    }

    /// A [`Handle`] to this runtime: cloneable, `Send`, usable from any thread to spawn tasks
    /// and block on futures, without owning the runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = trellis::Runtime::builder().workers(1).build().unwrap();
    /// let handle = rt.handle();
    /// let v = std::thread::spawn(move || handle.block_on(async { 40 + 2 })).join().unwrap();
    /// assert_eq!(v, 42);
    /// ```
    pub fn handle(&self) -> Handle {
        Handle::from_shared(self.shared.clone())
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
        self.handle().spawn(future)
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
        TaskBuilder::new()
            .called("Runtime::spawn_on")
            .spawn_on_in(&self.shared, domain, make)
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
        self.handle().spawn_blocking(func)
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

thread_local! {
    /// This thread's parker for `block_on` without a paused clock, made once per thread so that
    /// a `block_on` allocates nothing. (The blocking channel operations have their own: a
    /// token meant for one must not be consumed by the other.)
    static BLOCK_ON_PARKER: Arc<ThreadParker> = ThreadParker::new(None);
}

/// `block_on` of the runtime `shared` for the user's `call` (named in the panics): see
/// [`Runtime::block_on`].
pub(crate) fn block_on<F: Future>(shared: &Arc<Shared>, call: &str, future: F) -> F::Output {
    let _guard = BlockOnGuard::enter(shared, call);
    let mut future = pin!(future);
    let (parker, _counted) = if shared.clock.is_paused() {
        // A paused clock counts this thread as a participant while it is awake.
        let counted = ClockParticipant::enter(shared);
        (ThreadParker::new(Some(shared)), Some(counted))
    } else {
        (BLOCK_ON_PARKER.with(Arc::clone), None)
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
