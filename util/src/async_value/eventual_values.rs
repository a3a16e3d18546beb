//! `eventual_values`: a stream that follows the value's state, with eventual consistency.
//!
//! # State machine (trio-util's `eventual_values`, section 1.2 of the semantics reference)
//!
//! The stream holds one registration from its first poll until it is dropped. Its entry keeps
//! the predicate `P`, the last yielded value `last`, and what the stream is parked on:
//! nothing, a match (`P(new)`; the slot keeps the latest match assigned while parked), a
//! change away from `last` (`new != last`), or a non-match (`!P(new)`, during a hold). Every
//! assignment evaluates `P` once while the stream is registered, whatever it is parked on.
//!
//! ```text
//! loop:
//!   if P(current): candidate = current               (no await on this path)
//!   else: park on a match; candidate = latest match assigned before we resumed
//!   if held_for > 0:
//!     park on a non-match, at most held_for
//!     if it came: goto loop                          (re-evaluate the *current* value)
//!   last = candidate; yield candidate
//!   (the consumer's body runs; assignments meanwhile are only seen through `current`)
//!   if current == last: park on a change away from last
//!   goto loop
//! ```
//!
//! What follows, and the tests check: the first item comes at once (no checkpoint) when the
//! value matches; a slow consumer skips every value assigned during its body except the one
//! current when it asks again; A→B→A during the body yields nothing; A→B→A in one go while
//! parked on a change re-yields A (a duplicate); with `held_for`, the candidate is the value
//! that started the hold (a matching-to-matching change does not restart it, and the newer
//! value follows after a full hold of its own), and the hold parks even if the candidate is
//! already stale (trio-util does the same). Once the producer stops at a matching `V`, the
//! last item is `V`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_core::Stream;
use trellis_runtime::time::{Sleep, sleep};

use super::{AsyncValue, Level, Pred, WakeAll, register_waker};

/// What a stream waits for while its consumer is parked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Park {
    /// Not parked (first poll not done, or the consumer runs its body): no wake-ups.
    Nothing,
    /// An assignment matching the predicate; the slot keeps the latest.
    Match,
    /// An assignment different from the last yielded value.
    Change,
    /// An assignment not matching the predicate (a hold is running).
    NonMatch,
}

/// The registry entry of one stream.
pub(crate) struct Entry<T> {
    pred: Pred<T>,
    /// The last yielded value (`None` before the first item).
    last: Option<T>,
    park: Park,
    /// The latest match assigned while parked on `Match`.
    result: Option<T>,
    /// A `Change` or `NonMatch` came while parked on it.
    fired: bool,
    waker: Option<Waker>,
}

impl<T: Clone + PartialEq> Entry<T> {
    /// Called by `set` for each change, under the lock.
    pub(super) fn on_assign(&mut self, new: &T, wake: &mut WakeAll) {
        let matches = (self.pred)(new);
        let fire = match self.park {
            Park::Nothing => false,
            Park::Match => {
                if matches {
                    self.result = Some(new.clone());
                }
                matches
            }
            Park::Change => self.last.as_ref() != Some(new),
            Park::NonMatch => !matches,
        };
        if fire {
            self.fired = true;
            wake.take(&mut self.waker);
        }
    }

    fn park(&mut self, park: Park, cx: &Context<'_>) {
        self.park = park;
        self.fired = false;
        self.result = None;
        register_waker(&mut self.waker, cx);
    }
}

impl<T: Clone + PartialEq> AsyncValue<T> {
    /// A stream of the values that match `predicate`, with eventual consistency: it yields the
    /// current value at once if it matches, then, each time the consumer asks, the current
    /// value if it changed since the last item and matches, else waits for a matching
    /// assignment. Add [`.held_for(d)`](EventualValues::held_for) to yield only values that
    /// kept matching for `d`. For every value, pass [`any_value`](crate::any_value); for a
    /// plain value, [`equal_to(v)`](crate::equal_to).
    ///
    /// Eventually consistent: values assigned while the consumer runs its loop body are
    /// skipped except the one current when it asks again, but once the value stops changing
    /// at a matching `V`, the last item is `V`. There is no queue: a slow consumer never falls
    /// behind. A value A→B→A while the consumer is busy yields nothing; an item may repeat
    /// when the value went away and back while the consumer waited. The stream never ends.
    ///
    /// Use it to keep something in sync with a state; use [`transitions`](Self::transitions)
    /// to react to changes.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use trellis::util::{AsyncValue, any_value};
    ///
    /// trellis::run(async {
    ///     let v = Arc::new(AsyncValue::new(0));
    ///     let v2 = v.clone();
    ///     let _setter = trellis::spawn(async move {
    ///         for i in 1..=3 {
    ///             trellis::time::sleep(std::time::Duration::from_millis(2)).await;
    ///             v2.set(i);
    ///         }
    ///     });
    ///     let mut values = v.eventual_values(any_value);
    ///     while let Some(x) = values.next().await {
    ///         if x == 3 {
    ///             break; // always reached: the last state is never lost
    ///         }
    ///     }
    /// });
    /// ```
    ///
    /// # Cancellation
    ///
    /// Asking for an item is a checkpoint only when it waits: the first item, or a changed
    /// current value, comes without one (as in trio-util). The stream registers at its first
    /// poll; dropping a pending [`next`](EventualValues::next) loses nothing (the stream keeps
    /// its registration and state); dropping the stream unregisters it.
    pub fn eventual_values<P>(&self, predicate: P) -> EventualValues<'_, T>
    where
        P: FnMut(&T) -> bool + Send + 'static,
    {
        EventualValues {
            value: self,
            pred: Some(Box::new(predicate)),
            hold: Duration::ZERO,
            id: None,
            phase: Phase::Loop,
        }
    }
}

/// The stream returned by [`AsyncValue::eventual_values`]. Also usable without a `Stream`
/// combinator through [`next`](Self::next).
///
/// # Examples
///
/// ```
/// use trellis::util::{AsyncValue, EventualValues};
///
/// trellis::run(async {
///     let v = AsyncValue::new(7);
///     let mut odd: EventualValues<'_, i32> = v.eventual_values(|x| x % 2 == 1);
///     assert_eq!(odd.next().await, Some(7));
/// });
/// ```
///
/// # Cancellation
///
/// See [`AsyncValue::eventual_values`]. Dropping the stream unregisters it and drops a running
/// hold's timer.
#[must_use = "streams do nothing unless polled"]
pub struct EventualValues<'a, T> {
    value: &'a AsyncValue<T>,
    /// Until the first poll; then the registry holds it.
    pred: Option<Pred<T>>,
    hold: Duration,
    id: Option<u64>,
    phase: Phase<T>,
}

enum Phase<T> {
    /// The top of the loop: look at the current value.
    Loop,
    /// Parked on a match.
    AwaitMatch,
    /// Holding a candidate: parked on a non-match until the timer fires.
    Holding { candidate: T, timer: Sleep },
    /// An item was yielded; the next poll looks for a change.
    Yielded,
    /// Parked on a change away from the last item.
    AwaitChange,
}

// Nothing in the stream is pinned: `T` is only moved, `Sleep` is `Unpin`.
impl<T> Unpin for EventualValues<'_, T> {}

impl<'a, T> EventualValues<'a, T> {
    /// Yields only candidates that keep matching for `duration` (trio-util's `held_for`).
    ///
    /// A candidate whose hold is interrupted by a non-matching assignment is dropped and the
    /// stream looks at the current value again. A matching-to-matching change during the hold
    /// does not restart it: the candidate that started the hold is yielded when it ends, and
    /// the newer value follows as the next item after a full hold of its own.
    /// `Duration::ZERO` means no hold.
    ///
    /// # Panics
    ///
    /// Polling the stream panics outside a Trellis runtime when `duration` is not zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trellis::time::Instant;
    /// use trellis::util::AsyncValue;
    ///
    /// trellis::run(async {
    ///     let v = AsyncValue::new(2);
    ///     let start = Instant::now();
    ///     let mut even = v.eventual_values(|x| x % 2 == 0).held_for(Duration::from_millis(10));
    ///     assert_eq!(even.next().await, Some(2));
    ///     assert!(start.elapsed() >= Duration::from_millis(10));
    /// });
    /// ```
    ///
    /// # Cancellation
    ///
    /// As [`AsyncValue::eventual_values`]; waiting for a hold is a checkpoint.
    pub fn held_for(mut self, duration: Duration) -> EventualValues<'a, T> {
        self.hold = duration;
        self
    }
}

impl<T: Clone + PartialEq> EventualValues<'_, T> {
    /// Waits for the next item; never returns `None` (the stream never ends). The same as
    /// `StreamExt::next`, without the extension trait.
    ///
    /// # Examples
    ///
    /// ```
    /// use trellis::util::{AsyncValue, any_value};
    ///
    /// trellis::run(async {
    ///     let v = AsyncValue::new("ready");
    ///     assert_eq!(v.eventual_values(any_value).next().await, Some("ready"));
    /// });
    /// ```
    ///
    /// # Cancellation
    ///
    /// A checkpoint when it waits (see [`AsyncValue::eventual_values`]). Dropping it before it
    /// completes loses no item: the stream keeps its state.
    pub async fn next(&mut self) -> Option<T> {
        std::future::poll_fn(|cx| self.poll_item(cx).map(Some)).await
    }

    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<T> {
        let value = self.value;
        let mut inner = value.lock("AsyncValue::eventual_values");
        let id = match self.id {
            Some(id) => id,
            None => {
                let entry = Entry {
                    pred: self.pred.take().expect("registered once"),
                    last: None,
                    park: Park::Nothing,
                    result: None,
                    fired: false,
                    waker: None,
                };
                let id = inner.insert_level(Level::Eventual(entry));
                self.id = Some(id);
                id
            }
        };
        loop {
            let inner = &mut *inner;
            let Some(Level::Eventual(entry)) = inner.level.get_mut(&id) else {
                unreachable!("the stream's registration stays until it is dropped")
            };
            let candidate = match &mut self.phase {
                Phase::Loop => {
                    if (entry.pred)(&inner.value) {
                        inner.value.clone()
                    } else {
                        entry.park(Park::Match, cx);
                        self.phase = Phase::AwaitMatch;
                        return Poll::Pending;
                    }
                }
                Phase::AwaitMatch => match entry.result.take() {
                    Some(candidate) => candidate,
                    None => {
                        register_waker(&mut entry.waker, cx);
                        return Poll::Pending;
                    }
                },
                Phase::Holding { timer, .. } => {
                    if entry.fired {
                        // Stopped matching within the hold: look at the current value again.
                        entry.park = Park::Nothing;
                        self.phase = Phase::Loop;
                        continue;
                    }
                    register_waker(&mut entry.waker, cx);
                    if Pin::new(timer).poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    let Phase::Holding { candidate, .. } =
                        std::mem::replace(&mut self.phase, Phase::Loop)
                    else {
                        unreachable!("still holding")
                    };
                    return Poll::Ready(self.yield_item(entry, candidate));
                }
                Phase::Yielded => {
                    if entry.last.as_ref() == Some(&inner.value) {
                        entry.park(Park::Change, cx);
                        self.phase = Phase::AwaitChange;
                        return Poll::Pending;
                    }
                    self.phase = Phase::Loop;
                    continue;
                }
                Phase::AwaitChange => {
                    if entry.fired {
                        entry.park = Park::Nothing;
                        self.phase = Phase::Loop;
                        continue;
                    }
                    register_waker(&mut entry.waker, cx);
                    return Poll::Pending;
                }
            };
            // A candidate: yield it, or hold it first.
            if self.hold.is_zero() {
                return Poll::Ready(self.yield_item(entry, candidate));
            }
            entry.park(Park::NonMatch, cx);
            self.phase = Phase::Holding {
                candidate,
                timer: sleep(self.hold),
            };
        }
    }

    fn yield_item(&mut self, entry: &mut Entry<T>, candidate: T) -> T {
        entry.park = Park::Nothing;
        entry.last = Some(candidate.clone());
        self.phase = Phase::Yielded;
        candidate
    }
}

impl<T: Clone + PartialEq> Stream for EventualValues<'_, T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_item(cx).map(Some)
    }
}

impl<T> Drop for EventualValues<'_, T> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.value
                .lock("AsyncValue::eventual_values")
                .level
                .remove(&id);
        }
    }
}

impl<T> fmt::Debug for EventualValues<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phase = match self.phase {
            Phase::Loop => "loop",
            Phase::AwaitMatch => "awaiting a match",
            Phase::Holding { .. } => "holding",
            Phase::Yielded => "yielded",
            Phase::AwaitChange => "awaiting a change",
        };
        f.debug_struct("EventualValues")
            .field("held_for", &self.hold)
            .field("phase", &phase)
            .finish_non_exhaustive()
    }
}
