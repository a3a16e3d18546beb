//! `interval`: a stream of evenly spaced instants.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use super::Instant;

use futures_core::{FusedStream, Stream};

use super::sleep::{Sleep, deadline_after, sleep_until};

/// A stream that yields at `start`, `start + period`, `start + 2 * period`, ...
///
/// The first tick completes at once. If the consumer falls behind by more than a period, the
/// missed ticks are skipped (no catch-up burst) and the schedule re-anchors at the late tick.
///
/// # Panics
///
/// Panics if `period` is zero, or if called outside a Trellis runtime.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// trellis::run(async {
///     let mut every = trellis::time::interval(Duration::from_millis(2));
///     let first = every.tick().await;
///     let second = every.tick().await;
///     assert!(second - first >= Duration::from_millis(2));
/// });
/// ```
pub fn interval(period: Duration) -> Interval {
    assert!(
        !period.is_zero(),
        "`trellis::time::interval`: the period must be non-zero"
    );
    let now = Instant::now();
    Interval {
        sleep: Box::pin(sleep_until(now)),
        period,
    }
}

/// The stream returned by [`interval`]. Also usable without a `Stream` combinator through
/// [`tick`](Interval::tick).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// trellis::run(async {
///     let mut every = trellis::time::interval(Duration::from_millis(1));
///     for _ in 0..3 {
///         every.tick().await;
///     }
/// });
/// ```
///
/// # Cancellation
///
/// Dropping a pending `tick()` loses no tick: the next call waits for the same instant.
#[derive(Debug)]
pub struct Interval {
    sleep: Pin<Box<Sleep>>,
    period: Duration,
}

impl Interval {
    /// Waits for the next tick and returns its scheduled instant.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// trellis::run(async {
    ///     let mut every = trellis::time::interval(Duration::from_millis(1));
    ///     let at = every.tick().await;
    ///     assert!(at <= trellis::time::Instant::now());
    /// });
    /// ```
    ///
    /// # Cancellation
    ///
    /// A checkpoint. If the returned future is dropped before it completes, the tick is not
    /// consumed.
    pub async fn tick(&mut self) -> Instant {
        std::future::poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// The period between ticks.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// trellis::run(async {
    ///     assert_eq!(trellis::time::interval(Duration::from_secs(1)).period(), Duration::from_secs(1));
    /// });
    /// ```
    pub fn period(&self) -> Duration {
        self.period
    }

    fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        ready!(self.sleep.as_mut().poll(cx));
        let at = self.sleep.deadline();
        let now = Instant::now();
        let mut next = deadline_after(at, self.period);
        if next <= now {
            // Fell behind by a whole period or more: skip the missed ticks.
            next = deadline_after(now, self.period);
        }
        self.sleep.as_mut().reset(next);
        Poll::Ready(at)
    }
}

impl Stream for Interval {
    type Item = Instant;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        self.get_mut().poll_tick(cx).map(Some)
    }
}

/// Never terminated: the ticks are endless. So `futures::select!` takes an interval without
/// `.fuse()`.
///
/// # Examples
///
/// ```
/// use futures_core::FusedStream;
///
/// trellis::run(async {
///     let every = trellis::time::interval(std::time::Duration::from_secs(1));
///     assert!(!every.is_terminated());
/// });
/// ```
impl FusedStream for Interval {
    fn is_terminated(&self) -> bool {
        false
    }
}
