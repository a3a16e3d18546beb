//! Domain benchmarks: pinned (`!Send`-capable) spawns on Trellis domains against tokio's
//! answers to the same need, side by side in one binary and one run (see `BENCHMARKS.md`,
//! "Domains and channels").
//!
//! # Benchmark ids
//!
//! The scheme of `benches/rt.rs`: group `<shape>/<workers>w`, function `trellis` or `tokio`,
//! e.g. `domain::spawn_on_remote/2w/tokio`; `benches/tools/bench_table.rs` parses it. The peer's
//! function id is `tokio` although the peer is tokio's `LocalSet` or tokio-util's
//! `LocalPoolHandle` (the table has a `tokio` column; the rows below say which tokio API it is).
//!
//! | group | Trellis, per iteration | peer (function `tokio`), per iteration |
//! |---|---|---|
//! | `domain::spawn_local_many/Nw` | a task pinned on domain 0 (`spawn_on`) calls `spawn_local(async {})` 10_000 times, then awaits every handle; the bench thread blocks on that task | tokio `LocalSet` on a current-thread runtime: `block_on(local.run_until(..))` of the same body with `tokio::task::spawn_local` (the `LocalSet` is single-threaded: its figure does not depend on N) |
//! | `domain::spawn_on_remote/Nw` | a task pinned on domain 0 calls `spawn_on(DomainId(1), \|\| async {})` 10_000 times, then awaits every handle | tokio-util `LocalPoolHandle::new(N)`: a task pinned on pool worker 0 calls `spawn_pinned_by_idx(\|\| async {}, 1)` 10_000 times, then awaits every handle. That is `spawn_pinned` aimed at one worker, as `spawn_on` is; plain `spawn_pinned` picks the least-loaded worker, often the spawner's own |
//!
//! N is 2 and 4 (or `TRELLIS_BENCH_WORKERS`; at 1 worker `spawn_on_remote`, which needs two domains, is skipped). Each runtime (and pool) is built once per worker count, outside the timed
//! loops. Criterion defaults: 20 samples, 1 s warm-up, 2 s measurement, flat sampling (an
//! iteration takes milliseconds); command-line flags override them.

mod common;

use criterion::{Criterion, SamplingMode};
use trellis::DomainId;

/// tokio `rt_multi_threaded.rs`: `NUM_SPAWN`.
const NUM_SPAWN: usize = 10_000;

// ---------------------------------------------------------------------------------------------
// domain::spawn_local_many

fn trellis_spawn_local_many(rt: &trellis::Runtime) {
    rt.block_on(rt.spawn_on(DomainId::new(0), || async {
        let mut handles = Vec::with_capacity(NUM_SPAWN);
        for _ in 0..NUM_SPAWN {
            handles.push(trellis::spawn_local(async {}));
        }
        for h in handles {
            h.await.expect("pinned task");
        }
    }))
    .expect("driver task");
}

fn tokio_spawn_local_many(rt: &tokio::runtime::Runtime, local: &tokio::task::LocalSet) {
    rt.block_on(local.run_until(async {
        let mut handles = Vec::with_capacity(NUM_SPAWN);
        for _ in 0..NUM_SPAWN {
            handles.push(tokio::task::spawn_local(async {}));
        }
        for h in handles {
            h.await.expect("local task");
        }
    }));
}

// ---------------------------------------------------------------------------------------------
// domain::spawn_on_remote

fn trellis_spawn_on_remote(rt: &trellis::Runtime) {
    rt.block_on(rt.spawn_on(DomainId::new(0), || async {
        let other = DomainId::new(1);
        let mut handles = Vec::with_capacity(NUM_SPAWN);
        for _ in 0..NUM_SPAWN {
            handles.push(trellis::spawn_on(other, || async {}));
        }
        for h in handles {
            h.await.expect("pinned task");
        }
    }))
    .expect("driver task");
}

fn tokio_spawn_on_remote(pool: &tokio_util::task::LocalPoolHandle) {
    let spawner = pool.clone();
    let driver = pool.spawn_pinned_by_idx(
        move || async move {
            let mut handles = Vec::with_capacity(NUM_SPAWN);
            for _ in 0..NUM_SPAWN {
                handles.push(spawner.spawn_pinned_by_idx(|| async {}, 1));
            }
            for h in handles {
                h.await.expect("pinned task");
            }
        },
        0,
    );
    futures_lite::future::block_on(driver).expect("driver task");
}

// ---------------------------------------------------------------------------------------------
// Driver

fn bench_workers(c: &mut Criterion, workers: usize) {
    let rt = trellis::Runtime::builder()
        .workers(workers)
        .build()
        .expect("build trellis runtime");
    let tokio_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build tokio runtime");
    let local = tokio::task::LocalSet::new();
    let pool = tokio_util::task::LocalPoolHandle::new(workers);
    let id = |shape: &str| format!("{shape}/{workers}w");

    {
        let mut g = c.benchmark_group(id("domain::spawn_local_many"));
        g.sampling_mode(SamplingMode::Flat);
        g.bench_function("trellis", |b| b.iter(|| trellis_spawn_local_many(&rt)));
        g.bench_function("tokio", |b| {
            b.iter(|| tokio_spawn_local_many(&tokio_rt, &local))
        });
        g.finish();
    }
    // Two domains needed: skipped on a one-worker runtime.
    if workers >= 2 {
        let mut g = c.benchmark_group(id("domain::spawn_on_remote"));
        g.sampling_mode(SamplingMode::Flat);
        g.bench_function("trellis", |b| b.iter(|| trellis_spawn_on_remote(&rt)));
        g.bench_function("tokio", |b| b.iter(|| tokio_spawn_on_remote(&pool)));
        g.finish();
    }

    // Each runtime shuts down on its own.
    drop(rt);
    drop(local);
    drop(tokio_rt);
    drop(pool);
}

fn main() {
    common::run(bench_workers);
}
