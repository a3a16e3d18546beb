//! Structured-concurrency benchmarks: Trellis nurseries and cancel scopes against tokio's
//! `JoinSet`, `CancellationToken` (tokio-util) and `tokio::time::timeout`, side by side in one
//! binary and one run (see `BENCHMARKS.md`, "Structured concurrency").
//!
//! # Benchmark ids
//!
//! Every id is `<group>/<function>`, where the group is `<shape>/<workers>w` and the function is
//! the runtime: `trellis`, `tokio`, and for `nursery::spawn_join` also `trellis_raw` (Trellis
//! without a nursery: the floor the nursery is held to). For example
//! `nursery::spawn_join/2w/trellis_raw`. `benches/tools/bench_table.rs` parses this scheme.
//!
//! | group | per iteration | measured |
//! |---|---|---|
//! | `nursery::spawn_join/Nw` | `block_on(spawn(..))`: a task on a worker opens a nursery and `start_soon`s 10_000 `async {}` children; the nursery returns when all are done. `trellis_raw`: the same task `trellis::spawn`s 10_000 `async {}` and awaits every `JoinHandle`. `tokio`: the task `JoinSet::spawn`s 10_000 `async {}`, then `join_all()` | the whole iteration |
//! | `nursery::cancel_fanout/Nw` | a task on a worker opens a nursery with 10_000 children pinned round robin on every domain (`start_soon_on(DomainId::new(i % N), ..)`), each parked forever (`std::future::pending`, woken only by the cancellation); once all 10_000 have been polled, the body takes the time and `start_soon`s one child that returns `Err`: the nursery cancels its scope, every child is woken on its home domain and dropped there, and the nursery returns the error. `tokio`: a `JoinSet` of 10_000 tasks each awaiting `CancellationToken::cancelled()`; once all have been polled, the joiner takes the time and spawns one task that calls `token.cancel()` and returns `Err`; `join_all()` returns when every task has finished | `iter_custom`: from the time taken before the failing child / cancelling task is started, to the nursery / `join_all` returning (all children dropped). Spawning and parking the 10_000 is set-up, not measured |
//! | `cancel::move_on_after_ready/Nw` | one task on a worker awaits `move_on_after(1 s, ready(i))` 10_000 times (`tokio`: `tokio::time::timeout(1 s, ready(i))`) | the whole iteration |
//! | `cancel::cross_thread_latency/Nw` | Trellis: a nursery with two pinned children. On domain 1, a `CancelScope` runs a future that holds a drop stamp, sets a flag and parks forever (`std::future::pending`). On domain 0, a task waits for the flag, then 100 µs more (time for domain 1's worker to go idle), takes the time and calls the scope's `CancelHandle::cancel()`. The cancel wakes the task on domain 1, whose scope drops its future there; the stamp's `Drop` takes the time. `tokio`: a task sets a flag and awaits `CancellationToken::cancelled()`, taking the time when it returns; a second task waits for the flag and 100 µs, takes the time and calls `token.cancel()` | `iter_custom`: the sum of (drop stamp, or `cancelled()` returning) − (time taken just before `cancel()`) over the iterations, so criterion's per-iteration figure is the mean latency. Trellis's is always a cross-thread wake (the task is pinned to the other domain); tokio's woken task may run on the canceller's own worker (tokio puts a task woken from a worker into that worker's LIFO slot), so it needs no cross-thread wake. Two more functions give the floor: `threads`, a plain OS thread blocked on a crossbeam-channel receive woken by another after the same wait, and `tokio_pinned`, tokio's two tasks pinned on two threads of a tokio-util `LocalPoolHandle` so its wake crosses threads too |
//!
//! N is 2 and 4 (or `TRELLIS_BENCH_WORKERS`; at 1 worker `cross_thread_latency`, which needs two domains, is skipped). Each runtime is built once per worker count, outside the timed loops: Trellis
//! with `Runtime::builder().workers(N)`, tokio with `new_multi_thread().worker_threads(N)
//! .enable_all()`, as in `benches/rt.rs`. `cross_thread_latency` needs two domains: it uses
//! domains 0 and 1 at every N.
//!
//! Criterion defaults here are modest (20 samples, 1 s warm-up, 2 s measurement), as in
//! `benches/rt.rs`; command-line flags (`--sample-size`, `--warm-up-time`, `--measurement-time`)
//! override them. The `iter_custom` shapes spend most of their wall time in untimed set-up, so
//! they run longer than their measurement time; `cancel::cross_thread_latency`, where the set-up
//! is some 30 times the measured latency, sets its own (0.2 s warm-up, 0.5 s measurement of
//! summed latency, a few seconds of wall time), which the command-line flags do not change.

mod common;

use std::error::Error;
use std::fmt;
use std::future::{pending, ready};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, black_box};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use trellis::{CancelScope, DomainId};

/// `nursery::spawn_join`: children per nursery (tokio `rt_multi_threaded.rs`: `NUM_SPAWN`).
const NUM_SPAWN: usize = 10_000;
/// `nursery::cancel_fanout`: parked children cancelled at once.
const NUM_PARKED: usize = 10_000;
/// `cancel::move_on_after_ready`: scopes entered per iteration, and their timeout.
const NUM_SCOPES: usize = 10_000;
const SCOPE_TIMEOUT: Duration = Duration::from_secs(1);
/// `cancel::cross_thread_latency`: the cancelling domain (A), the parked task's domain (B), and
/// how long A waits after B parked, so that B's worker has gone idle.
const DOMAIN_A: DomainId = DomainId::new(0);
const DOMAIN_B: DomainId = DomainId::new(1);
const SETTLE: Duration = Duration::from_micros(100);
/// `cancel::cross_thread_latency`'s own criterion times (measured latency only, see above).
const LATENCY_WARM_UP: Duration = Duration::from_millis(200);
const LATENCY_MEASUREMENT: Duration = Duration::from_millis(500);

/// The one failure of `cancel_fanout`.
#[derive(Debug)]
struct Fail;

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("one child failed")
    }
}

impl Error for Fail {}

fn trellis_rt(workers: usize) -> trellis::Runtime {
    trellis::Runtime::builder()
        .workers(workers)
        .build()
        .expect("build trellis runtime")
}

fn tokio_rt(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("build tokio runtime")
}

// ---------------------------------------------------------------------------------------------
// nursery::spawn_join

fn spawn_join_nursery(rt: &trellis::Runtime) {
    rt.block_on(rt.spawn(async {
        trellis::nursery(async |n| {
            for _ in 0..NUM_SPAWN {
                n.start_soon(async {});
            }
        })
        .await
        .expect("no child fails");
    }))
    .expect("benchmark task failed");
}

fn spawn_join_raw(rt: &trellis::Runtime) {
    rt.block_on(rt.spawn(async {
        let mut handles = Vec::with_capacity(NUM_SPAWN);
        for _ in 0..NUM_SPAWN {
            handles.push(trellis::spawn(async {}));
        }
        for h in handles {
            h.await.expect("benchmark task failed");
        }
    }))
    .expect("benchmark task failed");
}

fn spawn_join_tokio(rt: &tokio::runtime::Runtime) {
    rt.block_on(rt.spawn(async {
        let mut set = JoinSet::new();
        for _ in 0..NUM_SPAWN {
            set.spawn(async {});
        }
        set.join_all().await;
    }))
    .expect("benchmark task failed");
}

// ---------------------------------------------------------------------------------------------
// nursery::cancel_fanout

/// One fan-out: returns the time from the failure to the nursery's return.
fn cancel_fanout_trellis_once(rt: &trellis::Runtime) -> Duration {
    rt.block_on(rt.spawn(async {
        let domains = trellis::domain::count();
        let parked = Arc::new(AtomicUsize::new(0));
        let mut failed_at = None;
        let result = trellis::nursery(async |n| {
            for i in 0..NUM_PARKED {
                let parked = parked.clone();
                n.start_soon_on(DomainId::new(i % domains), move || async move {
                    parked.fetch_add(1, Ordering::Release);
                    pending::<()>().await;
                });
            }
            while parked.load(Ordering::Acquire) < NUM_PARKED {
                trellis::yield_now().await;
            }
            failed_at = Some(Instant::now());
            n.start_soon(async { Err::<(), _>(Fail) });
        })
        .await;
        let elapsed = failed_at.expect("the body ran").elapsed();
        let err = result.expect_err("one child failed");
        assert_eq!(err.len(), 1);
        elapsed
    }))
    .expect("benchmark task failed")
}

/// One fan-out: returns the time from the cancelling task's spawn to `join_all` returning.
fn cancel_fanout_tokio_once(rt: &tokio::runtime::Runtime) -> Duration {
    rt.block_on(rt.spawn(async {
        let token = CancellationToken::new();
        let parked = Arc::new(AtomicUsize::new(0));
        let mut set = JoinSet::new();
        for _ in 0..NUM_PARKED {
            let (token, parked) = (token.clone(), parked.clone());
            set.spawn(async move {
                parked.fetch_add(1, Ordering::Release);
                token.cancelled().await;
                Ok::<(), Fail>(())
            });
        }
        while parked.load(Ordering::Acquire) < NUM_PARKED {
            tokio::task::yield_now().await;
        }
        let failed_at = Instant::now();
        set.spawn(async move {
            token.cancel();
            Err(Fail)
        });
        let results = set.join_all().await;
        let elapsed = failed_at.elapsed();
        assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
        elapsed
    }))
    .expect("benchmark task failed")
}

// ---------------------------------------------------------------------------------------------
// cancel::move_on_after_ready

fn move_on_after_ready_trellis(rt: &trellis::Runtime) {
    rt.block_on(rt.spawn(async {
        for i in 0..NUM_SCOPES {
            black_box(trellis::move_on_after(SCOPE_TIMEOUT, ready(i)).await);
        }
    }))
    .expect("benchmark task failed");
}

fn move_on_after_ready_tokio(rt: &tokio::runtime::Runtime) {
    rt.block_on(rt.spawn(async {
        for i in 0..NUM_SCOPES {
            let _ = black_box(tokio::time::timeout(SCOPE_TIMEOUT, ready(i)).await);
        }
    }))
    .expect("benchmark task failed");
}

// ---------------------------------------------------------------------------------------------
// cancel::cross_thread_latency

/// Takes the time when dropped: the moment the cancelled future is dropped.
struct DropStamp(Arc<OnceLock<Instant>>);

impl Drop for DropStamp {
    fn drop(&mut self) {
        let _ = self.0.set(Instant::now());
    }
}

/// Waits until `flag` is set, then `SETTLE` more, yielding all along.
async fn wait_parked<Y: Future<Output = ()>>(flag: &AtomicBool, yield_now: impl Fn() -> Y) {
    while !flag.load(Ordering::Acquire) {
        yield_now().await;
    }
    let until = Instant::now() + SETTLE;
    while Instant::now() < until {
        yield_now().await;
    }
}

/// One cancel: the time from `cancel()` on domain A to the drop on domain B.
fn cross_thread_trellis_once(rt: &trellis::Runtime) -> Duration {
    rt.block_on(async {
        let dropped_at = Arc::new(OnceLock::new());
        let cancelled_at = Arc::new(OnceLock::new());
        let parked = Arc::new(AtomicBool::new(false));
        let scope = CancelScope::new();
        let handle = scope.handle();
        trellis::nursery(async |n| {
            let (stamp, flag) = (DropStamp(dropped_at.clone()), parked.clone());
            n.start_soon_on(DOMAIN_B, move || async move {
                let out = scope
                    .run(async move {
                        let _stamp = stamp;
                        flag.store(true, Ordering::Release);
                        pending::<()>().await;
                    })
                    .await;
                assert!(out.is_none(), "the scope caught the cancel");
            });
            let (at, flag) = (cancelled_at.clone(), parked.clone());
            n.start_soon_on(DOMAIN_A, move || async move {
                wait_parked(&flag, trellis::yield_now).await;
                let _ = at.set(Instant::now());
                handle.cancel();
            });
        })
        .await
        .expect("no child fails");
        let dropped = *dropped_at.get().expect("the parked future was dropped");
        let cancelled = *cancelled_at.get().expect("the canceller ran");
        dropped.duration_since(cancelled)
    })
}

/// One cancel: the time from `token.cancel()` to the waiting task seeing it.
fn cross_thread_tokio_once(rt: &tokio::runtime::Runtime) -> Duration {
    rt.block_on(async {
        let token = CancellationToken::new();
        let parked = Arc::new(AtomicBool::new(false));
        let waiter = {
            let (token, flag) = (token.clone(), parked.clone());
            tokio::spawn(async move {
                let cancelled = token.cancelled();
                flag.store(true, Ordering::Release);
                cancelled.await;
                Instant::now()
            })
        };
        let canceller = tokio::spawn(async move {
            wait_parked(&parked, tokio::task::yield_now).await;
            let at = Instant::now();
            token.cancel();
            at
        });
        let cancelled = canceller.await.expect("canceller");
        let seen = waiter.await.expect("waiter");
        seen.duration_since(cancelled)
    })
}

/// The raw floor (function `threads`): one OS thread blocks on a `crossbeam_channel` receive,
/// another waits until it is blocked and `SETTLE` more, takes the time and sends; the time is
/// taken again when the receive returns. A cross-thread wake of a sleeping thread, no runtime.
fn cross_thread_raw_once() -> Duration {
    let (tx, rx) = crossbeam_channel::bounded::<Instant>(1);
    let parked = Arc::new(AtomicBool::new(false));
    let flag = parked.clone();
    let waiter = std::thread::spawn(move || {
        flag.store(true, Ordering::Release);
        let sent = rx.recv().expect("sender");
        Instant::now().duration_since(sent)
    });
    while !parked.load(Ordering::Acquire) {
        std::hint::spin_loop();
    }
    let until = Instant::now() + SETTLE;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
    tx.send(Instant::now()).expect("waiter");
    waiter.join().expect("waiter")
}

/// tokio with the two tasks pinned on two threads (function `tokio_pinned`): a tokio-util
/// `LocalPoolHandle`, the waiter on thread 1, the canceller on thread 0, so the wake crosses
/// threads as Trellis's does.
fn cross_thread_tokio_pinned_once(pool: &tokio_util::task::LocalPoolHandle) -> Duration {
    let token = CancellationToken::new();
    let parked = Arc::new(AtomicBool::new(false));
    let waiter = {
        let (token, flag) = (token.clone(), parked.clone());
        pool.spawn_pinned_by_idx(
            move || async move {
                let cancelled = token.cancelled();
                flag.store(true, Ordering::Release);
                cancelled.await;
                Instant::now()
            },
            1,
        )
    };
    let canceller = pool.spawn_pinned_by_idx(
        move || async move {
            wait_parked(&parked, tokio::task::yield_now).await;
            let at = Instant::now();
            token.cancel();
            at
        },
        0,
    );
    futures_lite::future::block_on(async move {
        let cancelled = canceller.await.expect("canceller");
        let seen = waiter.await.expect("waiter");
        seen.duration_since(cancelled)
    })
}

// ---------------------------------------------------------------------------------------------
// Driver

/// The `iter_custom` figure of a shape measured once per call: the sum over `iters` calls.
fn summed(iters: u64, mut once: impl FnMut() -> Duration) -> Duration {
    (0..iters).map(|_| once()).sum()
}

fn bench_workers(c: &mut Criterion, workers: usize) {
    let trellis = trellis_rt(workers);
    let tokio = tokio_rt(workers);
    let id = |shape: &str| format!("{shape}/{workers}w");

    {
        let mut g = c.benchmark_group(id("nursery::spawn_join"));
        g.bench_function("trellis", |b| b.iter(|| spawn_join_nursery(&trellis)));
        g.bench_function("trellis_raw", |b| b.iter(|| spawn_join_raw(&trellis)));
        g.bench_function("tokio", |b| b.iter(|| spawn_join_tokio(&tokio)));
        g.finish();
    }
    {
        let mut g = c.benchmark_group(id("nursery::cancel_fanout"));
        // Milliseconds per iteration, plus untimed set-up: a fixed count per sample.
        g.sampling_mode(SamplingMode::Flat);
        g.bench_function("trellis", |b| {
            b.iter_custom(|iters| summed(iters, || cancel_fanout_trellis_once(&trellis)))
        });
        g.bench_function("tokio", |b| {
            b.iter_custom(|iters| summed(iters, || cancel_fanout_tokio_once(&tokio)))
        });
        g.finish();
    }
    {
        let mut g = c.benchmark_group(id("cancel::move_on_after_ready"));
        g.bench_function("trellis", |b| {
            b.iter(|| move_on_after_ready_trellis(&trellis))
        });
        g.bench_function("tokio", |b| b.iter(|| move_on_after_ready_tokio(&tokio)));
        g.finish();
    }
    // Two domains needed: skipped on a one-worker runtime.
    if workers >= 2 {
        let mut g = c.benchmark_group(id("cancel::cross_thread_latency"));
        // Each iteration has over 100 µs of untimed set-up around a few µs of measured latency:
        // criterion's default times (of *measured* time) would take minutes of wall time.
        g.sampling_mode(SamplingMode::Flat)
            .warm_up_time(LATENCY_WARM_UP)
            .measurement_time(LATENCY_MEASUREMENT);
        g.bench_function("trellis", |b| {
            b.iter_custom(|iters| summed(iters, || cross_thread_trellis_once(&trellis)))
        });
        g.bench_function("tokio", |b| {
            b.iter_custom(|iters| summed(iters, || cross_thread_tokio_once(&tokio)))
        });
        let pool = tokio_util::task::LocalPoolHandle::new(workers);
        g.bench_function("tokio_pinned", |b| {
            b.iter_custom(|iters| summed(iters, || cross_thread_tokio_pinned_once(&pool)))
        });
        g.bench_function("threads", |b| {
            b.iter_custom(|iters| summed(iters, cross_thread_raw_once))
        });
        g.finish();
    }

    // Each runtime shuts down on its own.
    drop(trellis);
    drop(tokio);
}

fn main() {
    common::run(bench_workers);
}
