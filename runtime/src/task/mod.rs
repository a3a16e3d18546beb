//! Tasks: one allocation per spawned future, a state word, a custom waker, join handles.
//!
//! # Layout
//!
//! A task is one heap block, `Cell<F>` (`raw.rs`): a type-erased [`Header`] followed by the
//! stage (the future, then its output). The header holds the state word (`state.rs`), a vtable
//! of the monomorphised functions, the scheduler the task belongs to, the links of the owned-task
//! list (`owned.rs`) and the join waker slot: 64 bytes on 64-bit targets. A pinned task's cell
//! also holds, right after the header, the link of its entry in its domain's queues
//! (`domain/inbox.rs`); the other cells go straight on to the stage.
//!
//! # The scheduler seam
//!
//! The harness reaches its runtime only through the [`Schedule`](schedule::Schedule) trait
//! (`schedule.rs`): submit an entry, a shard hint for the owned list, release at completion,
//! the instrument hooks. Calls go down, from `task/` to the scheduler, never the reverse
//! through a concrete type.
//!
//! # Protocol
//!
//! Every transition is one atomic step on the state word, so they are totally ordered.
//!
//! 1. **References.** The block is freed when the count in the state word drops to zero. The
//!    holders are: the owned-task list (from the first time the task goes idle until it
//!    completes), the `JoinHandle` (until dropped), every
//!    `Waker`, and every queue entry ([`Notified`]), including the one a runner holds while
//!    polling. The runner polls with a *borrowed* waker made from its own reference, so a poll
//!    costs no reference-count traffic.
//! 2. **Scheduling.** A wake sets `NOTIFIED`. If the task was idle (neither `NOTIFIED` nor
//!    `RUNNING` nor `COMPLETE`), the waker also creates a queue entry and submits it; otherwise the
//!    wake coalesces with the pending one. A wake that lands while `RUNNING` only sets `NOTIFIED`;
//!    the runner, leaving `RUNNING` after a `Pending` poll, sees it and resubmits its own entry
//!    (to the back of its queue: a task that wakes itself yields). So each task has at most one
//!    queue entry, and a wake is never lost: either the waker submits, or the runner resubmits.
//! 3. **Running.** Popping an entry clears `NOTIFIED` and sets `RUNNING`, giving the runner
//!    exclusive access to the stage until it leaves `RUNNING` (`Pending`) or sets `COMPLETE`.
//! 4. **Completion.** The runner stores the output, then sets `COMPLETE` in one RMW that reads
//!    `JOIN_INTEREST` and `JOIN_WAKER`: without interest it drops the output itself; with a
//!    registered join waker it wakes it. It then leaves the owned list and drops its references.
//! 5. **Join waker slot.** While `JOIN_WAKER` is clear the slot belongs to the handle, which may
//!    write it and then hand it over by setting the bit (failing if `COMPLETE` is set). To replace
//!    the waker it clears the bit first (failing if `COMPLETE`). Once `COMPLETE` is set the slot is
//!    only read. This is the lock-free protocol tokio uses; no waker is read while being written.
//! 6. **Cancellation.** `abort()` sets `CANCELLED`; if the task was idle it also submits an entry,
//!    so the runner that pops it drops the future instead of polling it (on the right thread). A
//!    task cancelled during its poll is cancelled by that runner right after the poll. Shutdown
//!    either finds the task idle and takes it (`RUNNING | CANCELLED`) to drop it on the spot, or
//!    leaves it to its runner or queue, which the shutdown drains.
//! 7. **Panics** in `poll`, or in the future's `Drop`, are caught; the output becomes
//!    `JoinError::Panic`. The worker lives on.
//! 8. **Join-inline.** A `JoinHandle` polled before its task completed asks the scheduler
//!    ([`Schedule::run_joined`](schedule::Schedule::run_joined)) to run the task now. The
//!    scheduler does so only if the task's queue entry is the one in the polling worker's LIFO
//!    slot, which it takes with a compare-and-swap on the task's pointer: it then owns that
//!    entry exactly as if its run loop had popped it, so steps 1-7 hold unchanged (nothing on
//!    the state word differs). The task is polled with its own task id and budget, in no
//!    cancel scope of the joiner, nested at most `MAX_JOIN_INLINE_DEPTH` deep; the handle then
//!    reads the output as usual, or registers its waker if the task went idle.
//!
//! The loom models in `state.rs` check steps 2-6 on the bare state word.

mod error;
mod join;
mod made;
pub(crate) mod owned;
mod raw;
pub(crate) mod schedule;
pub(crate) mod state;
mod yield_now;

pub use error::JoinError;
pub use join::JoinHandle;
pub(crate) use made::MadeOnHome;
pub(crate) use raw::{Header, NoLink, QueueLink, Route, queue_link};
pub use yield_now::yield_now;

use std::future::Future;
use std::ptr::NonNull;
use std::sync::Arc;

use schedule::Scheduler;

/// A pointer to a live task: no ownership by itself.
///
/// Made only by `raw::allocate` and by [`RawTask::from_ptr`] (whose caller vouches for the
/// pointer), so [`header`](Self::header) may dereference it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct RawTask(NonNull<Header>);

impl RawTask {
    pub(crate) fn header(&self) -> &Header {
        // SAFETY: a RawTask is only made from a live task (`allocate`, or `from_ptr`, whose
        // caller guarantees it), and every use is covered by a reference held by its owner (a
        // Notified, the owned list, a JoinHandle).
        unsafe { self.0.as_ref() }
    }
    pub(crate) fn ptr(self) -> NonNull<Header> {
        self.0
    }
    /// Rebuilds a `RawTask` from the pointer of one (`ptr`), kept in an untyped slot (the LIFO
    /// slot, the owned list's links).
    ///
    /// # Safety
    ///
    /// - `ptr` is the header of a live task (one made by `allocate` and not yet freed), and
    ///   the caller holds, or is handed, a reference to it for as long as it uses the result.
    pub(crate) unsafe fn from_ptr(ptr: NonNull<Header>) -> RawTask {
        RawTask(ptr)
    }
}

/// A queue entry: one reference to a task with `NOTIFIED` set. Running it consumes it.
#[derive(Debug)]
pub(crate) struct Notified(RawTask);

// # Safety
//
// A `Notified` is handed between threads by the scheduler. For a stealable or blocking task
// that is sound because its future and output are `Send` (`spawn` and `spawn_blocking` require
// it). A pinned task's future may be `!Send`, and its entries do travel: a wake or a `spawn_on`
// from another thread creates the entry there and sends it through the domain's inbox to the
// home worker. The invariant that makes this sound is narrower than "never leaves its thread":
//
// **A pinned task is polled, and its future dropped, only on its home thread.** Moving its
// entry is fine; running it (`run`, `cancel`) or dropping its future elsewhere is not. The code
// upholds it as follows:
//
// - routing: `Shared::schedule` sends a pinned entry only to its domain (the pinned queue on
//   the home thread, else the inbox), never to the injector, a LIFO slot or a local deque,
//   which other threads drain and cancel at shutdown (`Shared::drain_worker_queues`); only the
//   home worker pops its pinned queue and its inbox, and it asserts so before each run
//   (`Core::run_task`);
// - shutdown: a domain's idle pinned tasks sit in its own owned-list shard, which only the home
//   worker pops (`Core::shut_down`);
// - dropping an entry unrun only releases a reference, and frees the future only if it was the
//   last one. An entry is dropped unrun off its home thread only when the inbox refuses it,
//   which happens once the domain's worker has exited, after it saw every pinned task of the
//   domain complete (`live_pinned` zero, counted from the spawn on): no future is left in the
//   cell then. (A waker dropping the last reference elsewhere is the same case: a polled,
//   incomplete task is either queued at home, running at home, or idle and then linked in the
//   owned list, which holds a reference; linking happens before the task may go idle.)
// - the one exception, documented in `domain/mod.rs`: a `spawn_on` that arrives after its
//   domain closed is cancelled on the spawning thread; its future is then the unpolled
//   `MadeOnHome::Make` (`made.rs`), which holds only the `Send` closure.
//
// SAFETY: by the invariant above, an entry sent to another thread never polls or drops a
// `!Send` future there.
unsafe impl Send for Notified {}

impl Notified {
    /// Adopts a queue-entry reference.
    ///
    /// # Safety
    ///
    /// - The caller owns one reference to the task, created for this queue entry.
    pub(crate) unsafe fn from_raw(task: RawTask) -> Notified {
        Notified(task)
    }
    pub(crate) fn header(&self) -> &Header {
        self.0.header()
    }
    pub(crate) fn ptr(&self) -> NonNull<Header> {
        self.0.ptr()
    }
    pub(crate) fn into_raw(self) -> RawTask {
        let raw = self.0;
        std::mem::forget(self);
        raw
    }
    /// Cancels the task: its future is dropped here instead of polled (shutdown drains).
    pub(crate) fn cancel(self) {
        // NOTIFIED is set (we are its entry), so this only sets CANCELLED.
        let _ = self.header().state.transition_to_cancelled();
        self.run();
    }

    /// Polls (or cancels) the task, consuming this entry.
    pub(crate) fn run(self) {
        let raw = self.into_raw();
        // SAFETY: we own a queue-entry reference with NOTIFIED set; `run` consumes it.
        unsafe { (raw.header().vtable.run)(raw.ptr()) }
    }
}

impl Drop for Notified {
    fn drop(&mut self) {
        // An entry dropped without running (a queue torn down): release its reference only.
        // SAFETY: we own one reference.
        unsafe { raw::drop_reference(self.0.ptr()) }
    }
}

/// Allocates a task for `future`. Returns its first queue entry and its join handle. `L` is the
/// cell's slot after the header: [`QueueLink`] for a pinned task (its domain's queues link
/// through it, `domain/inbox.rs`), [`NoLink`] for the others.
pub(crate) fn new_task<F, L: raw::Slot>(
    future: F,
    scheduler: Arc<Scheduler>,
    route: Route,
) -> (Notified, JoinHandle<F::Output>)
where
    F: Future + 'static,
    F::Output: 'static,
{
    debug_assert_eq!(
        route.domain().is_some(),
        std::any::TypeId::of::<L>() == std::any::TypeId::of::<QueueLink>(),
        "a pinned task has a queue link, and only a pinned task"
    );
    let raw = raw::allocate::<F, L>(future, scheduler, route);
    // SAFETY: `allocate` returns two references: the queue entry's and the join handle's.
    let notified = unsafe { Notified::from_raw(raw) };
    // SAFETY: as above, the join handle's reference.
    let join = unsafe { JoinHandle::from_raw(raw) };
    (notified, join)
}
