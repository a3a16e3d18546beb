//! Shared by the bench binaries: the worker counts, the criterion settings, and the adapter
//! that unwraps a join handle's `Result`.
//!
//! Each bench binary uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use criterion::Criterion;

/// Worker counts: the cores we have (2) and tokio's own bench setting (4).
pub(crate) const WORKER_COUNTS: [usize; 2] = [2, 4];

/// Runs `bench_workers` once per worker count with the house settings (20 samples, 1 s
/// warm-up, 2 s measurement; command-line flags override them).
pub(crate) fn run(bench_workers: fn(&mut Criterion, usize)) {
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    for workers in WORKER_COUNTS {
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
