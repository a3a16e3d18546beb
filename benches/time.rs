//! Timer latency under CPU load: Trellis against tokio (multi-thread), side by side in one
//! binary and one run.
//!
//! # Benchmark ids
//!
//! `time::latency_under_load/<workers>w/<slice>ms/<runtime>`, runtime `trellis` or `tokio`.
//!
//! | group | per iteration |
//! |---|---|
//! | `time::latency_under_load/Nw/Sms` | N workers are saturated by 8 × N tasks that each spin S ms, then `yield_now`, forever; one more task sleeps 10 ms. An iteration is one such sleep, timed from the call to `sleep` to the task running again |
//!
//! Criterion reports the mean time of a sleep (ideal: 10 ms). The overshoot of each sleep
//! (time to run again minus 10 ms) is recorded too, and its p50 / p99 over every sleep of the
//! bench (warm-up included) are printed after each group, both runtimes in one table: the
//! figure that says whether a due timer fires within about one slice.
//!
//! N is 1 and 2 (`TRELLIS_BENCH_WORKERS` overrides), S is 1 and 5. Each runtime and its load
//! are built once per case, outside the timed loop. Criterion settings are small (10 samples,
//! 0.5 s warm-up, 2 s measurement) so the binary finishes in about half a minute on 2 cores;
//! command-line flags override them.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode};

/// The sleep whose overshoot is measured.
const NAP: Duration = Duration::from_millis(10);
/// Spinning tasks per worker.
const SPINNERS_PER_WORKER: usize = 8;
/// Slice lengths, in milliseconds.
const SLICES_MS: [u64; 2] = [1, 5];

/// Spins on the clock for `d` (a CPU-bound slice that never yields the thread).
fn spin(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// The overshoots recorded by one case.
type Overshoots = Arc<Mutex<Vec<Duration>>>;

/// One runtime under test, loaded.
trait Case {
    const NAME: &'static str;
    /// Builds the runtime with `workers` workers and starts the spinning tasks.
    fn start(workers: usize, slice: Duration, stop: Arc<AtomicBool>) -> Self;
    /// Runs `iters` sleeps on a task; returns their total duration.
    fn sleeps(&self, iters: u64, overshoots: Overshoots) -> Duration;
    /// Stops the load (after `stop` was set) and shuts down.
    fn finish(self);
}

/// The measured task's body, generic over the runtime's `sleep`.
async fn nap_loop<S: Future<Output = ()>>(
    iters: u64,
    overshoots: Overshoots,
    sleep: impl Fn(Duration) -> S,
) -> Duration {
    let mut total = Duration::ZERO;
    let mut local = Vec::with_capacity(iters as usize);
    for _ in 0..iters {
        let start = Instant::now();
        sleep(NAP).await;
        let took = start.elapsed();
        local.push(took.saturating_sub(NAP));
        total += took;
    }
    overshoots.lock().unwrap().extend(local);
    total
}

struct TrellisCase {
    rt: trellis::Runtime,
    load: Vec<trellis::JoinHandle<()>>,
}

impl Case for TrellisCase {
    const NAME: &'static str = "trellis";

    fn start(workers: usize, slice: Duration, stop: Arc<AtomicBool>) -> Self {
        let rt = trellis::Runtime::builder()
            .workers(workers)
            .build()
            .unwrap();
        let load = (0..SPINNERS_PER_WORKER * workers)
            .map(|_| {
                let stop = stop.clone();
                rt.spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        spin(slice);
                        trellis::yield_now().await;
                    }
                })
            })
            .collect();
        TrellisCase { rt, load }
    }

    fn sleeps(&self, iters: u64, overshoots: Overshoots) -> Duration {
        let task = self
            .rt
            .spawn(nap_loop(iters, overshoots, trellis::time::sleep));
        self.rt.block_on(task).unwrap()
    }

    fn finish(self) {
        for task in self.load {
            self.rt.block_on(task).unwrap();
        }
    }
}

struct TokioCase {
    rt: tokio::runtime::Runtime,
    load: Vec<tokio::task::JoinHandle<()>>,
}

impl Case for TokioCase {
    const NAME: &'static str = "tokio";

    fn start(workers: usize, slice: Duration, stop: Arc<AtomicBool>) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .unwrap();
        let load = (0..SPINNERS_PER_WORKER * workers)
            .map(|_| {
                let stop = stop.clone();
                rt.spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        spin(slice);
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        TokioCase { rt, load }
    }

    fn sleeps(&self, iters: u64, overshoots: Overshoots) -> Duration {
        let task = self
            .rt
            .spawn(nap_loop(iters, overshoots, tokio::time::sleep));
        self.rt.block_on(task).unwrap()
    }

    fn finish(self) {
        for task in self.load {
            self.rt.block_on(task).unwrap();
        }
    }
}

/// Runs one case in `group`; returns its overshoots, sorted.
fn bench_case<C: Case>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    workers: usize,
    slice: Duration,
) -> Vec<Duration> {
    let stop = Arc::new(AtomicBool::new(false));
    let case = C::start(workers, slice, stop.clone());
    let overshoots: Overshoots = Arc::default();
    group.bench_function(C::NAME, |b| {
        b.iter_custom(|iters| case.sleeps(iters, overshoots.clone()))
    });
    stop.store(true, Ordering::Relaxed);
    case.finish();
    let mut all = std::mem::take(&mut *overshoots.lock().unwrap());
    all.sort();
    all
}

/// The `p`-th percentile of sorted samples (nearest rank).
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn worker_counts() -> Vec<usize> {
    match std::env::var("TRELLIS_BENCH_WORKERS") {
        Err(_) => vec![1, 2],
        Ok(list) => list
            .split(',')
            .map(|n| match n.trim().parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => panic!("TRELLIS_BENCH_WORKERS={list:?}: expected positive integers"),
            })
            .collect(),
    }
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let mut table = Vec::new();
    for workers in worker_counts() {
        for slice_ms in SLICES_MS {
            let slice = Duration::from_millis(slice_ms);
            let id = format!("time::latency_under_load/{workers}w/{slice_ms}ms");
            let mut group = c.benchmark_group(&id);
            group.sampling_mode(SamplingMode::Flat);
            let trellis = bench_case::<TrellisCase>(&mut group, workers, slice);
            let tokio = bench_case::<TokioCase>(&mut group, workers, slice);
            group.finish();
            for (name, samples) in [("trellis", &trellis), ("tokio", &tokio)] {
                if samples.is_empty() {
                    continue; // filtered out on the command line
                }
                let line = format!(
                    "{id}/{name}: overshoot p50 {:.2?} p99 {:.2?} ({} sleeps)",
                    percentile(samples, 50.0),
                    percentile(samples, 99.0),
                    samples.len()
                );
                println!("{line}");
                table.push(line);
            }
        }
    }
    c.final_summary();
    println!("\ntimer overshoot under load (10 ms sleeps):");
    for line in table {
        println!("  {line}");
    }
}
