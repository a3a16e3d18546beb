//! The runtime's tuning constants, in one place, each with the reason for its value.
//!
//! Every constant here trades one cost against another (latency against throughput, fairness
//! against locality, a spin's wasted CPU against a sleep's wake-up cost); the module that uses
//! a constant names it through `use crate::tuning::NAME`, so a search for the name leads here.
//! The values are tokio's where the mechanism is tokio's (and the benches compare against
//! tokio with its defaults), and measured on the 2-core dev VM otherwise (`BENCHMARKS.md`).
//! Protocol encodings (state-word bits, sentinels) are not tuning and stay with their protocol.
//!
//! | constant | value | used in |
//! |---|---|---|
//! | [`MAX_LIFO_POLLS`] | 3 | `scheduler/worker.rs` (run loop) |
//! | [`MAX_JOIN_INLINE_DEPTH`] | 16 | `scheduler/worker.rs` (`run_joined`) |
//! | [`GLOBAL_QUEUE_INTERVAL`] | 31 ticks | `scheduler/worker.rs` (run loop) |
//! | [`BUDGET`] | 128 units | `scheduler/coop.rs` |
//! | [`SEARCH_ROUNDS`] | 4 | `scheduler/worker.rs` (idle search) |
//! | [`PARK_SPIN`] | 10 µs | `scheduler/worker.rs` (`spin_before_sleep`) |
//! | [`SPIN_MIN_HITS`], [`SPIN_PROBE_EVERY`], [`SPIN_PROBE_WINDOW`], [`SPIN_PAUSES`] | 4 of 8, 16, 1 ms, 16 | `scheduler/worker.rs` (`spin_before_sleep`) |
//! | [`TIMER_RESOLUTION`] | 1 ms | `time/queue.rs` |
//! | [`MAX_BLOCKING_THREADS`] | 512 | `builder.rs` (default of `Builder::max_blocking_threads`) |
//! | [`BLOCKING_KEEP_ALIVE`] | 10 s | `builder.rs` (default of `Builder::blocking_keep_alive`) |
//! | [`WAKE_BATCH`] | 32 | `channel/waiters.rs` |
//! | [`NAME_SHARDS`] | 16 | `instrument.rs` |
//! | [`PRUNE_MIN`] | 16 | `scope/node.rs` |
//! | [`NODE_CACHE`] | 16 | `scope/recycle.rs` |

use std::time::Duration;

/// Consecutive LIFO-slot polls before the worker goes back to its queue.
///
/// Why 3: the LIFO slot runs a just-woken task next (a message ping-pong stays on one warm
/// core), but two tasks that keep waking each other through it would starve the rest of the
/// queue; tokio's `MAX_LIFO_POLLS_PER_TICK` is 3 for the same reason.
pub(crate) const MAX_LIFO_POLLS: u8 = 3;

/// Joined tasks a worker thread runs nested inside other polls at once (join-inline,
/// `scheduler/worker.rs`, `run_joined`).
///
/// Why 16: each level is one poll's frames on the worker's stack (a few hundred bytes for
/// small futures, more for big ones), and divide-and-conquer code nests one level per fork
/// only while the forked half still sits in the LIFO slot (the bottom levels of the recursion:
/// a deeper fork was displaced by the ones below it). A chain of tasks each awaiting the next
/// one it spawned would nest without bound; at the 17th level the join waits as usual.
pub(crate) const MAX_JOIN_INLINE_DEPTH: u8 = 16;

/// Every this many ticks a worker takes from the injector (the global queue) before its own.
///
/// Why 31: a worker with a busy local queue would otherwise never look at remote spawns; a
/// prime keeps the check from falling in step with periodic work; tokio's default
/// `global_queue_interval` is 31.
pub(crate) const GLOBAL_QUEUE_INTERVAL: u32 = 31;

/// Units a task may spend in one poll on a worker before its next runtime operation yields.
///
/// Why 128: high enough that a task's yield (a return to the queue, a few hundred ns) is rare
/// against its work, low enough that one hot task holds its worker for well under a
/// millisecond, so timers and other tasks keep their latency; tokio's coop budget is 128.
pub(crate) const BUDGET: u8 = 128;

/// Search rounds (over every other worker and the injector) before an idle worker parks.
///
/// Why 4: a steal attempt can miss a task being pushed at that moment; a few rounds catch the
/// common case of a spawn burst on another worker without keeping an idle worker awake long
/// (each round is a handful of atomic loads per worker).
pub(crate) const SEARCH_ROUNDS: u32 = 4;

/// How long a worker polls its park token before it sleeps, when spinning pays
/// (`scheduler/worker.rs`, "Waking a pinned task on another domain").
///
/// Why 10 µs: a cross-thread hop between two spinning workers takes about 1-1.5 µs on the dev
/// VM, a futex or driver wake-up 5-10 µs; spinning for about one wake-up's cost catches a
/// quick reply (cross-domain ping-pong) and wastes at most that much when none comes.
pub(crate) const PARK_SPIN: Duration = Duration::from_micros(10);

/// `spin_before_sleep` spins while at least this many of the last 8 spins saw a token arrive.
///
/// Why 4 of 8: spin only where it paid off at least half of the time lately, so a worker
/// that waits for work that never comes soon sleeps at once (an idle runtime must not spin).
pub(crate) const SPIN_MIN_HITS: u32 = 4;

/// Otherwise `spin_before_sleep` spins (a probe) in one [`SPIN_PROBE_WINDOW`] of every this
/// many, windows counted on wall-clock time from the runtime's start, the same for every worker.
///
/// Why 16: a probe now and then notices when spinning starts to pay again, at a cost of about
/// one park in 16 spinning for [`PARK_SPIN`].
pub(crate) const SPIN_PROBE_EVERY: u32 = 16;

/// The length of one probe window (see [`SPIN_PROBE_EVERY`]).
///
/// Why 1 ms: long enough for tens of cross-domain round trips, so that two workers that only
/// gain by spinning together both probe, hit, and keep spinning (with per-worker park counters
/// instead, two such workers stayed out of phase: `chan::cross_domain_ping_pong` at 2 workers
/// settled at 55-105 ms instead of 12-26 ms); short enough that a probe comes every 16 ms.
pub(crate) const SPIN_PROBE_WINDOW: Duration = Duration::from_millis(1);

/// Pause instructions between two looks at the park token.
///
/// Why 16: about 0.5 µs on the dev VM, well under one cross-thread hop, so a token is seen
/// soon after it arrives without hammering its cache line.
pub(crate) const SPIN_PAUSES: u32 = 16;

/// The timer resolution: after a fire at `now`, the next one is not before `now + RESOLUTION`
/// (the protocol is written up in `time/queue.rs`).
///
/// Why 1 ms: it bounds how often timers are fired while deadlines keep falling due (at most
/// once per resolution, not at every poll boundary), and a sleep fires at most this late;
/// tokio's timer wheel has the same granularity.
pub(crate) const TIMER_RESOLUTION: Duration = Duration::from_millis(1);

/// The blocking pool's default size (`Builder::max_blocking_threads`).
///
/// Why 512: blocking jobs mostly wait (files, DNS, foreign calls), so the pool is sized for
/// concurrency, not cores; a cap still turns a runaway into a queue instead of thousands of
/// threads; tokio's default.
pub(crate) const MAX_BLOCKING_THREADS: usize = 512;

/// How long an idle blocking thread waits for work before it exits
/// (`Builder::blocking_keep_alive`).
///
/// Why 10 s: a burst of blocking calls reuses the threads of the previous burst instead of
/// spawning new ones, and an idle program still returns to its worker threads alone; tokio's
/// default.
pub(crate) const BLOCKING_KEEP_ALIVE: Duration = Duration::from_secs(10);

/// How many wakers a channel's `notify_all` collects per lock acquisition (they are called
/// with the lock released, so a waker that re-enters the channel cannot deadlock).
///
/// Why 32: the batch lives on the stack; 32 wakers amortise the lock well and keep the frame
/// small; tokio's `WakeList` holds 32.
pub(crate) const WAKE_BATCH: usize = 32;

/// Shards of the instrument's task-name table (a power of two).
///
/// Why 16: more shards than workers on the machines we target, so two workers naming tasks
/// at once rarely share a lock; the table stays a few cache lines.
pub(crate) const NAME_SHARDS: usize = 16;

/// A scope's child list is pruned of dead entries no more often than when it doubles, and not
/// below this length.
///
/// Why 16: pruning is a walk of the list; doing it at doublings keeps adding a child O(1)
/// amortised, and short lists are not worth walking.
pub(crate) const PRUNE_MIN: usize = 16;

/// Scope nodes a thread keeps for reuse (`scope/recycle.rs`).
///
/// Why 16: scopes nest a few deep in one task, and a worker runs one task at a time, so a
/// handful of nodes covers the scopes entered and left in a loop; each cached node is about
/// 150 bytes, so the cache stays under 3 KB a thread.
#[cfg_attr(trellis_loom, allow(dead_code))] // the cache is off under loom
pub(crate) const NODE_CACHE: usize = 16;
