//! Scheduler hot-path benchmarks: Trellis against tokio (multi-thread) and async-executor,
//! side by side in one binary and one run (see `BENCHMARKS.md` for the shapes; their constants
//! are those of tokio's `benches/rt_multi_threaded.rs` and async-executor's
//! `benches/executor.rs`, so figures compare with theirs).
//!
//! # Benchmark ids
//!
//! Every id is `<group>/<function>`, where the group is `<shape>/<workers>w` and the function is the
//! runtime: `trellis`, `tokio` or `async_executor`. For example `rt::yield_many/2w/tokio`.
//! `benches/tools/bench_table.rs` parses exactly this scheme from criterion's `benchmark.json`.
//!
//! | group | per iteration |
//! |---|---|
//! | `rt::spawn_many_remote/Nw` | inside `block_on` (not a worker) spawn 10_000 `async {}` through the runtime handle, await all |
//! | `rt::spawn_many_local/Nw` | `block_on(spawn(..))`: a task on a worker spawns 10_000 `async {}` with the in-task spawn, awaits all |
//! | `rt::spawn_many_remote_busy/Nw` | as `spawn_many_remote`, while 2×N background tasks loop `yield_now(); stall(10 µs)` |
//! | `rt::yield_many/Nw` | 200 remote-spawned tasks × 1_000 `yield_now()`, awaited from `block_on` |
//! | `rt::ping_pong/Nw` | tokio's `ping_pong`: 1_000 pings, each spawns a responder, two `tokio::sync::oneshot`s, one round trip (2_001 spawns); done is signalled on a `std` `sync_channel` |
//! | `rt::chained_spawn/Nw` | tokio's `chained_spawn`: a chain of 1_000 spawns, each spawning the next; done on a `sync_channel` |
//! | `rt::spawn_one/Nw` | `block_on(spawn(async {}))` |
//! | `time::timers_100k/Nw` | a task spawns 100_000 tasks that each `sleep(1 ms)` (deadline taken in the task, so every timer is registered and fires), awaits all (trellis and tokio only: async-executor has no timer) |
//!
//! N is 2 and 4. Each runtime is built once per worker count, outside the timed loops:
//! Trellis with `Runtime::builder().workers(N)`, tokio with `new_multi_thread().worker_threads(N)
//! .enable_all()` (as in tokio's own benches), async-executor as an `Executor` run by N runner
//! threads, the measured closure running on the main thread under `futures_lite::future::block_on`
//! (as in async-executor's own benches). The work is written once, generically over the adapter of `benches/common/peer.rs`, so
//! every runtime runs the same code; the only differences are the spawn/yield/block_on calls
//! themselves. `stall()` is tokio's: spin on `Instant::elapsed()` calling `std::thread::yield_now()`.
//!
//! Criterion defaults here are modest (20 samples, 1 s warm-up, 2 s measurement) so the whole binary
//! finishes in a few minutes on 2 cores; command-line flags (`--sample-size`, `--warm-up-time`,
//! `--measurement-time`) override them.

mod common;

use common::peer::{AsyncExecutorPeer, Peer, TimerPeer, TokioPeer, TrellisPeer};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, black_box};

/// tokio `rt_multi_threaded.rs`: `NUM_SPAWN`.
const NUM_SPAWN: usize = 10_000;
/// tokio `rt_multi_threaded.rs`: `STALL_DUR`.
const STALL_DUR: Duration = Duration::from_micros(10);
/// tokio `rt_multi_threaded.rs` `yield_many`: `TASKS` and `NUM_YIELD`.
const YIELD_TASKS: usize = 200;
const NUM_YIELD: usize = 1_000;
/// tokio `rt_multi_threaded.rs`: `NUM_PINGS`.
const NUM_PINGS: usize = 1_000;
/// tokio `rt_multi_threaded.rs` `chained_spawn`: `ITER`.
const CHAIN_LEN: usize = 1_000;
/// `time::timers_100k`.
const NUM_TIMERS: usize = 100_000;
const TIMER_DUR: Duration = Duration::from_millis(1);

// ---------------------------------------------------------------------------------------------
// Shapes, written once.

/// tokio's `stall()`.
fn stall() {
    let now = Instant::now();
    while now.elapsed() < STALL_DUR {
        thread::yield_now();
    }
}

/// Spawns `NUM_SPAWN` empty tasks through the runtime handle from `block_on`, awaits all.
fn spawn_many_remote<R: Peer>(rt: &R) {
    rt.block_on(async {
        let mut handles = Vec::with_capacity(NUM_SPAWN);
        for _ in 0..NUM_SPAWN {
            handles.push(rt.spawn(async {}));
        }
        for h in handles {
            h.await;
        }
    });
}

/// Spawns `NUM_SPAWN` empty tasks from inside a task on a worker, awaits all.
fn spawn_many_local<R: Peer>(rt: &R) {
    let s = rt.spawner();
    rt.block_on(rt.spawn(async move {
        let mut handles = Vec::with_capacity(NUM_SPAWN);
        for _ in 0..NUM_SPAWN {
            handles.push(R::spawn_here(s, async {}));
        }
        for h in handles {
            h.await;
        }
    }));
}

fn yield_many<R: Peer>(rt: &R) {
    rt.block_on(async {
        let mut handles = Vec::with_capacity(YIELD_TASKS);
        for _ in 0..YIELD_TASKS {
            handles.push(rt.spawn(async {
                for _ in 0..NUM_YIELD {
                    R::yield_now().await;
                }
            }));
        }
        for h in handles {
            h.await;
        }
    });
}

/// tokio's completion signal: the last task sends, the bench thread blocks in `recv`.
struct Done {
    tx: mpsc::SyncSender<()>,
    rx: mpsc::Receiver<()>,
}

impl Done {
    fn new() -> Self {
        let (tx, rx) = mpsc::sync_channel(1_000);
        Self { tx, rx }
    }
}

/// tokio's `ping_pong`, with the runtime's spawns and `tokio::sync::oneshot` for every peer.
fn ping_pong<R: Peer>(rt: &R, done: &Done) {
    let s = rt.spawner();
    let rem = Arc::new(AtomicUsize::new(NUM_PINGS));
    let done_tx = done.tx.clone();
    rt.block_on(async move {
        R::detach(R::spawn_here(s, async move {
            for _ in 0..NUM_PINGS {
                let rem = rem.clone();
                let done_tx = done_tx.clone();
                R::detach(R::spawn_here(s, async move {
                    let (tx1, rx1) = tokio::sync::oneshot::channel::<()>();
                    let (tx2, rx2) = tokio::sync::oneshot::channel::<()>();
                    R::detach(R::spawn_here(s, async move {
                        rx1.await.unwrap();
                        tx2.send(()).unwrap();
                    }));
                    tx1.send(()).unwrap();
                    rx2.await.unwrap();
                    if rem.fetch_sub(1, Ordering::Relaxed) == 1 {
                        done_tx.send(()).unwrap();
                    }
                }));
            }
        }));
    });
    done.rx.recv().unwrap();
}

/// tokio's `chained_spawn`.
fn chained_spawn<R: Peer>(rt: &R, done: &Done) {
    fn iter<R: Peer>(s: R::Spawner, done_tx: mpsc::SyncSender<()>, n: usize) {
        if n == 0 {
            done_tx.send(()).unwrap();
        } else {
            R::detach(R::spawn_here(s, async move {
                iter::<R>(s, done_tx, n - 1);
            }));
        }
    }

    let s = rt.spawner();
    let done_tx = done.tx.clone();
    rt.block_on(async move {
        R::detach(R::spawn_here(s, async move {
            iter::<R>(s, done_tx, CHAIN_LEN);
        }));
    });
    done.rx.recv().unwrap();
}

fn spawn_one<R: Peer>(rt: &R) {
    rt.block_on(rt.spawn(async { black_box(()) }));
}

fn timers<R: TimerPeer>(rt: &R) {
    let s = rt.spawner();
    rt.block_on(rt.spawn(async move {
        let mut handles = Vec::with_capacity(NUM_TIMERS);
        for _ in 0..NUM_TIMERS {
            // The sleep is created inside the task, so its deadline is 1 ms after the task first
            // runs: every one of the 100_000 timers is registered and fires (a deadline taken
            // before the ~10-100 ms spawn loop would mostly have passed: no timer at all).
            handles.push(R::spawn_here(s, async { R::sleep(TIMER_DUR).await }));
        }
        for h in handles {
            h.await;
        }
    }));
}

/// Background load for `spawn_many_remote_busy`: 2×workers tasks loop `yield_now(); stall()`.
struct Busy<R: Peer> {
    run: Arc<AtomicBool>,
    handles: Vec<R::Join<()>>,
}

impl<R: Peer> Busy<R> {
    fn start(rt: &R, workers: usize) -> Self {
        let run = Arc::new(AtomicBool::new(true));
        let s = rt.spawner();
        let handles = rt.block_on(async {
            (0..2 * workers)
                .map(|_| {
                    let run = run.clone();
                    R::spawn_here(s, async move {
                        while run.load(Ordering::Relaxed) {
                            R::yield_now().await;
                            stall();
                        }
                    })
                })
                .collect()
        });
        Self { run, handles }
    }

    fn stop(self, rt: &R) {
        self.run.store(false, Ordering::Relaxed);
        rt.block_on(async {
            for h in self.handles {
                h.await;
            }
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Driver

/// The three peers for one worker count, built once and dropped before the next count.
struct Peers {
    trellis: TrellisPeer,
    tokio: TokioPeer,
    async_executor: AsyncExecutorPeer,
}

/// Runs the generic shape `$shape(rt, $args..)` on every peer inside one criterion group.
macro_rules! each_peer {
    ($c:expr, $peers:expr, $group:expr, $shape:ident $(, $arg:expr)* $(,)?) => {{
        let mut g = $c.benchmark_group($group);
        let peers: &Peers = $peers;
        g.bench_function(TrellisPeer::NAME, |b| {
            b.iter(|| $shape(&peers.trellis $(, $arg)*))
        });
        g.bench_function(TokioPeer::NAME, |b| b.iter(|| $shape(&peers.tokio $(, $arg)*)));
        g.bench_function(AsyncExecutorPeer::NAME, |b| {
            b.iter(|| $shape(&peers.async_executor $(, $arg)*))
        });
        g.finish();
    }};
}

fn busy_bench<R: Peer>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &R,
    workers: usize,
) {
    let busy = Busy::start(rt, workers);
    g.bench_function(R::NAME, |b| b.iter(|| spawn_many_remote(rt)));
    busy.stop(rt);
}

fn bench_workers(c: &mut Criterion, workers: usize) {
    let peers = Peers {
        trellis: TrellisPeer::new(workers),
        tokio: TokioPeer::new(workers),
        async_executor: AsyncExecutorPeer::new(workers),
    };
    let id = |shape: &str| format!("{shape}/{workers}w");
    let done = Done::new();

    each_peer!(c, &peers, id("rt::spawn_many_remote"), spawn_many_remote);
    each_peer!(c, &peers, id("rt::spawn_many_local"), spawn_many_local);
    {
        let mut g = c.benchmark_group(id("rt::spawn_many_remote_busy"));
        busy_bench(&mut g, &peers.trellis, workers);
        busy_bench(&mut g, &peers.tokio, workers);
        busy_bench(&mut g, &peers.async_executor, workers);
        g.finish();
    }
    each_peer!(c, &peers, id("rt::yield_many"), yield_many);
    each_peer!(c, &peers, id("rt::ping_pong"), ping_pong, &done);
    each_peer!(c, &peers, id("rt::chained_spawn"), chained_spawn, &done);
    each_peer!(c, &peers, id("rt::spawn_one"), spawn_one);
    {
        let mut g = c.benchmark_group(id("time::timers_100k"));
        // ~10-100 ms per iteration: take a fixed number of iterations per sample.
        g.sampling_mode(SamplingMode::Flat);
        g.bench_function(TrellisPeer::NAME, |b| b.iter(|| timers(&peers.trellis)));
        g.bench_function(TokioPeer::NAME, |b| b.iter(|| timers(&peers.tokio)));
        g.finish();
    }

    // Drop order: each runtime shuts down on its own.
    let Peers {
        trellis,
        tokio,
        async_executor,
    } = peers;
    drop(trellis);
    drop(tokio);
    drop(async_executor);
}

fn main() {
    common::run(bench_workers);
}
