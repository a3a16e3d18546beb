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
#[inline]
pub(crate) fn reset(budget: Option<u8>) {
    replace(budget);
}

/// Sets the budget and returns the one it replaces: a joiner's, saved while a joined task runs
/// inside its poll (`scheduler/worker.rs`, `run_joined`).
#[inline]
pub(crate) fn replace(budget: Option<u8>) -> Option<u8> {
    CURRENT.with(|c| c.replace(budget))
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

/// A checkpoint inside a hand-written `poll` function (a `Future`, `Stream` or combinator
/// that has no runtime operation of its own to await): the same entry point every runtime
/// operation starts with.
///
/// - **Cancellation point.** In a cancelled scope it returns `Pending` (without waking): the
///   enclosing scope, which is polling this code right now, drops it when the poll returns,
///   exactly as at [`checkpoint()`](crate::checkpoint).
/// - **Cooperative budget.** Otherwise it spends one unit of the task's per-poll budget and
///   returns `Ready(())`. When the budget is spent it wakes the task and returns `Pending`, so
///   the task goes to the back of its worker's queue (a schedule point); the next poll has a
///   fresh budget.
///
/// So a combinator that would otherwise return `Ready` again and again without ever waiting
/// stays cancellable and cannot starve its worker. Unlike `checkpoint().await` it does not
/// yield every time: call it once per item (or round) before returning `Ready`, and return
/// `Pending` when it does (it has arranged the wake-up). Outside a worker (in `block_on`) the
/// budget is unlimited; outside any cancel scope nothing cancels.
///
/// # Examples
///
/// ```
/// use std::pin::Pin;
/// use std::task::{Context, Poll, ready};
///
/// /// Counts up forever, each number a checkpoint.
/// struct Counter(u64);
///
/// impl Future for Counter {
///     type Output = u64;
///     fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u64> {
///         ready!(trellis::poll_checkpoint(cx));
///         self.0 += 1;
///         Poll::Ready(self.0)
///     }
/// }
///
/// trellis::run(async {
///     let scope = trellis::CancelScope::new();
///     scope.handle().cancel();
///     // Ready at once, yet cancelled: the checkpoint is where the cancellation lands.
///     assert_eq!(scope.run(Counter(0)).await, None);
///     assert_eq!(Counter(41).await, 42);
/// });
/// ```
///
/// # Cancellation
///
/// Always a cancellation point; it holds no state.
pub fn poll_checkpoint(cx: &mut Context<'_>) -> Poll<()> {
    match poll_proceed(cx) {
        Poll::Ready(spent) => {
            spent.made_progress();
            Poll::Ready(())
        }
        Poll::Pending => Poll::Pending,
    }
}
