//! The seam between tasks and the scheduler: what the task harness (`raw.rs`) and the join
//! handle need from the runtime a task belongs to, and nothing more.
//!
//! `task/` calls the scheduler only through [`Schedule`] (tokio's trait of the same name):
//! submit a queue entry, name the thread for the owned list, release a finished task, and the
//! instrument hooks. The scheduler implements it (`scheduler/mod.rs`); [`Scheduler`] names
//! that one implementation, so every call is static (no dynamic dispatch on the hot path),
//! and is the only place in `task/` that names the scheduler.

use std::ptr::NonNull;

use super::{Header, Notified};
use crate::instrument::Instruments;
use crate::task::owned::OwnedTasks;

/// The runtime a task belongs to: the one implementation of [`Schedule`], held by every task
/// header.
pub(crate) type Scheduler = crate::scheduler::Shared;

/// What a task needs from its runtime.
pub(crate) trait Schedule {
    /// Submits a queue entry to the task's route. `is_yield`: the task woke itself during its
    /// poll (it goes behind the other runnable tasks).
    fn schedule(&self, task: Notified, is_yield: bool);

    /// The owned-task list, which a task joins the first time it goes idle.
    fn owned(&self) -> &OwnedTasks;

    /// A number that spreads the threads of this runtime over the owned list's shards (the
    /// worker's index on a worker).
    fn shard_hint(&self) -> usize;

    /// A task completed (its future dropped, its output stored, it left the owned list): the
    /// scheduler's own bookkeeping (a domain counts its pinned tasks, `domain/mod.rs`).
    fn release(&self, task: &Header);

    /// The instrument hooks around task events (`instrument.rs`).
    fn hooks(&self) -> &Instruments;

    /// The code running on this thread awaits the `JoinHandle` of `task`, which has not
    /// completed: run the task now, inside this poll, if its queue entry is this worker's to
    /// take (join-inline, `scheduler/worker.rs`, `run_joined`). `true` if it ran.
    fn run_joined(&self, task: NonNull<Header>) -> bool;
}
