//! What the stress examples share (each includes this file with `#[path]`): the `STRESS_SCALE`
//! knob, the counting global allocator, the `RELIABILITY key=value` report, drop slots that
//! check "dropped exactly once" per future, and probes for worker deaths and open descriptors.
//!
//! Every count of a stress example is multiplied by `STRESS_SCALE` (a float, default 1.0, at
//! least one of each thing whatever the scale). Each example prints one `RELIABILITY key=value`
//! line per figure and exits with status 1 when an invariant failed (after printing them all);
//! `.ci/run` tabulates the lines.
//!
//! Memory: the allocator counts the process's live bytes. An example takes its baseline after
//! a warm-up runtime was created and dropped (that first runtime initialises what lives until
//! the process exits: std's stdout buffer, thread-locals of the main thread, lazily made
//! statics), and after its last runtime dropped the live bytes must be back to that baseline
//! within [`MEMORY_TOLERANCE`]. Both figures are taken after [`collect_epoch_garbage`]:
//! crossbeam-deque hands a queue's old buffer to crossbeam-epoch's global collector when it
//! grows, which frees it only once later pins advance the epoch, so without that step the
//! heap holds up to a few deferred buffers of the dropped runtimes (tens of KiB, more at
//! large scales) that are no leak.
#![allow(dead_code)]

#[path = "../../tests/support/alloc.rs"]
mod alloc;

use std::fmt::Display;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use trellis::{DomainId, Runtime};

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

/// The thread name of every stress runtime: workers are `stress-rt-0`, `stress-rt-1`, ...,
/// blocking threads `stress-rt-blocking` (counted in `/proc` by [`live_runtime_threads`]).
pub(crate) const THREAD_NAME: &str = "stress-rt";

/// How far above its baseline the live heap may be once every runtime dropped: allocations
/// made lazily, once per process, by the first use of something in a later phase than the
/// warm-up (a `std::io` buffer, a thread-local of the main thread). A leak of one task cell
/// (about 128 bytes) per 10 000 spawned at scale 1 exceeds it.
pub(crate) const MEMORY_TOLERANCE: isize = 8 * 1024;

/// Frees what crossbeam-epoch's global collector holds for dropped runtimes: every pin and
/// flush from this thread (the only participant left once the workers exited) advances the
/// epoch and runs a few deferred destructors. Allocates nothing that outlives it.
pub(crate) fn collect_epoch_garbage() {
    for _ in 0..1024 {
        crossbeam_epoch::pin().flush();
    }
}

/// How long an example may run before its watchdog ends it (at scale 1 each takes a few
/// seconds in release, at 0.1 under valgrind well under a minute).
pub(crate) const WATCHDOG: std::time::Duration = std::time::Duration::from_secs(600);

/// `STRESS_SCALE` (a positive float; 1.0 when unset or unreadable).
pub(crate) fn scale() -> f64 {
    std::env::var("STRESS_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .unwrap_or(1.0)
}

/// `n` times [`scale`], at least 1.
pub(crate) fn scaled(n: u64) -> u64 {
    ((n as f64 * scale()).round() as u64).max(1)
}

/// The runtime of the stress examples: `workers` workers named [`THREAD_NAME`].
pub(crate) fn runtime(workers: usize) -> Runtime {
    Runtime::builder()
        .workers(workers)
        .thread_name(THREAD_NAME)
        .build()
        .expect("build the stress runtime")
}

/// The `RELIABILITY` lines of one example, and the invariants that failed.
#[derive(Debug)]
pub(crate) struct Report {
    example: &'static str,
    failed: Mutex<Vec<String>>,
}

impl Report {
    /// A report for `example` (the name `.ci/run`'s table shows); prints the scale and arms a
    /// [`watchdog`] of [`WATCHDOG`].
    pub(crate) fn new(example: &'static str) -> Report {
        watchdog(example, WATCHDOG);
        let report = Report {
            example,
            failed: Mutex::new(Vec::new()),
        };
        report.value("stress_scale", scale());
        report
    }

    /// Prints `RELIABILITY example.key=value`.
    pub(crate) fn value(&self, key: &str, value: impl Display) {
        println!("RELIABILITY {}.{key}={value}", self.example);
    }

    /// Prints `key=value` and records a failure unless `ok`.
    pub(crate) fn check(&self, key: &str, value: impl Display, ok: bool, invariant: &str) {
        self.value(key, &value);
        if !ok {
            self.failed
                .lock()
                .unwrap()
                .push(format!("{key}={value}: expected {invariant}"));
        }
    }

    /// Prints `key=actual` and records a failure unless it equals `expected`.
    pub(crate) fn check_eq<T: Display + PartialEq>(&self, key: &str, actual: T, expected: T) {
        let ok = actual == expected;
        let invariant = format!("{expected}");
        self.check(key, actual, ok, &invariant);
    }

    /// Prints the memory figures against `baseline` and checks the heap is back to it.
    pub(crate) fn check_memory(&self, baseline: &Baseline) {
        collect_epoch_garbage();
        let after = alloc::live_bytes();
        self.value("static_bytes", baseline.bytes - baseline.before_warm_up);
        self.value("baseline_bytes", baseline.bytes);
        self.value("peak_allocs", alloc::total_allocs() - baseline.allocs);
        self.check(
            "live_bytes_after_drop",
            after,
            after - baseline.bytes <= MEMORY_TOLERANCE,
            &format!("<= baseline_bytes + {MEMORY_TOLERANCE}"),
        );
        self.value(
            "live_blocks_over_baseline",
            alloc::live_blocks() - baseline.blocks,
        );
    }

    /// Prints the verdict and exits: status 1 if an invariant failed.
    pub(crate) fn finish(self) -> ! {
        let failed = std::mem::take(&mut *self.failed.lock().unwrap());
        self.value("ok", failed.is_empty());
        if failed.is_empty() {
            std::process::exit(0);
        }
        for failure in &failed {
            eprintln!("{}: invariant failed: {failure}", self.example);
        }
        std::process::exit(1);
    }
}

/// The live heap after the warm-up, against which the end is compared.
#[derive(Debug)]
pub(crate) struct Baseline {
    before_warm_up: isize,
    bytes: isize,
    blocks: isize,
    allocs: u64,
}

/// Creates and drops a warm-up runtime of `workers` (a task, a timer and a channel on each
/// domain), then takes the [`Baseline`].
pub(crate) fn warm_up(workers: usize) -> Baseline {
    let before_warm_up = alloc::live_bytes();
    let rt = runtime(workers);
    rt.block_on(async {
        let (tx, rx) = trellis::channel::unbounded::<usize>();
        for d in 0..workers {
            let tx = tx.clone();
            trellis::spawn_on(DomainId::new(d), move || async move {
                trellis::time::sleep(std::time::Duration::from_millis(1)).await;
                tx.send(d).await.unwrap();
            })
            .await
            .unwrap();
        }
        for _ in 0..workers {
            rx.recv().await.unwrap();
        }
    });
    drop(rt);
    collect_epoch_garbage();
    Baseline {
        before_warm_up,
        bytes: alloc::live_bytes(),
        blocks: alloc::live_blocks(),
        allocs: alloc::total_allocs(),
    }
}

/// Per-item drop counts, to check that every future was dropped exactly once (a double drop
/// and a missing one cannot cancel out, as they could in a single counter).
#[derive(Debug)]
pub(crate) struct Slots(Box<[AtomicU8]>);

impl Slots {
    /// `n` slots, all undropped.
    pub(crate) fn new(n: usize) -> Arc<Slots> {
        Arc::new(Slots((0..n).map(|_| AtomicU8::new(0)).collect()))
    }

    /// A guard that counts one drop of item `i` when dropped.
    pub(crate) fn guard(self: &Arc<Self>, i: usize) -> SlotGuard {
        SlotGuard {
            slots: self.clone(),
            i,
        }
    }

    /// (items dropped exactly once, items never dropped, items dropped more than once).
    pub(crate) fn tally(&self) -> (usize, usize, usize) {
        let (mut once, mut never, mut more) = (0, 0, 0);
        for slot in self.0.iter() {
            match slot.load(SeqCst) {
                0 => never += 1,
                1 => once += 1,
                _ => more += 1,
            }
        }
        (once, never, more)
    }

    /// Checks that all `n` items were dropped exactly once, reporting `{prefix}_dropped_once`,
    /// `{prefix}_never_dropped` and `{prefix}_dropped_twice`.
    pub(crate) fn check(&self, report: &Report, prefix: &str) {
        let (once, never, more) = self.tally();
        report.check_eq(&format!("{prefix}_dropped_once"), once, self.0.len());
        report.check_eq(&format!("{prefix}_never_dropped"), never, 0);
        report.check_eq(&format!("{prefix}_dropped_twice"), more, 0);
    }
}

/// Counts one drop of its item.
#[derive(Debug)]
pub(crate) struct SlotGuard {
    slots: Arc<Slots>,
    i: usize,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.slots.0[self.i].fetch_add(1, SeqCst);
    }
}

/// A shared counter.
#[derive(Clone, Debug, Default)]
pub(crate) struct Count(Arc<AtomicUsize>);

impl Count {
    pub(crate) fn add(&self) {
        self.0.fetch_add(1, SeqCst);
    }
    pub(crate) fn get(&self) -> usize {
        self.0.load(SeqCst)
    }
}

/// Which kernel thread runs each domain: compared before and after a phase, a worker that
/// died shows as a domain now run by another thread, or as a thread gone from `/proc` (a
/// domain whose worker died unreplaced would never answer the probe: the watchdog ends that).
#[derive(Debug, PartialEq)]
pub(crate) struct Workers {
    tids: Vec<String>,
}

impl Workers {
    /// Asks every domain of `rt` for its thread.
    pub(crate) fn probe(rt: &Runtime) -> Workers {
        let tids = rt.block_on(async {
            let mut tids = Vec::new();
            for d in 0..trellis::domain::count() {
                let on = trellis::spawn_on(DomainId::new(d), || async { current_tid() });
                tids.push(on.await.expect("a domain answers"));
            }
            tids
        });
        Workers { tids }
    }

    /// Distinct worker threads seen (one per domain when the probe can read `/proc`).
    pub(crate) fn distinct(&self) -> usize {
        let mut tids: Vec<&String> = self.tids.iter().filter(|t| !t.is_empty()).collect();
        tids.sort();
        tids.dedup();
        tids.len()
    }

    /// Workers of `before` that died since: domains now run by another thread, or whose
    /// thread is no longer listed in `/proc/self/task`.
    pub(crate) fn deaths_since(&self, before: &Workers) -> usize {
        before
            .tids
            .iter()
            .zip(&self.tids)
            .filter(|(was, is)| {
                was != is || !std::path::Path::new("/proc/self/task").join(was).exists()
            })
            .count()
    }
}

/// The kernel's id of the current thread (from `/proc/thread-self`, Linux; empty elsewhere).
fn current_tid() -> String {
    std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|link| {
            link.file_name()
                .map(|tid| tid.to_string_lossy().into_owned())
        })
        .unwrap_or_default()
}

/// Live threads of the stress runtimes, workers and blocking threads alike.
pub(crate) fn live_runtime_threads() -> usize {
    live_threads(|name| name.starts_with(THREAD_NAME))
}

/// Live threads of this process whose name passes `pick` (Linux; 0 elsewhere).
fn live_threads(pick: impl Fn(&str) -> bool) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    dir.flatten()
        .filter(|entry| {
            std::fs::read_to_string(entry.path().join("comm"))
                .is_ok_and(|comm| pick(comm.trim_end()))
        })
        .count()
}

/// Open file descriptors of this process (`/proc/self/fd`, Linux; 0 elsewhere).
pub(crate) fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count())
}

/// Live threads of the stress runtimes once they had a moment to leave `/proc`: right after a
/// join the kernel may still list an exited thread briefly. Waits for an outcome (at most 5 s),
/// never for ordering.
pub(crate) fn runtime_threads_after_drop() -> usize {
    let start = std::time::Instant::now();
    loop {
        let live = live_runtime_threads();
        if live == 0 || start.elapsed() > std::time::Duration::from_secs(5) {
            if live != 0 {
                let _ = live_threads(|name| {
                    eprintln!("live thread after drop: {name}");
                    false
                });
            }
            return live;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// Replaces the panic hook with one that counts panics silently (the stress examples inject
/// thousands); returns the count.
pub(crate) fn count_panics_quietly() -> Count {
    let panics = Count::default();
    let counted = panics.clone();
    std::panic::set_hook(Box::new(move |_| counted.add()));
    panics
}

/// Exits the process with status 2 and a message if it is still running after `limit`: a hang
/// fails the example instead of stalling `.ci/run`.
fn watchdog(example: &'static str, limit: std::time::Duration) {
    std::thread::Builder::new()
        .name("watchdog".into())
        .spawn(move || {
            std::thread::sleep(limit);
            eprintln!("{example}: still running after {limit:?} (hang?): exiting");
            std::process::exit(2);
        })
        .expect("spawn the watchdog");
}
