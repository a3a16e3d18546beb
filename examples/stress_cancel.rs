//! Stress: a hundred thousand cancellations in each state a task can be in when it is
//! cancelled, every future dropped exactly once.
//!
//! ```text
//! STRESS_SCALE=1 cargo run --release --example stress_cancel
//! ```
//!
//! `100_000 × STRESS_SCALE` aborts (`JoinHandle::abort`) per bucket, each bucket ordered by
//! channels and flags, never by sleeps:
//!
//! - `before_first_poll`: domain 1 is held by a gate task blocked on a channel while tasks
//!   pinned to it are spawned and aborted; then the gate opens. None may be polled.
//! - `parked`: tasks park (a future that never wakes) after telling the controller so; once
//!   every one has, a probe task on each domain runs (so every worker finished the polls in
//!   progress before it), then all are aborted. Each must end cancelled.
//! - `running`: a controller on domain 0 aborts a task on domain 1 while that task is inside
//!   its poll (it spins until the abort returned), then the task yields. Each must end
//!   cancelled, dropped after that poll.
//! - `racing_completion`: a task on domain 1 completes at once while the controller on domain
//!   0 aborts it after a varying spin; either outcome is fine, the drops must add up (the
//!   future once, the output once whether read or dropped by the runtime).
//!
//! Prints `RELIABILITY stress_cancel.key=value` lines; exits 1 if an invariant failed.

#[path = "stress/common.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};

use common::{Count, Report, SlotGuard, Slots};
use trellis::{DomainId, JoinHandle, Runtime};

const WORKERS: usize = 2;
/// Tasks in flight at once in each bucket.
const BATCH: usize = 1_000;

/// A future that stays pending forever, telling `parked` at its first poll (inside that poll,
/// just before it returns `Pending`).
struct ParkForever {
    parked: Option<trellis::channel::Sender<()>>,
}

impl std::future::Future for ParkForever {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if let Some(parked) = self.parked.take() {
            parked.try_send(()).expect("the controller listens");
        }
        std::task::Poll::Pending
    }
}

/// Waits (spinning, then yielding the thread) until `flag` is set.
fn spin_until_set(flag: &AtomicBool) {
    let mut spins = 0u32;
    while !flag.load(SeqCst) {
        spins += 1;
        if spins < 1_000 {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

fn batches(n: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    (0..n).step_by(BATCH).map(move |lo| lo..(lo + BATCH).min(n))
}

/// Awaits `handles` and counts (cancelled, completed, other).
async fn outcomes<T>(handles: Vec<JoinHandle<T>>) -> (usize, usize, usize) {
    let (mut cancelled, mut completed, mut other) = (0, 0, 0);
    for handle in handles {
        match handle.await {
            Ok(_) => completed += 1,
            Err(e) if e.is_cancelled() => cancelled += 1,
            Err(_) => other += 1,
        }
    }
    (cancelled, completed, other)
}

fn before_first_poll(rt: &Runtime, report: &Report, n: usize) {
    let slots = Slots::new(n);
    let polled = Count::default();
    let (mut cancelled, mut other) = (0, 0);
    for range in batches(n) {
        let (entered_tx, entered_rx) = std::sync::mpsc::channel::<()>();
        let (open_tx, open_rx) = std::sync::mpsc::channel::<()>();
        let outcome = rt.block_on(async {
            // Blocks domain 1's thread on purpose: nothing pinned there runs until it opens.
            let gate = trellis::spawn_on(DomainId::new(1), move || async move {
                entered_tx.send(()).unwrap();
                open_rx.recv().unwrap();
            });
            entered_rx.recv().unwrap();
            let handles: Vec<JoinHandle<()>> = range
                .map(|i| {
                    let guard = slots.guard(i);
                    let polled = polled.clone();
                    trellis::spawn_on(DomainId::new(1), move || async move {
                        let _guard = guard;
                        polled.add();
                    })
                })
                .collect();
            for handle in &handles {
                handle.abort();
            }
            open_tx.send(()).unwrap();
            gate.await.unwrap();
            outcomes(handles).await
        });
        cancelled += outcome.0;
        other += outcome.1 + outcome.2;
    }
    report.check_eq("before_first_poll_cancelled", cancelled, n);
    report.check_eq("before_first_poll_other_outcome", other, 0);
    report.check_eq("before_first_poll_polled", polled.get(), 0);
    slots.check(report, "before_first_poll");
}

fn parked(rt: &Runtime, report: &Report, n: usize) {
    let slots = Slots::new(n);
    let (mut cancelled, mut other) = (0, 0);
    for range in batches(n) {
        let outcome = rt.block_on(async {
            let (parked_tx, parked_rx) = trellis::channel::unbounded::<()>();
            let len = range.len();
            let handles: Vec<JoinHandle<()>> = range
                .map(|i| {
                    let guard = slots.guard(i);
                    let park = ParkForever {
                        parked: Some(parked_tx.clone()),
                    };
                    let body = async move {
                        let _guard = guard;
                        park.await;
                    };
                    if i % 2 == 0 {
                        trellis::spawn(body)
                    } else {
                        trellis::spawn_on(DomainId::new(i % WORKERS), move || body)
                    }
                })
                .collect();
            for _ in 0..len {
                parked_rx.recv().await.unwrap();
            }
            // Each worker runs its probe only after the poll it was in returned.
            for d in 0..WORKERS {
                trellis::spawn_on(DomainId::new(d), || async {})
                    .await
                    .unwrap();
            }
            for handle in &handles {
                handle.abort();
            }
            outcomes(handles).await
        });
        cancelled += outcome.0;
        other += outcome.1 + outcome.2;
    }
    report.check_eq("parked_cancelled", cancelled, n);
    report.check_eq("parked_other_outcome", other, 0);
    slots.check(report, "parked");
}

/// A task for the `running` bucket: tells `started`, spins until `aborted`, then yields (its
/// poll returns `Pending` with the abort already recorded).
async fn run_until_aborted(guard: SlotGuard, started: Arc<AtomicBool>, aborted: Arc<AtomicBool>) {
    let _guard = guard;
    started.store(true, SeqCst);
    spin_until_set(&aborted);
    trellis::yield_now().await;
}

fn running(rt: &Runtime, report: &Report, n: usize) {
    let slots = Slots::new(n);
    let (mut cancelled, mut other) = (0, 0);
    for range in batches(n) {
        let slots = slots.clone();
        let controller = rt.spawn_on(DomainId::new(0), move || async move {
            let flags: Vec<(Arc<AtomicBool>, Arc<AtomicBool>)> =
                range.clone().map(|_| Default::default()).collect();
            let handles: Vec<JoinHandle<()>> = range
                .zip(&flags)
                .map(|(i, (started, aborted))| {
                    let (guard, started, aborted) =
                        (slots.guard(i), started.clone(), aborted.clone());
                    trellis::spawn_on(DomainId::new(1), move || {
                        run_until_aborted(guard, started, aborted)
                    })
                })
                .collect();
            // Domain 1 runs them one after the other: abort each while it is in its poll.
            for (handle, (started, aborted)) in handles.iter().zip(&flags) {
                spin_until_set(started);
                handle.abort();
                aborted.store(true, SeqCst);
            }
            outcomes(handles).await
        });
        let outcome = rt.block_on(controller).expect("the controller");
        cancelled += outcome.0;
        other += outcome.1 + outcome.2;
    }
    report.check_eq("running_cancelled", cancelled, n);
    report.check_eq("running_other_outcome", other, 0);
    slots.check(report, "running");
}

fn racing_completion(rt: &Runtime, report: &Report, n: usize) {
    let futures = Slots::new(n);
    let outputs = Slots::new(n);
    let (mut cancelled, mut completed, mut other) = (0, 0, 0);
    for range in batches(n) {
        let (futures, outputs) = (futures.clone(), outputs.clone());
        let controller = rt.spawn_on(DomainId::new(0), move || async move {
            let handles: Vec<JoinHandle<SlotGuard>> = range
                .map(|i| {
                    let (guard, output) = (futures.guard(i), outputs.guard(i));
                    let handle = trellis::spawn_on(DomainId::new(1), move || async move {
                        let _guard = guard;
                        output
                    });
                    for _ in 0..(i % 64) * 8 {
                        std::hint::spin_loop();
                    }
                    handle.abort();
                    handle
                })
                .collect();
            outcomes(handles).await
        });
        let outcome = rt.block_on(controller).expect("the controller");
        cancelled += outcome.0;
        completed += outcome.1;
        other += outcome.2;
    }
    report.check_eq("racing_completion_outcomes", cancelled + completed, n);
    report.value("racing_completion_cancelled", cancelled);
    report.value("racing_completion_completed", completed);
    report.check_eq("racing_completion_other_outcome", other, 0);
    futures.check(report, "racing_completion");
    outputs.check(report, "racing_completion_output");
}

fn main() {
    let report = Report::new("stress_cancel");
    let baseline = common::warm_up(WORKERS);
    let n = common::scaled(100_000) as usize;
    report.value("cancellations_per_bucket", n);
    let rt = common::runtime(WORKERS);
    before_first_poll(&rt, &report, n);
    parked(&rt, &report, n);
    running(&rt, &report, n);
    racing_completion(&rt, &report, n);
    drop(rt);
    report.check_eq(
        "runtime_threads_after_drop",
        common::runtime_threads_after_drop(),
        0,
    );
    report.check_memory(&baseline);
    report.finish();
}
