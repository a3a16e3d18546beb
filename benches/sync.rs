//! Synchronization benchmarks: `trellis::sync` against `tokio::sync` and `async-lock`, side by
//! side in one binary and one run. async-lock runs on two executors: tokio and async-executor.
//!
//! # Benchmark ids
//!
//! Every id is `<group>/<function>`, where the group is `<shape>/<workers>w` and the function
//! names the primitives and the runtime: `trellis` (`trellis::sync` on Trellis), `tokio`
//! (`tokio::sync` on tokio), `async_lock_tokio` (async-lock on tokio) and
//! `async_lock_async_executor` (async-lock on async-executor). For example
//! `sync::lock_contended/2w/tokio`.
//!
//! | group | per iteration |
//! |---|---|
//! | `sync::lock_contended/Nw` | a task on a worker spawns 8 tasks that each take the lock, increment a shared counter and release it, 10_000 times; awaits all. Trellis: `sync::Lock` guarding a counter read and written with two relaxed atomic operations (its lock holds no data); tokio and async-lock: `Mutex<u64>`, `*guard += 1` |
//! | `sync::semaphore_fanout/Nw` | a task spawns 10_000 tasks that each acquire a permit of one 4-permit semaphore, yield once holding it (so that the others queue), and release it; awaits all |
//! | `sync::event_fanout/Nw` | a task spawns 10_000 tasks that each count themselves started and wait on one event; it yields (a `yield_now` loop) until all have started, sets the event, awaits all. Trellis: `sync::Event`; tokio: `sync::SetOnce<()>`; async-lock (no event type): `OnceCell<()>` and `OnceCell::wait` |
//!
//! N is 2 and 4 (`TRELLIS_BENCH_WORKERS` overrides). Each runtime is built once per worker
//! count, outside the timed loops, as in `benches/rt.rs`: Trellis with
//! `Runtime::builder().workers(N)`, tokio with `new_multi_thread().worker_threads(N)
//! .enable_all()`, async-executor as an `Executor` run by N runner threads. Every iteration is
//! `block_on(spawn(shape))`, so the shape runs as a task on a worker. Each shape is written once,
//! generically over the runtime ([`Peer`]) and the primitive ([`BenchLock`], [`BenchSemaphore`],
//! [`BenchEvent`]); yields are `futures_lite::future::yield_now()` everywhere.
//!
//! Criterion defaults are the house ones (20 samples, 1 s warm-up, 2 s measurement;
//! `benches/common`); command-line flags override them.

mod common;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use common::peer::{AsyncExecutorPeer, Peer, TokioPeer, TrellisPeer};
use criterion::Criterion;
use futures_lite::future::yield_now;

/// `lock_contended`: tasks, and lock/increment/unlock rounds per task.
const LOCK_TASKS: usize = 8;
const LOCK_ROUNDS: usize = 10_000;
/// `semaphore_fanout`: tasks, and the semaphore's permits.
const SEM_TASKS: usize = 10_000;
const SEM_PERMITS: usize = 4;
/// `event_fanout`: waiting tasks.
const EVENT_TASKS: usize = 10_000;

// ---------------------------------------------------------------------------------------------
// Primitives

/// A lock guarding a counter.
trait BenchLock: Send + Sync + 'static {
    fn new() -> Self;
    /// Takes the lock, increments the counter, releases the lock.
    fn incr(&self) -> impl Future<Output = ()> + Send + '_;
    fn get(&self) -> u64;
}

/// `trellis::sync::Lock` guards no data: the counter is an atomic read and written in two
/// relaxed operations (a lost update without the lock).
struct TrellisLock {
    lock: trellis::sync::Lock,
    count: AtomicU64,
}

impl BenchLock for TrellisLock {
    fn new() -> Self {
        TrellisLock {
            lock: trellis::sync::Lock::new(),
            count: AtomicU64::new(0),
        }
    }
    async fn incr(&self) {
        let _g = self.lock.lock().await;
        let v = self.count.load(Ordering::Relaxed);
        self.count.store(v + 1, Ordering::Relaxed);
    }
    fn get(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

impl BenchLock for tokio::sync::Mutex<u64> {
    fn new() -> Self {
        tokio::sync::Mutex::new(0)
    }
    async fn incr(&self) {
        *self.lock().await += 1;
    }
    fn get(&self) -> u64 {
        *self.try_lock().expect("uncontended at the end")
    }
}

impl BenchLock for async_lock::Mutex<u64> {
    fn new() -> Self {
        async_lock::Mutex::new(0)
    }
    async fn incr(&self) {
        *self.lock().await += 1;
    }
    fn get(&self) -> u64 {
        *self.try_lock().expect("uncontended at the end")
    }
}

/// A counting semaphore.
trait BenchSemaphore: Send + Sync + 'static {
    fn new(permits: usize) -> Self;
    /// Acquires a permit, yields once holding it, releases it.
    fn pass(&self) -> impl Future<Output = ()> + Send + '_;
}

impl BenchSemaphore for trellis::sync::Semaphore {
    fn new(permits: usize) -> Self {
        trellis::sync::Semaphore::new(permits)
    }
    async fn pass(&self) {
        let _p = self.acquire().await;
        yield_now().await;
    }
}

impl BenchSemaphore for tokio::sync::Semaphore {
    fn new(permits: usize) -> Self {
        tokio::sync::Semaphore::new(permits)
    }
    async fn pass(&self) {
        let _p = self.acquire().await.expect("never closed");
        yield_now().await;
    }
}

impl BenchSemaphore for async_lock::Semaphore {
    fn new(permits: usize) -> Self {
        async_lock::Semaphore::new(permits)
    }
    async fn pass(&self) {
        let _p = self.acquire().await;
        yield_now().await;
    }
}

/// A set-once event.
trait BenchEvent: Send + Sync + 'static {
    fn new() -> Self;
    fn set(&self);
    fn wait(&self) -> impl Future<Output = ()> + Send + '_;
}

impl BenchEvent for trellis::sync::Event {
    fn new() -> Self {
        trellis::sync::Event::new()
    }
    fn set(&self) {
        trellis::sync::Event::set(self);
    }
    async fn wait(&self) {
        trellis::sync::Event::wait(self).await;
    }
}

impl BenchEvent for tokio::sync::SetOnce<()> {
    fn new() -> Self {
        tokio::sync::SetOnce::new()
    }
    fn set(&self) {
        tokio::sync::SetOnce::set(self, ()).expect("set once");
    }
    async fn wait(&self) {
        tokio::sync::SetOnce::wait(self).await;
    }
}

impl BenchEvent for async_lock::OnceCell<()> {
    fn new() -> Self {
        async_lock::OnceCell::new()
    }
    fn set(&self) {
        self.set_blocking(()).expect("set once");
    }
    async fn wait(&self) {
        async_lock::OnceCell::wait(self).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Shapes, written once.

fn lock_contended<R: Peer, L: BenchLock>(rt: &R) {
    let s = rt.spawner();
    rt.run(async move {
        let lock = Arc::new(L::new());
        let tasks: Vec<_> = (0..LOCK_TASKS)
            .map(|_| {
                let lock = lock.clone();
                R::spawn_here(s, async move {
                    for _ in 0..LOCK_ROUNDS {
                        lock.incr().await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await;
        }
        assert_eq!(lock.get(), (LOCK_TASKS * LOCK_ROUNDS) as u64);
    });
}

fn semaphore_fanout<R: Peer, S: BenchSemaphore>(rt: &R) {
    let s = rt.spawner();
    rt.run(async move {
        let sem = Arc::new(S::new(SEM_PERMITS));
        let tasks: Vec<_> = (0..SEM_TASKS)
            .map(|_| {
                let sem = sem.clone();
                R::spawn_here(s, async move { sem.pass().await })
            })
            .collect();
        for t in tasks {
            t.await;
        }
    });
}

fn event_fanout<R: Peer, E: BenchEvent>(rt: &R) {
    let s = rt.spawner();
    rt.run(async move {
        let event = Arc::new(E::new());
        let started = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..EVENT_TASKS)
            .map(|_| {
                let (event, started) = (event.clone(), started.clone());
                R::spawn_here(s, async move {
                    started.fetch_add(1, Ordering::Relaxed);
                    event.wait().await;
                })
            })
            .collect();
        while started.load(Ordering::Relaxed) < EVENT_TASKS {
            yield_now().await;
        }
        event.set();
        for t in tasks {
            t.await;
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Driver

fn bench_workers(c: &mut Criterion, workers: usize) {
    let trellis = TrellisPeer::new(workers);
    let tokio = TokioPeer::new(workers);
    let executor = AsyncExecutorPeer::new(workers);
    let id = |shape: &str| format!("{shape}/{workers}w");

    {
        let mut g = c.benchmark_group(id("sync::lock_contended"));
        g.bench_function(TrellisPeer::NAME, |b| {
            b.iter(|| lock_contended::<_, TrellisLock>(&trellis))
        });
        g.bench_function(TokioPeer::NAME, |b| {
            b.iter(|| lock_contended::<_, tokio::sync::Mutex<u64>>(&tokio))
        });
        g.bench_function("async_lock_tokio", |b| {
            b.iter(|| lock_contended::<_, async_lock::Mutex<u64>>(&tokio))
        });
        g.bench_function("async_lock_async_executor", |b| {
            b.iter(|| lock_contended::<_, async_lock::Mutex<u64>>(&executor))
        });
        g.finish();
    }
    {
        let mut g = c.benchmark_group(id("sync::semaphore_fanout"));
        g.bench_function(TrellisPeer::NAME, |b| {
            b.iter(|| semaphore_fanout::<_, trellis::sync::Semaphore>(&trellis))
        });
        g.bench_function(TokioPeer::NAME, |b| {
            b.iter(|| semaphore_fanout::<_, tokio::sync::Semaphore>(&tokio))
        });
        g.bench_function("async_lock_tokio", |b| {
            b.iter(|| semaphore_fanout::<_, async_lock::Semaphore>(&tokio))
        });
        g.bench_function("async_lock_async_executor", |b| {
            b.iter(|| semaphore_fanout::<_, async_lock::Semaphore>(&executor))
        });
        g.finish();
    }
    {
        let mut g = c.benchmark_group(id("sync::event_fanout"));
        g.bench_function(TrellisPeer::NAME, |b| {
            b.iter(|| event_fanout::<_, trellis::sync::Event>(&trellis))
        });
        g.bench_function(TokioPeer::NAME, |b| {
            b.iter(|| event_fanout::<_, tokio::sync::SetOnce<()>>(&tokio))
        });
        g.bench_function("async_lock_tokio", |b| {
            b.iter(|| event_fanout::<_, async_lock::OnceCell<()>>(&tokio))
        });
        g.bench_function("async_lock_async_executor", |b| {
            b.iter(|| event_fanout::<_, async_lock::OnceCell<()>>(&executor))
        });
        g.finish();
    }

    // Each runtime shuts down on its own.
    drop(trellis);
    drop(tokio);
    drop(executor);
}

fn main() {
    common::run(bench_workers);
}
