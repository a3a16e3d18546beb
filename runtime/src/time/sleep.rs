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
/// The timer is registered at the first poll, never before, so a sleep may be created
/// anywhere, even outside a runtime (`trellis::run(move_on_after(d, sleep(x)))`). Its deadline
/// is tokio's: created inside a runtime, it is the creation time plus `duration` (a sleep
/// created long before it is awaited may be due at once); created outside any runtime, where
/// no runtime clock can be read, it is the first poll plus `duration`. A duration too large
/// for `Instant` (such as `Duration::MAX`) means "about 30 years", i.e. never in practice.
///
/// # Panics
///
/// The returned future panics if polled outside a Trellis runtime (a task or a `block_on`
/// future).
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
    match context::with_runtime(|rt| rt.cloned()) {
        Some(shared) => {
            let deadline = deadline_after(shared.clock.now(), duration);
            Sleep::new(Some(shared), Deadline::At(deadline))
        }
        None => Sleep::new(None, Deadline::After(duration)),
    }
}

/// `from + duration`, saturated to about 30 years from `from` when `Instant` would overflow.
pub(crate) fn deadline_after(from: Instant, duration: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);
    from.checked_add(duration).unwrap_or_else(|| from + FAR)
}

/// Waits until `deadline`. A deadline in the past completes at the first poll (after one
/// cooperative yield if the task's budget is spent). The timer is registered at the first
/// poll; the sleep may be created outside a runtime.
///
/// # Panics
///
/// The returned future panics if polled outside a Trellis runtime.
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
    Sleep::new(
        context::with_runtime(|rt| rt.cloned()),
        Deadline::At(deadline),
    )
}

/// When a [`Sleep`] completes.
#[derive(Clone, Copy, Debug)]
enum Deadline {
    At(Instant),
    /// Created outside a runtime by `sleep`: `duration` after the first poll.
    After(Duration),
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
    /// The runtime whose timers hold this sleep; `None` until the first poll for a sleep
    /// created outside a runtime.
    shared: Option<Arc<Shared>>,
    deadline: Deadline,
    key: Option<TimerKey>,
}

impl Sleep {
    fn new(shared: Option<Arc<Shared>>, deadline: Deadline) -> Sleep {
        Sleep {
            shared,
            deadline,
            key: None,
        }
    }

    /// The runtime and the deadline, fixed at the first poll if not before.
    fn resolve(&mut self) -> (&Arc<Shared>, Instant) {
        let shared = self.shared.get_or_insert_with(|| {
            context::with_runtime(|rt| rt.cloned()).unwrap_or_else(|| {
                panic!(
                    "a `trellis::time::sleep` was polled outside a Trellis runtime: await it in \
                     a task or in a future run by `Runtime::block_on` / `trellis::run`"
                )
            })
        });
        let deadline = match self.deadline {
            Deadline::At(at) => at,
            Deadline::After(duration) => {
                let at = deadline_after(shared.clock.now(), duration);
                self.deadline = Deadline::At(at);
                at
            }
        };
        (shared, deadline)
    }

    /// The instant this sleep completes at. For a `sleep` created outside a runtime and not
    /// yet polled, the instant it would get if first polled now.
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
        match self.deadline {
            Deadline::At(at) => at,
            Deadline::After(duration) => deadline_after(Instant::now(), duration),
        }
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
        if let (Some(key), Some(shared)) = (this.key.take(), this.shared.as_ref()) {
            shared.timers.cancel(key);
        }
        this.deadline = Deadline::At(deadline);
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
        let key = self.key;
        let (shared, deadline) = self.resolve();
        if shared.clock.now() >= deadline {
            if let Some(key) = key {
                shared.timers.cancel(key);
            }
            self.key = None;
            return Poll::Ready(());
        }
        match key {
            Some(key) => {
                if !shared.timers.update(key, cx.waker()) {
                    // Fired, yet `now` was read before the driver's: register again.
                    self.key = None;
                    return self.poll_timer(cx);
                }
            }
            None => {
                let (key, earliest) = shared.timers.register(deadline, cx.waker().clone());
                if earliest {
                    // The driver must shorten its sleep, or be taken (`scheduler/driver.rs`).
                    shared.timer_registered();
                }
                self.key = Some(key);
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
        if let (Some(key), Some(shared)) = (self.key.take(), self.shared.as_ref()) {
            shared.timers.cancel(key);
        }
    }
}

impl std::fmt::Debug for Sleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline())
            .finish()
    }
}
