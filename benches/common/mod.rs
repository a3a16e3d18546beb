//! Shared by the bench binaries: the worker counts, the criterion settings, the peer adapter
//! ([`peer`]) and the future that unwraps a join handle's `Result`.
//!
//! Each bench binary uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

pub(crate) mod peer;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use criterion::Criterion;

/// Worker counts: the cores we have (2) and tokio's own bench setting (4), unless
/// `TRELLIS_BENCH_WORKERS` lists others (comma-separated, e.g. `2,4,8,16` on a bigger machine).
pub(crate) const WORKER_COUNTS: [usize; 2] = [2, 4];

/// The worker counts to run: `TRELLIS_BENCH_WORKERS`, else [`WORKER_COUNTS`].
///
/// # Panics
///
/// Panics with a message naming the variable if it is not a list of positive integers.
pub(crate) fn worker_counts() -> Vec<usize> {
    match std::env::var("TRELLIS_BENCH_WORKERS") {
        Err(_) => WORKER_COUNTS.to_vec(),
        Ok(list) => list
            .split(',')
            .map(|n| match n.trim().parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => {
                    panic!("TRELLIS_BENCH_WORKERS={list:?}: expected positive integers, like 2,4,8")
                }
            })
            .collect(),
    }
}

/// Runs `bench_workers` once per worker count with the house settings (20 samples, 1 s
/// warm-up, 2 s measurement; command-line flags override them).
pub(crate) fn run(bench_workers: fn(&mut Criterion, usize)) {
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    for workers in worker_counts() {
        bench_workers(&mut c, workers);
    }
    c.final_summary();
}

/// Turns a `JoinHandle` whose output is `Result<T, E>` into a future of `T`.
pub(crate) struct Unwrapped<H>(pub(crate) H);

impl<H, T, E> Future for Unwrapped<H>
where
    H: Future<Output = Result<T, E>> + Unpin,
    E: std::fmt::Debug,
{
    type Output = T;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match Pin::new(&mut self.0).poll(cx) {
            Poll::Ready(r) => Poll::Ready(r.expect("benchmark task failed")),
            Poll::Pending => Poll::Pending,
        }
    }
}
