//! `periodic`: a loop that runs at most once per period (trio-util's `periodic`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures_core::{FusedStream, Stream};
use trellis_runtime::time::{Instant, Sleep, sleep_until};

/// A stream of `(elapsed, delta)` pairs, one per period: trio-util's `periodic(period)`.
///
/// Drive a loop with it to run the loop body at most once every `period`, counting the body's
/// own run time:
///
/// - The first item, `(Duration::ZERO, None)`, comes at once, without a checkpoint. The clock
///   (`t0`) starts at that first poll, not when `periodic` is called.
/// - Each later item waits until `period` after the **actual start of the previous
///   iteration** (the instant the previous item was produced), so the time the consumer spent
///   in its loop body is absorbed. `elapsed` is the start of this iteration minus `t0`;
///   `delta` is `Some(start of this iteration - start of the previous one)`.
/// - Overrun: when the body took longer than `period`, the next item comes at once (after a
///   checkpoint) and the schedule re-anchors at that late start. Missed periods are not
///   caught up in a burst, and lateness is not compensated: there is no fixed grid. With
///   period 1 s and one body of 2.5 s the items are `(0, None)`, `(1, 1)`, `(3.5, 2.5)`,
///   `(4.5, 1)` (seconds).
/// - Every item but the first is a [checkpoint](trellis_runtime::checkpoint), even when
///   overdue (as Trio's `sleep_until` of a past deadline).
/// - A zero `period` is accepted: every item after the first is then only a checkpoint.
///
/// The stream never ends. For a fixed-rate schedule (the next deadline computed from the
/// previous *deadline*), see [`trellis_runtime::time::interval`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use futures_lite::StreamExt;
/// use trellis::util::periodic;
///
/// trellis::run(async {
///     let mut ticks = periodic(Duration::from_millis(10));
///     let (elapsed, delta) = ticks.next().await.unwrap();
///     assert_eq!((elapsed, delta), (Duration::ZERO, None));
///     // ... the loop body runs here ...
///     let (elapsed, delta) = ticks.next().await.unwrap();
///     assert!(elapsed >= Duration::from_millis(10));
///     assert_eq!(delta, Some(elapsed));
/// });
/// ```
///
/// # Cancellation
///
/// Waiting for an item (all but the first) is a checkpoint. Dropping a pending `next()` loses
/// nothing: the stream keeps its schedule, and the next poll waits for the same instant.
///
/// # Panics
///
/// Polling the stream for its second item outside a Trellis runtime panics (it needs the
/// runtime's timers).
pub fn periodic(period: Duration) -> Periodic {
    Periodic {
        period,
        t0: None,
        t_start: None,
        sleep: None,
        armed: false,
    }
}

/// The stream returned by [`periodic`]: `(elapsed, delta)` pairs, one per period.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use futures_lite::StreamExt;
///
/// trellis::run(async {
///     let mut ticks: trellis::util::Periodic = trellis::util::periodic(Duration::from_millis(1));
///     assert_eq!(ticks.next().await, Some((Duration::ZERO, None)));
/// });
/// ```
///
/// # Cancellation
///
/// See [`periodic`].
#[must_use = "streams do nothing unless polled"]
pub struct Periodic {
    period: Duration,
    /// When the first item was produced (the origin of `elapsed`); `None` before it.
    t0: Option<Instant>,
    /// When the current iteration started (the last item was produced).
    t_start: Option<Instant>,
    /// The timer, allocated at the second item and re-armed for each later one.
    sleep: Option<Pin<Box<Sleep>>>,
    /// The timer is set for the item now being waited for.
    armed: bool,
}

impl Periodic {
    /// The period given to [`periodic`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let ticks = trellis::util::periodic(Duration::from_secs(2));
    /// assert_eq!(ticks.period(), Duration::from_secs(2));
    /// ```
    pub fn period(&self) -> Duration {
        self.period
    }
}

/// `from + d`, saturated about 30 years ahead (a period too large for `Instant` means "never").
fn after(from: Instant, d: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);
    from.checked_add(d).unwrap_or_else(|| from + FAR)
}

impl Stream for Periodic {
    type Item = (Duration, Option<Duration>);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let (Some(t0), Some(t_start)) = (this.t0, this.t_start) else {
            // First item: at once, no checkpoint.
            let now = Instant::now();
            this.t0 = Some(now);
            this.t_start = Some(now);
            return Poll::Ready(Some((Duration::ZERO, None)));
        };
        if !this.armed {
            let deadline = after(t_start, this.period);
            match &mut this.sleep {
                Some(sleep) => sleep.as_mut().reset(deadline),
                None => this.sleep = Some(Box::pin(sleep_until(deadline))),
            }
            this.armed = true;
        }
        let Some(sleep) = this.sleep.as_mut() else {
            unreachable!("armed above");
        };
        ready!(sleep.as_mut().poll(cx));
        // Overdue or not, the sleep's poll was the checkpoint (Trio's `sleep_until` of a past
        // deadline is one too): a cancelled scope stopped us there, and it spent the budget.
        this.armed = false;
        let now = Instant::now();
        this.t_start = Some(now);
        Poll::Ready(Some((now - t0, Some(now - t_start))))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::MAX, None)
    }
}

impl FusedStream for Periodic {
    /// Never: the stream is endless.
    fn is_terminated(&self) -> bool {
        false
    }
}

impl fmt::Debug for Periodic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Periodic")
            .field("period", &self.period)
            .field("started", &self.t0.is_some())
            .finish_non_exhaustive()
    }
}
