//! Cooperative budget: runtime operations spend one unit per poll that makes progress, and a
//! task that has spent [`BUDGET`] units in one poll is made to yield at its next runtime
//! operation, so one hot task cannot starve the other tasks of its worker. The same entry point
//! makes every runtime operation a cancellation point (`scope/mod.rs`).

use std::cell::Cell;
use std::task::{Context, Poll};

pub(crate) use crate::tuning::BUDGET;

thread_local! {
    /// `None`: unconstrained (outside a worker, e.g. `block_on`).
    static CURRENT: Cell<Option<u8>> = const { Cell::new(None) };
}

/// Resets the budget before a worker polls a task.
pub(crate) fn reset(budget: Option<u8>) {
    CURRENT.with(|c| c.set(budget));
}

/// Spends one unit. `Pending` (after waking the task, so it goes to the back of its queue)
/// when the budget is exhausted. Drop the guard without [`Spent::made_progress`] to refund.
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<Spent> {
    if crate::scope::is_cancelled() {
        // A checkpoint in a cancelled scope: the scope's future, polling this code right now,
        // drops it as soon as this returns (no wake needed).
        return Poll::Pending;
    }
    CURRENT.with(|c| match c.get() {
        None => Poll::Ready(Spent { refund: false }),
        Some(0) => {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        Some(n) => {
            c.set(Some(n - 1));
            Poll::Ready(Spent { refund: true })
        }
    })
}

/// One unit of budget spent by [`poll_proceed`]; refunded on drop unless the operation made
/// progress.
pub(crate) struct Spent {
    refund: bool,
}

impl Spent {
    /// The operation completed: keep the unit spent.
    pub(crate) fn made_progress(mut self) {
        self.refund = false;
    }
}

impl Drop for Spent {
    fn drop(&mut self) {
        if self.refund {
            CURRENT.with(|c| {
                if let Some(n) = c.get() {
                    c.set(Some(n.saturating_add(1)));
                }
            });
        }
    }
}
