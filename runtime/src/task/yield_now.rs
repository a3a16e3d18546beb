//! `yield_now`: give the worker to other tasks.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Yields to the scheduler: the current task goes to the back of its worker's queue, so every
/// task already queued there runs first.
///
/// Outside a worker (in [`Runtime::block_on`](crate::Runtime::block_on)) it returns to the
/// caller's poll loop once.
///
/// # Examples
///
/// ```
/// trellis::run(async {
///     for _ in 0..3 {
///         trellis::yield_now().await;
///     }
/// });
/// ```
///
/// # Cancellation
///
/// A checkpoint: the task is suspended once, and may be cancelled there. No state is held.
pub async fn yield_now() {
    YieldNow { yielded: false }.await
}

struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        // A wake during our own poll: the runner sees NOTIFIED when the poll ends and puts the
        // task at the back of the queue (task protocol, step 2).
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
