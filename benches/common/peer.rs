//! The one adapter every side-by-side bench runs its peers through: [`Peer`] names what a shape
//! needs from a runtime (spawn from outside and from inside a task, block on a future, detach,
//! yield), implemented once each for Trellis, tokio (multi-thread) and async-executor (run by N
//! runner threads, as in its own benches). A bench that needs more (channels, timers) extends
//! the trait in its own file, for the same three types. Shapes are written once, generic over
//! the peer, so the only difference between the runtimes is these calls themselves.

use std::future::Future;
use std::thread;
use std::time::Duration;

use super::Unwrapped;

/// One runtime under test.
pub(crate) trait Peer {
    /// Function id in the benchmark id.
    const NAME: &'static str;
    /// What awaiting a spawned task yields: the task's output (a failed task panics the bench).
    type Join<T: Send + 'static>: Future<Output = T> + Send + 'static;
    /// What a task needs to spawn from inside the runtime (nothing for context-based spawns).
    type Spawner: Copy + Send + Sync + 'static;

    /// Builds the runtime with `workers` worker threads.
    fn new(workers: usize) -> Self;
    fn spawner(&self) -> Self::Spawner;
    /// Runs `f` on the calling thread (not a worker).
    fn block_on<F: Future>(&self, f: F) -> F::Output;
    /// Spawns through the runtime handle (used from `block_on` or the bench thread).
    fn spawn<F>(&self, f: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;
    /// Spawns from inside a task of this runtime (the local path).
    fn spawn_here<F>(s: Self::Spawner, f: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;
    /// Lets a task run on without anyone awaiting it.
    fn detach<T: Send + 'static>(j: Self::Join<T>);
    fn yield_now() -> impl Future<Output = ()> + Send;

    /// `block_on(spawn(f))`: runs `f` as a task on a worker and waits for it.
    fn run<F>(&self, f: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.block_on(self.spawn(f))
    }
}

/// A runtime with timers (async-executor has none).
pub(crate) trait TimerPeer: Peer {
    fn sleep(d: Duration) -> impl Future<Output = ()> + Send + 'static;
}

// ---------------------------------------------------------------------------------------------
// Trellis

pub(crate) struct TrellisPeer {
    pub(crate) rt: trellis::Runtime,
}

impl Peer for TrellisPeer {
    const NAME: &'static str = "trellis";
    type Join<T: Send + 'static> = Unwrapped<trellis::JoinHandle<T>>;
    type Spawner = ();

    fn new(workers: usize) -> Self {
        let rt = trellis::Runtime::builder()
            .workers(workers)
            .build()
            .expect("build trellis runtime");
        Self { rt }
    }

    fn spawner(&self) {}

    fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    fn spawn<F>(&self, f: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Unwrapped(self.rt.spawn(f))
    }

    fn spawn_here<F>((): (), f: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Unwrapped(trellis::spawn(f))
    }

    fn detach<T: Send + 'static>(j: Self::Join<T>) {
        drop(j);
    }

    fn yield_now() -> impl Future<Output = ()> + Send {
        trellis::yield_now()
    }
}

impl TimerPeer for TrellisPeer {
    fn sleep(d: Duration) -> impl Future<Output = ()> + Send + 'static {
        trellis::time::sleep(d)
    }
}

// ---------------------------------------------------------------------------------------------
// tokio

pub(crate) struct TokioPeer {
    pub(crate) rt: tokio::runtime::Runtime,
}

impl Peer for TokioPeer {
    const NAME: &'static str = "tokio";
    type Join<T: Send + 'static> = Unwrapped<tokio::task::JoinHandle<T>>;
    type Spawner = ();

    fn new(workers: usize) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .expect("build tokio runtime");
        Self { rt }
    }

    fn spawner(&self) {}

    fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    fn spawn<F>(&self, f: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Unwrapped(self.rt.spawn(f))
    }

    fn spawn_here<F>((): (), f: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Unwrapped(tokio::spawn(f))
    }

    fn detach<T: Send + 'static>(j: Self::Join<T>) {
        drop(j);
    }

    fn yield_now() -> impl Future<Output = ()> + Send {
        tokio::task::yield_now()
    }
}

impl TimerPeer for TokioPeer {
    fn sleep(d: Duration) -> impl Future<Output = ()> + Send + 'static {
        tokio::time::sleep(d)
    }
}

// ---------------------------------------------------------------------------------------------
// async-executor

pub(crate) struct AsyncExecutorPeer {
    /// Leaked so tasks can hold `&'static Executor` (async-executor's own benches use a `static`).
    pub(crate) ex: &'static async_executor::Executor<'static>,
    stop: Vec<tokio::sync::oneshot::Sender<()>>,
    runners: Vec<thread::JoinHandle<()>>,
}

impl Drop for AsyncExecutorPeer {
    fn drop(&mut self) {
        for tx in self.stop.drain(..) {
            let _ = tx.send(());
        }
        for r in self.runners.drain(..) {
            let _ = r.join();
        }
    }
}

impl Peer for AsyncExecutorPeer {
    const NAME: &'static str = "async_executor";
    type Join<T: Send + 'static> = async_executor::Task<T>;
    type Spawner = &'static async_executor::Executor<'static>;

    fn new(workers: usize) -> Self {
        let ex: &'static async_executor::Executor<'static> =
            Box::leak(Box::new(async_executor::Executor::new()));
        let mut stop = Vec::with_capacity(workers);
        let mut runners = Vec::with_capacity(workers);
        for i in 0..workers {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            stop.push(tx);
            let runner = thread::Builder::new()
                .name(format!("async-executor-{i}"))
                .spawn(move || {
                    let _ = futures_lite::future::block_on(ex.run(rx));
                })
                .expect("spawn async-executor runner");
            runners.push(runner);
        }
        Self { ex, stop, runners }
    }

    fn spawner(&self) -> Self::Spawner {
        self.ex
    }

    fn block_on<F: Future>(&self, f: F) -> F::Output {
        futures_lite::future::block_on(f)
    }

    fn spawn<F>(&self, f: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.ex.spawn(f)
    }

    fn spawn_here<F>(ex: Self::Spawner, f: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        ex.spawn(f)
    }

    fn detach<T: Send + 'static>(j: Self::Join<T>) {
        j.detach();
    }

    fn yield_now() -> impl Future<Output = ()> + Send {
        futures_lite::future::yield_now()
    }
}
