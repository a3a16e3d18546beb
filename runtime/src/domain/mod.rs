//! Domains: each worker thread hosts one, with its own pinned tasks and domain-local state, the
//! Rust analogue of a Python sub-interpreter.
//!
//! A *pinned* task ([`spawn_local`], [`spawn_on`]) may be `!Send`: it is polled and dropped only
//! on its home domain's thread. `Send` tasks ([`spawn`](crate::spawn)) are shared between domains
//! by work stealing. Domains talk through [channels](crate::channel) or by spawning on each other.
//!
//! # Guarantees
//!
//! - **Pinned stays home.** A pinned task is polled only on its domain's worker thread, and its
//!   future (and its output, unless a `JoinHandle` takes it) is dropped there: when it completes,
//!   when it is aborted from another thread (the abort is routed to the domain), and at shutdown.
//!   The one exception: a `spawn_on` that arrives after its domain has shut down never builds its
//!   future; the `Send` closure is dropped on the spawning thread and the handle is cancelled.
//! - **Never stolen.** Pinned tasks wait in their domain's own queue; other workers never see
//!   them.
//! - **Fairness.** When a domain has both pinned tasks and stealable work ready, its worker
//!   alternates between the two, so at least every second task it runs is pinned and at least
//!   every second is stealable: a busy stealable workload cannot starve the domain's pinned
//!   tasks, nor the reverse.
//!
//! # Protocol: routing and shutdown
//!
//! 1. A pinned task's route (in its header) names its domain. Scheduling it on the home thread
//!    appends to the domain's ready queue (plain links, no atomic read-modify-write). From any
//!    other thread the entry is pushed on the domain's inbox (a lock-free stack, one
//!    compare-and-swap) and the worker is unparked. Both are linked through the tasks' own
//!    cells, so neither allocates (`inbox.rs`, with its protocol). The worker moves the
//!    inbox to the back of its ready queue at every tick, and before parking it checks the
//!    inbox; since the unpark follows the push and sets the worker's park token, a wake is
//!    never lost (the parker protocol, `scheduler/park.rs`).
//! 2. Each domain counts its incomplete pinned tasks (`live_pinned`: incremented at spawn,
//!    decremented at completion, which happens at home). At shutdown the worker cancels, on its
//!    own thread, everything in its queues and inbox and every idle pinned task of its domain
//!    (they sit in the domain's own shard of the owned-task list), and keeps doing so until the
//!    count is zero: an entry still in flight from another thread arrives in the inbox and is
//!    cancelled too. Then it sets `closed`, re-reads the count (a `spawn_on` racing the close
//!    either saw `closed` and cancels its unpolled task, or was counted and will arrive),
//!    closes the inbox (a later push is refused and its entry released by its sender) and
//!    exits. Domain-local values are dropped last, on the same thread.
//!
//! The mechanism is in `home.rs`: `Home`, the home thread's side (ready queue, the inbox's
//! taking side, domain-local values, the shutdown loop of step 2), and `Mailbox`, the side other
//! threads touch (the inbox's pushing side, `live_pinned`, `closed`); the two queues are in
//! `inbox.rs`. The worker loop (`scheduler/worker.rs`) only
//! decides when to look at the pinned queue.
//!
//! The tests `tests/domain_*.rs` check the thread of every poll and every drop under stress.

pub(crate) mod home;
mod inbox;
mod local;

pub use local::{AccessError, DomainLocal};

pub use crate::spawn::{spawn_local, spawn_on};

use std::fmt;

use crate::scheduler::context;

/// Names a domain (a worker thread) of a runtime: `DomainId::new(0)` .. `DomainId::new(count() - 1)`.
///
/// # Examples
///
/// ```
/// use trellis::DomainId;
///
/// let id = DomainId::new(1);
/// assert_eq!(id.index(), 1);
/// assert_eq!(format!("{id:?}"), "DomainId(1)");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DomainId(usize);

impl DomainId {
    /// The domain with this index. Whether it exists depends on the runtime: operations on an
    /// index `>= count()` fail with a clear message.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trellis::DomainId::new(3).index(), 3);
    /// ```
    pub const fn new(index: usize) -> DomainId {
        DomainId(index)
    }

    /// The index of this domain (its worker's index).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trellis::DomainId::new(2).index(), 2);
    /// ```
    pub const fn index(self) -> usize {
        self.0
    }
}

impl fmt::Debug for DomainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DomainId({})", self.0)
    }
}

impl fmt::Display for DomainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "domain {}", self.0)
    }
}

/// The domain the current thread hosts: `Some` on a worker thread, `None` elsewhere (a
/// `block_on` thread, the blocking pool, a plain thread).
///
/// # Examples
///
/// ```
/// trellis::run(async {
///     assert_eq!(trellis::domain::current(), None); // block_on runs on the caller's thread
///     let on_worker = trellis::spawn(async { trellis::domain::current() }).await.unwrap();
///     assert!(on_worker.is_some());
/// });
/// ```
pub fn current() -> Option<DomainId> {
    context::with_core(|core| core.map(|core| DomainId(core.index())))
}

/// The number of domains (worker threads) of the current runtime.
///
/// # Panics
///
/// Panics outside a Trellis runtime (use [`Runtime::workers`](crate::Runtime::workers) there).
///
/// # Examples
///
/// ```
/// let rt = trellis::Runtime::builder().workers(3).build().unwrap();
/// assert_eq!(rt.block_on(async { trellis::domain::count() }), 3);
/// ```
pub fn count() -> usize {
    context::expect_runtime("trellis::domain::count", |shared| shared.workers())
}
