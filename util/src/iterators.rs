//! `iter_move_on_after` and `iter_fail_after`: a timeout on each item of a stream
//! (trio-util's `_iterators.py`).
//!
//! trio-util wraps each `await ait.__anext__()` in `move_on_after` / `fail_after`. A stream
//! adapter must not hold a cancel scope across `poll_next` calls (the checklist of the
//! semantics reference, item 7), and in Trellis cancelling code means dropping it at its next
//! checkpoint; so the adapters here arm a timer for the item being waited for and, when it
//! fires before the item arrives, **drop** the inner stream: the same outcome as Trio's
//! cancellation of the timed-out `__anext__` (the source is finished and cannot be resumed).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::{FusedStream, Stream};
use trellis_runtime::TooSlow;
use trellis_runtime::time::{Instant, Sleep, sleep_until};

/// The shared core: the inner stream (until it ends or times out) and the per-item timer.
struct PerItem<S> {
    /// `None` once the stream ended or timed out (it is dropped at that moment).
    stream: Option<Pin<Box<S>>>,
    timeout: Duration,
    /// The timer, allocated the first time an item has to be waited for, then re-armed.
    sleep: Option<Pin<Box<Sleep>>>,
    /// The timer is set for the item now being waited for.
    armed: bool,
}

impl<S: Stream> PerItem<S> {
    fn new(timeout: Duration, stream: S) -> PerItem<S> {
        PerItem {
            stream: Some(Box::pin(stream)),
            timeout,
            sleep: None,
            armed: false,
        }
    }

    /// `Ready(Some(Ok(item)))`, `Ready(None)` when the stream ended, `Ready(Some(Err(TooSlow)))`
    /// when the item's deadline passed first (the stream is then dropped).
    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<S::Item, TooSlow>>> {
        let Some(stream) = self.stream.as_mut() else {
            return Poll::Ready(None);
        };
        if !self.armed {
            // The deadline starts when the consumer starts waiting for this item (Trio enters
            // `move_on_after` right before awaiting `__anext__`).
            let deadline = after(Instant::now(), self.timeout);
            match &mut self.sleep {
                Some(sleep) => sleep.as_mut().reset(deadline),
                None => self.sleep = Some(Box::pin(sleep_until(deadline))),
            }
            self.armed = true;
        }
        // The stream first: an item that is ready when the deadline passes is still delivered
        // (as in Trio, a cancellation only lands at a checkpoint that waits).
        if let Poll::Ready(item) = stream.as_mut().poll_next(cx) {
            self.disarm();
            if item.is_none() {
                self.stream = None;
            }
            return Poll::Ready(item.map(Ok));
        }
        let Some(sleep) = self.sleep.as_mut() else {
            unreachable!("armed above");
        };
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        // Timed out: the pending `__anext__` is cancelled, i.e. the source is dropped.
        self.armed = false;
        self.stream = None;
        Poll::Ready(Some(Err(TooSlow)))
    }

    /// Unregisters the timer (so no stale deadline wakes us, or moves a virtual clock).
    fn disarm(&mut self) {
        if self.armed {
            self.armed = false;
            if let Some(sleep) = self.sleep.as_mut() {
                let deadline = sleep.deadline();
                sleep.as_mut().reset(deadline);
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.stream {
            // It may time out at any item.
            Some(stream) => (0, stream.size_hint().1),
            None => (0, Some(0)),
        }
    }
}

/// `from + d`, saturated about 30 years ahead (a timeout too large for `Instant` means "never").
fn after(from: Instant, d: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);
    from.checked_add(d).unwrap_or_else(|| from + FAR)
}

/// Wraps `stream` so that waiting for any one item longer than `timeout` ends it quietly:
/// trio-util's `iter_move_on_after(timeout, aiter)` (same argument order).
///
/// - Each item gets a fresh deadline, `timeout` after the consumer starts waiting for it; the
///   time the consumer spends between items does not count.
/// - When the deadline passes before the item arrives, the stream ends (`None`), and the inner
///   stream is dropped at that moment: as in trio-util, where the timed-out `__anext__` is
///   cancelled, the source is finished and cannot be resumed.
/// - An item that is ready when the deadline passes is still delivered.
/// - When the inner stream ends, so does this one.
///
/// Use [`iter_fail_after`] to be told about the timeout.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use futures_lite::{stream, StreamExt};
/// use trellis::util::iter_move_on_after;
///
/// trellis::run(async {
///     // Two quick items, then a source that never yields again.
///     let source = stream::iter([1, 2]).chain(stream::pending());
///     let mut items = iter_move_on_after(Duration::from_millis(10), source);
///     let mut got = Vec::new();
///     while let Some(v) = items.next().await {
///         got.push(v);
///     }
///     assert_eq!(got, [1, 2]); // then it moved on after 10 ms
/// });
/// ```
///
/// # Cancellation
///
/// Waiting for an item is a checkpoint if the inner stream's wait is one (the timer's is).
/// Dropping a pending `next()` drops nothing: the inner stream keeps its state and the item's
/// deadline stays armed, so a later `next()` keeps waiting for the same item **under the same
/// deadline** (trio-util would start a fresh one; a Rust stream cannot tell an abandoned wait
/// from a continued one).
///
/// # Panics
///
/// Polling the stream outside a Trellis runtime panics when an item has to be waited for (the
/// deadline needs the runtime's timers).
pub fn iter_move_on_after<S: Stream>(timeout: Duration, stream: S) -> IterMoveOnAfter<S> {
    IterMoveOnAfter {
        inner: PerItem::new(timeout, stream),
    }
}

/// The stream returned by [`iter_move_on_after`]: the inner stream's items until one takes too
/// long.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use futures_lite::{stream, StreamExt};
///
/// trellis::run(async {
///     let mut s: trellis::util::IterMoveOnAfter<_> =
///         trellis::util::iter_move_on_after(Duration::from_secs(1), stream::iter([7]));
///     assert_eq!(s.next().await, Some(7));
///     assert_eq!(s.next().await, None); // the source ended
/// });
/// ```
///
/// # Cancellation
///
/// See [`iter_move_on_after`].
#[must_use = "streams do nothing unless polled"]
pub struct IterMoveOnAfter<S> {
    inner: PerItem<S>,
}

impl<S: Stream> Stream for IterMoveOnAfter<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        // Pinning is not structural: the inner stream is boxed.
        let this = self.get_mut();
        this.inner
            .poll_item(cx)
            .map(|item| item.and_then(Result::ok))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<S: Stream> FusedStream for IterMoveOnAfter<S> {
    fn is_terminated(&self) -> bool {
        self.inner.stream.is_none()
    }
}

impl<S> fmt::Debug for IterMoveOnAfter<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IterMoveOnAfter")
            .field("timeout", &self.inner.timeout)
            .field("terminated", &self.inner.stream.is_none())
            .finish_non_exhaustive()
    }
}

/// Wraps `stream` so that waiting for any one item longer than `timeout` yields
/// `Err(TooSlow)`: trio-util's `iter_fail_after(timeout, aiter)` (same argument order).
///
/// Items come as `Ok(item)`. The deadlines are those of [`iter_move_on_after`]: a fresh one
/// per item, consumer time not counted. When one passes before the item arrives, the stream
/// yields `Err(TooSlow)` once and then ends, and the inner stream is dropped at the timeout
/// (Trio raises `TooSlowError` out of the `async for`, and the cancelled source cannot be
/// resumed). When the inner stream ends, this one ends without an error.
///
/// # Errors
///
/// The item `Err(TooSlow)`, last, when an item took longer than `timeout`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use futures_lite::{stream, StreamExt};
/// use trellis::{TooSlow, util::iter_fail_after};
///
/// trellis::run(async {
///     let source = stream::iter([1, 2]).chain(stream::pending());
///     let mut items = iter_fail_after(Duration::from_millis(10), source);
///     assert_eq!(items.next().await, Some(Ok(1)));
///     assert_eq!(items.next().await, Some(Ok(2)));
///     assert_eq!(items.next().await, Some(Err(TooSlow)));
///     assert_eq!(items.next().await, None);
/// });
/// ```
///
/// A loop that stops at the first error with `?`:
///
/// ```
/// use std::time::Duration;
/// use futures_lite::{stream, StreamExt};
/// use trellis::{TooSlow, util::iter_fail_after};
///
/// async fn sum_all(source: impl futures_lite::Stream<Item = u32>) -> Result<u32, TooSlow> {
///     let mut items = iter_fail_after(Duration::from_millis(10), source);
///     let mut sum = 0;
///     while let Some(v) = items.next().await {
///         sum += v?;
///     }
///     Ok(sum)
/// }
///
/// trellis::run(async {
///     assert_eq!(sum_all(stream::iter([1, 2, 3])).await, Ok(6));
///     assert_eq!(sum_all(stream::pending()).await, Err(TooSlow));
/// });
/// ```
///
/// # Cancellation
///
/// As [`iter_move_on_after`]: dropping a pending `next()` keeps the item's deadline armed.
///
/// # Panics
///
/// Polling the stream outside a Trellis runtime panics when an item has to be waited for.
pub fn iter_fail_after<S: Stream>(timeout: Duration, stream: S) -> IterFailAfter<S> {
    IterFailAfter {
        inner: PerItem::new(timeout, stream),
    }
}

/// The stream returned by [`iter_fail_after`]: `Ok(item)`s, then `Err(TooSlow)` if one item
/// took too long.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use futures_lite::{stream, StreamExt};
///
/// trellis::run(async {
///     let mut s: trellis::util::IterFailAfter<_> =
///         trellis::util::iter_fail_after(Duration::from_secs(1), stream::iter(["a"]));
///     assert_eq!(s.next().await, Some(Ok("a")));
///     assert_eq!(s.next().await, None);
/// });
/// ```
///
/// # Cancellation
///
/// See [`iter_fail_after`].
#[must_use = "streams do nothing unless polled"]
pub struct IterFailAfter<S> {
    inner: PerItem<S>,
}

impl<S: Stream> Stream for IterFailAfter<S> {
    type Item = Result<S::Item, TooSlow>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // Pinning is not structural: the inner stream is boxed.
        self.get_mut().inner.poll_item(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.inner.stream {
            // Possibly one more item: the error.
            Some(stream) => (0, stream.size_hint().1.and_then(|n| n.checked_add(1))),
            None => (0, Some(0)),
        }
    }
}

impl<S: Stream> FusedStream for IterFailAfter<S> {
    fn is_terminated(&self) -> bool {
        self.inner.stream.is_none()
    }
}

impl<S> fmt::Debug for IterFailAfter<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IterFailAfter")
            .field("timeout", &self.inner.timeout)
            .field("terminated", &self.inner.stream.is_none())
            .finish_non_exhaustive()
    }
}
