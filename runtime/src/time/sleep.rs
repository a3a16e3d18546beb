//! `sleep` and `sleep_until`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use super::Instant;
use super::queue::TimerKey;
use crate::scheduler::{Shared, context, coop};

/// Waits until `duration` has elapsed.
///
/// The deadline is computed when `sleep` is called (so it must be called inside the runtime:
/// write `rt.spawn(async { sleep(d).await })` from outside). A duration too large for
/// `Instant` (such as `Duration::MAX`) means "about 30 years", i.e. never in practice.
///
/// # Panics
///
/// Panics if called outside a Trellis runtime (a task or a `block_on` future).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trellis::time::Instant;
///
/// trellis::run(async {
///     let start = Instant::now();
///     trellis::time::sleep(Duration::from_millis(10)).await;
///     assert!(start.elapsed() >= Duration::from_millis(10));
/// });
/// ```
///
/// # Cancellation
///
/// A checkpoint. Dropping the future removes the timer; nothing else is lost.
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(deadline_after(Instant::now(), duration))
}

/// `from + duration`, saturated to about 30 years from `from` when `Instant` would overflow.
pub(crate) fn deadline_after(from: Instant, duration: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);
    from.checked_add(duration).unwrap_or_else(|| from + FAR)
}

/// Waits until `deadline`. A deadline in the past completes at the first poll (after one
/// cooperative yield if the task's budget is spent).
///
/// # Panics
///
/// Panics if called outside a Trellis runtime.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trellis::time::Instant;
///
/// trellis::run(async {
///     let deadline = Instant::now() + Duration::from_millis(5);
///     trellis::time::sleep_until(deadline).await;
///     assert!(Instant::now() >= deadline);
/// });
/// ```
///
/// # Cancellation
///
/// A checkpoint. Dropping the future removes the timer.
pub fn sleep_until(deadline: Instant) -> Sleep {
    let shared = context::expect_runtime("trellis::time::sleep", Arc::clone);
    Sleep {
        shared,
        deadline,
        key: None,
    }
}

/// The future returned by [`sleep`] and [`sleep_until`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// trellis::run(async {
///     let nap: trellis::time::Sleep = trellis::time::sleep(Duration::from_millis(1));
///     let deadline = nap.deadline();
///     nap.await;
///     assert!(trellis::time::Instant::now() >= deadline);
/// });
/// ```
///
/// # Cancellation
///
/// Dropping it removes its timer.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Sleep {
    shared: Arc<Shared>,
    deadline: Instant,
    key: Option<TimerKey>,
}

impl Sleep {
    /// The instant this sleep completes at.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trellis::time::Instant;
    ///
    /// trellis::run(async {
    ///     let before = Instant::now();
    ///     let nap = trellis::time::sleep(Duration::from_secs(1));
    ///     assert!(nap.deadline() >= before + Duration::from_secs(1));
    /// });
    /// ```
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Moves the deadline; the sleep re-registers at its next poll.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trellis::time::Instant;
    ///
    /// trellis::run(async {
    ///     let mut nap = Box::pin(trellis::time::sleep(Duration::from_secs(3600)));
    ///     nap.as_mut().reset(Instant::now() + Duration::from_millis(1));
    ///     nap.await;
    /// });
    /// ```
    pub fn reset(self: Pin<&mut Self>, deadline: Instant) {
        let this = self.get_mut();
        if let Some(key) = this.key.take() {
            this.shared.timers.cancel(key);
        }
        this.deadline = deadline;
    }

    pub(crate) fn poll_at(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let spent = ready!(coop::poll_proceed(cx));
        let fired = self.poll_timer(cx);
        if fired.is_ready() {
            spent.made_progress();
        }
        fired
    }

    /// The timer alone, without the checkpoint: `Ready` once the deadline has passed, else
    /// registers `cx`'s waker. A cancel scope arms its deadline with this, so the deadline of a
    /// scope entered inside a cancelled scope still fires (the scope's own machinery is not a
    /// checkpoint of the code it runs).
    pub(crate) fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.shared.clock.now() >= self.deadline {
            if let Some(key) = self.key.take() {
                self.shared.timers.cancel(key);
            }
            return Poll::Ready(());
        }
        match self.key {
            Some(key) => {
                if !self.shared.timers.update(key, cx.waker()) {
                    // Fired, yet `now` was read before the driver's: register again.
                    self.key = None;
                    return self.poll_timer(cx);
                }
            }
            None => {
                let (key, earliest) = self
                    .shared
                    .timers
                    .register(self.deadline, cx.waker().clone());
                self.key = Some(key);
                if earliest {
                    // The driver must shorten its sleep, or be taken (`scheduler/driver.rs`).
                    self.shared.timer_registered();
                }
            }
        }
        Poll::Pending
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().poll_at(cx)
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.shared.timers.cancel(key);
        }
    }
}

impl std::fmt::Debug for Sleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .finish()
    }
}
