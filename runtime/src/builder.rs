//! `Builder` and `BuildError`: configure and start a runtime.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use crate::Runtime;
use crate::blocking::BlockingPool;
use crate::domain::home::{self, Home};
use crate::instrument::{Instrument, Instruments};
use crate::scheduler::Shared;
use crate::scheduler::worker::Core;

/// The environment variable that sets the default worker count (a positive integer).
///
/// # Examples
///
/// ```
/// assert_eq!(trellis::WORKERS_ENV, "TRELLIS_WORKERS");
/// ```
pub const WORKERS_ENV: &str = "TRELLIS_WORKERS";

/// Configures a [`Runtime`].
///
/// # Examples
///
/// ```
/// let rt = trellis::Runtime::builder()
///     .workers(2)
///     .thread_name("render")
///     .build()
///     .unwrap();
/// assert_eq!(rt.workers(), 2);
/// assert_eq!(rt.block_on(async { 1 + 1 }), 2);
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    workers: Option<usize>,
    thread_name: String,
    max_blocking_threads: usize,
    blocking_keep_alive: Duration,
    start_paused: bool,
    instruments: Instruments,
    task_tree: bool,
    chaos: Option<u64>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// A builder with the defaults: workers from `TRELLIS_WORKERS`, else one per CPU; threads
    /// named `trellis-<domain index>`; at most 512 blocking threads, idle ones exiting after 10 s.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = trellis::Builder::new().workers(1).build().unwrap();
    /// assert_eq!(rt.workers(), 1);
    /// ```
    pub fn new() -> Builder {
        Builder {
            workers: None,
            thread_name: "trellis".to_owned(),
            max_blocking_threads: crate::tuning::MAX_BLOCKING_THREADS,
            blocking_keep_alive: crate::tuning::BLOCKING_KEEP_ALIVE,
            start_paused: false,
            instruments: Instruments::default(),
            task_tree: false,
            chaos: None,
        }
    }

    /// Sets the number of worker threads (domains). Zero is rejected by [`build`](Self::build).
    /// Overrides `TRELLIS_WORKERS`.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = trellis::Runtime::builder().workers(3).build().unwrap();
    /// assert_eq!(rt.workers(), 3);
    /// assert!(trellis::Runtime::builder().workers(0).build().is_err());
    /// ```
    pub fn workers(mut self, workers: usize) -> Builder {
        self.workers = Some(workers);
        self
    }

    /// Sets the thread name prefix: workers are named `<name>-<index>`, blocking threads
    /// `<name>-blocking`.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = trellis::Runtime::builder().workers(1).thread_name("calc").build().unwrap();
    /// let name = rt.block_on(async {
    ///     trellis::spawn(async { std::thread::current().name().map(str::to_owned) }).await
    /// });
    /// assert_eq!(name.unwrap().as_deref(), Some("calc-0"));
    /// ```
    pub fn thread_name(mut self, name: impl Into<String>) -> Builder {
        self.thread_name = name.into();
        self
    }

    /// Caps the blocking pool (default 512). Zero is rejected by [`build`](Self::build).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = trellis::Runtime::builder().max_blocking_threads(2).build().unwrap();
    /// let v = rt.block_on(async { trellis::spawn_blocking(|| 7).await.unwrap() });
    /// assert_eq!(v, 7);
    /// ```
    pub fn max_blocking_threads(mut self, max: usize) -> Builder {
        self.max_blocking_threads = max;
        self
    }

    /// How long an idle blocking thread waits for work before it exits (default 10 s).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rt = trellis::Runtime::builder()
    ///     .blocking_keep_alive(Duration::from_millis(100))
    ///     .build()
    ///     .unwrap();
    /// # drop(rt);
    /// ```
    pub fn blocking_keep_alive(mut self, keep_alive: Duration) -> Builder {
        self.blocking_keep_alive = keep_alive;
        self
    }

    /// Starts the runtime with a paused virtual clock (default `false`), for tests.
    ///
    /// Inside the runtime, [`time::Instant::now`](crate::time::Instant::now) stands still, and
    /// whenever every thread of the runtime is idle (every task, the `block_on` future and
    /// every blocking job is waiting) the clock jumps straight to the earliest timer deadline
    /// and fires it: Trio's `MockClock(autojump_threshold=0)`, tokio's `start_paused`. A test
    /// that sleeps for an hour finishes at once, and elapsed times are exact and repeatable.
    ///
    /// Waits for something outside the runtime (a plain thread's channel send, I/O) do not
    /// hold the clock: if every task waits for one while a timer is pending, the clock jumps.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trellis::time::{Instant, sleep};
    ///
    /// let rt = trellis::Runtime::builder().workers(2).start_paused(true).build().unwrap();
    /// rt.block_on(async {
    ///     let start = Instant::now();
    ///     let nap = trellis::spawn(sleep(Duration::from_secs(3600)));
    ///     sleep(Duration::from_secs(1)).await;
    ///     assert_eq!(start.elapsed(), Duration::from_secs(1));
    ///     nap.await.unwrap();
    ///     assert_eq!(start.elapsed(), Duration::from_secs(3600));
    /// });
    /// ```
    pub fn start_paused(mut self, paused: bool) -> Builder {
        self.start_paused = paused;
        self
    }

    /// Installs an instrument: hooks called around every task event (spawn, schedule, each
    /// poll, exit) and at shutdown, Trio's `instruments=[...]`. May be called several times;
    /// the instruments run in the order they were added.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use trellis::{Instrument, TaskInfo};
    ///
    /// #[derive(Default)]
    /// struct Exits(AtomicUsize);
    /// impl Instrument for Exits {
    ///     fn task_exited(&self, _: &TaskInfo<'_>) {
    ///         self.0.fetch_add(1, Ordering::Relaxed);
    ///     }
    /// }
    ///
    /// let exits = Arc::new(Exits::default());
    /// let rt = trellis::Runtime::builder().workers(2).instrument(exits.clone()).build().unwrap();
    /// rt.block_on(async {
    ///     for _ in 0..3 {
    ///         trellis::spawn(async {}).await.unwrap();
    ///     }
    /// });
    /// drop(rt);
    /// assert_eq!(exits.0.load(Ordering::Relaxed), 3);
    /// ```
    pub fn instrument(mut self, instrument: Arc<dyn Instrument>) -> Builder {
        self.instruments.push(instrument);
        self
    }

    /// Records the live task tree (default `false`), for [`tree::dump`](crate::tree::dump) and
    /// [`Handle::task_tree`](crate::Handle::task_tree): nurseries, cancel scopes and nursery
    /// children with their names, states and domains.
    ///
    /// The scope tree exists anyway (cancellation walks it); recording adds, per nursery child,
    /// one uncontended lock at its first poll and one when it ends (the link to its task), per
    /// task-level scope (the first scope of a task or of `block_on`) one entry in a
    /// runtime-wide list, and keeps the names given with
    /// [`TaskBuilder::name`](crate::TaskBuilder::name) /
    /// [`Nursery::start_soon_named`](crate::Nursery::start_soon_named) in a side table (as an
    /// instrument does). Without it a dump returns [`tree::TreeOff`](crate::tree::TreeOff).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = trellis::Runtime::builder().workers(1).task_tree(true).build().unwrap();
    /// let tree = rt.handle().task_tree().unwrap();
    /// assert!(tree.roots.is_empty()); // nothing runs yet
    /// ```
    pub fn task_tree(mut self, record: bool) -> Builder {
        self.task_tree = record;
        self
    }

    /// Turns on chaos mode, for tests: the workers make the scheduler's free choices from a
    /// generator seeded with `seed` instead of the usual rules. A search steals from a random
    /// worker first; a task woken or spawned on a worker sometimes waits at the back of the
    /// local queue or in the global queue instead of running next; and a poll sometimes gets a
    /// tiny cooperative budget, so the task yields at a random runtime operation (where
    /// cancellations land too).
    ///
    /// Every such schedule can happen without chaos mode (a budget runs out, a wake comes from
    /// another thread); chaos mode makes them common, so randomised tests find code that relies
    /// on the usual order. Pinned tasks still run only on their domain. With one worker and no
    /// work from outside the runtime (no I/O, no other threads) the same seed replays the same
    /// poll order. It slows the runtime: not for production. Off by default.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = trellis::Runtime::builder().workers(2).chaos(42).build().unwrap();
    /// let sum = rt.block_on(async {
    ///     let parts: Vec<_> = (0..8u64).map(|i| trellis::spawn(async move { i })).collect();
    ///     let mut sum = 0;
    ///     for part in parts {
    ///         sum += part.await.unwrap();
    ///     }
    ///     sum
    /// });
    /// assert_eq!(sum, 28);
    /// ```
    pub fn chaos(mut self, seed: u64) -> Builder {
        self.chaos = Some(seed);
        self
    }

    /// Starts the worker threads.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] if the worker count is zero (given, or from `TRELLIS_WORKERS`), if
    /// `TRELLIS_WORKERS` is not a positive integer, if `max_blocking_threads` is zero, or if the
    /// OS refuses a thread or the poller.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = trellis::Runtime::builder().workers(0).build().unwrap_err();
    /// assert!(err.to_string().contains("at least 1"));
    /// ```
    pub fn build(self) -> Result<Runtime, BuildError> {
        let workers = match self.workers {
            Some(0) => return Err(BuildError::ZeroWorkers),
            Some(n) => n,
            None => workers_from_env()?,
        };
        if self.max_blocking_threads == 0 {
            return Err(BuildError::ZeroBlockingThreads);
        }
        let blocking = BlockingPool::new(
            self.max_blocking_threads,
            self.blocking_keep_alive,
            format!("{}-blocking", self.thread_name),
        );
        let locals: Vec<_> = (0..workers)
            .map(|_| crossbeam_deque::Worker::new_fifo())
            .collect();
        let (inboxes, mailboxes): (Vec<_>, Vec<_>) = (0..workers).map(|_| home::new()).unzip();
        let shared = Arc::new(
            Shared::new(
                &locals,
                mailboxes,
                blocking,
                self.start_paused,
                self.instruments,
                self.task_tree,
                self.chaos,
            )
            .map_err(BuildError::Io)?,
        );
        let mut threads = Vec::with_capacity(workers);
        for (index, (local, inbox)) in locals.into_iter().zip(inboxes).enumerate() {
            let worker_shared = shared.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("{}-{index}", self.thread_name))
                .spawn(move || Core::new(worker_shared, index, local, Home::new(inbox)).run());
            match spawned {
                Ok(handle) => threads.push(handle),
                Err(err) => {
                    // Stop the workers already started before reporting.
                    drop(Runtime::from_parts(shared, threads));
                    return Err(BuildError::Io(err));
                }
            }
        }
        Ok(Runtime::from_parts(shared, threads))
    }
}

/// The default worker count: `TRELLIS_WORKERS` if set, else the number of CPUs.
pub(crate) fn workers_from_env() -> Result<usize, BuildError> {
    match std::env::var(WORKERS_ENV) {
        Err(std::env::VarError::NotPresent) => Ok(num_cpus::get().max(1)),
        Err(std::env::VarError::NotUnicode(v)) => Err(BuildError::BadEnv(format!("{v:?}"))),
        // Set but empty (`TRELLIS_WORKERS= cargo run`): the same as unset.
        Ok(v) if v.trim().is_empty() => Ok(num_cpus::get().max(1)),
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(0) => Err(BuildError::ZeroWorkers),
            Ok(n) => Ok(n),
            Err(_) => Err(BuildError::BadEnv(v)),
        },
    }
}

/// Why a runtime could not be built.
///
/// # Examples
///
/// ```
/// let err = trellis::Runtime::builder().workers(0).build().unwrap_err();
/// println!("{err}"); // says how to fix it
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// The worker count was zero.
    ZeroWorkers,
    /// `max_blocking_threads` was zero.
    ZeroBlockingThreads,
    /// `TRELLIS_WORKERS` is set but is not a positive integer (its value is given).
    BadEnv(String),
    /// The OS refused a thread or the poller.
    Io(io::Error),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::ZeroWorkers => f.write_str(
                "a runtime needs at least 1 worker: pass `workers(n)` with n >= 1, or set \
                 TRELLIS_WORKERS to a positive integer (or unset it to use one per CPU)",
            ),
            BuildError::ZeroBlockingThreads => f.write_str(
                "`max_blocking_threads` must be at least 1, or `spawn_blocking` could never run",
            ),
            BuildError::BadEnv(v) => write!(
                f,
                "TRELLIS_WORKERS={v} is not a positive integer: set it to the number of worker \
                 threads (e.g. TRELLIS_WORKERS=4), or unset it to use one per CPU"
            ),
            BuildError::Io(err) => write!(f, "could not start the runtime: {err}"),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Io(err) => Some(err),
            _ => None,
        }
    }
}

impl From<BuildError> for io::Error {
    fn from(err: BuildError) -> io::Error {
        match err {
            BuildError::Io(err) => err,
            other => io::Error::new(io::ErrorKind::InvalidInput, other),
        }
    }
}
