//! `transitions`: a stream of the matching changes that happen while its consumer waits.
//!
//! The stream holds one edge registration from its first poll until it is dropped (so the
//! predicate keeps being evaluated between items, as trio-util keeps its reference for the
//! whole loop). The registration is *armed* only while the consumer waits for an item: a
//! matching change while armed fills the slot (overwriting an older one not yet taken) and
//! wakes the consumer; the poll that takes the pair disarms it, and the next poll re-arms it
//! with an empty slot. So changes during the consumer's loop body are discarded, several
//! changes between the wake-up and the resumption deliver only the last, and nothing is
//! delivered for the state at the first poll.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::{AsyncValue, Edge, Pred2, register_waker};

impl<T: Clone + PartialEq> AsyncValue<T> {
    /// A stream of `(new, old)` for the changes matching `predicate(new, old)` that happen
    /// while the consumer waits for the next item. For any change, pass
    /// [`any_transition`](crate::any_transition); for changes to `v`,
    /// [`transition_to(v)`](crate::transition_to).
    ///
    /// Changes that happen while the consumer runs its loop body are discarded; if several
    /// matching changes happen before the consumer resumes, only the last is delivered. Like
    /// [`wait_transition`](Self::wait_transition) it is race-prone: nothing is delivered for
    /// the state when the loop starts. The same as a loop of `wait_transition`, except that the
    /// registration is kept between items. The stream never ends.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use trellis::util::{AsyncValue, any_transition};
    ///
    /// # let rt = trellis::Runtime::builder().start_paused(true).build().unwrap();
    /// # rt.block_on(async {
    ///     let v = Arc::new(AsyncValue::new(0));
    ///     let mut changes = v.transitions(any_transition);
    ///     let v2 = v.clone();
    ///     let _setter = trellis::spawn(async move {
    ///         trellis::time::sleep(Duration::from_millis(5)).await;
    ///         v2.set(1);
    ///     });
    ///     assert_eq!(changes.next().await, Some((1, 0)));
    /// # });
    /// ```
    ///
    /// # Cancellation
    ///
    /// Asking for an item is always a checkpoint (it always waits). Dropping a pending
    /// [`next`](Transitions::next) leaves the stream armed: a change before the next call is
    /// still delivered. Dropping the stream unregisters it.
    pub fn transitions<P>(&self, predicate: P) -> Transitions<'_, T>
    where
        P: FnMut(&T, &T) -> bool + Send + 'static,
    {
        Transitions {
            value: self,
            pred: Some(Box::new(predicate)),
            id: None,
        }
    }
}

/// The stream returned by [`AsyncValue::transitions`]. Also usable without a `Stream`
/// combinator through [`next`](Self::next).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trellis::util::{AsyncValue, Transitions};
///
/// trellis::run(async {
///     let v = AsyncValue::new(0);
///     let mut rising: Transitions<'_, i32> = v.transitions(|new, old| new > old);
///     let none = trellis::move_on_after(Duration::from_millis(1), rising.next()).await;
///     assert_eq!(none, None); // nobody changed it
/// });
/// ```
///
/// # Cancellation
///
/// See [`AsyncValue::transitions`].
#[must_use = "streams do nothing unless polled"]
pub struct Transitions<'a, T> {
    value: &'a AsyncValue<T>,
    /// Until the first poll; then the registry holds it.
    pred: Option<Pred2<T>>,
    id: Option<u64>,
}

impl<T> Unpin for Transitions<'_, T> {}

impl<T: Clone + PartialEq> Transitions<'_, T> {
    /// Waits for the next matching change; never returns `None`. The same as
    /// `StreamExt::next`, without the extension trait.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// # let rt = trellis::Runtime::builder().start_paused(true).build().unwrap();
    /// # rt.block_on(async {
    ///     let v = Arc::new(trellis::util::AsyncValue::new("off"));
    ///     let mut on = v.transitions(|new, _| *new == "on");
    ///     let v2 = v.clone();
    ///     let _setter = trellis::spawn(async move {
    ///         trellis::time::sleep(Duration::from_millis(5)).await;
    ///         v2.set("on");
    ///     });
    ///     assert_eq!(on.next().await, Some(("on", "off")));
    /// # });
    /// ```
    ///
    /// # Cancellation
    ///
    /// A checkpoint. See [`AsyncValue::transitions`].
    pub async fn next(&mut self) -> Option<(T, T)> {
        std::future::poll_fn(|cx| self.poll_item(cx).map(Some)).await
    }

    pub(super) fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<(T, T)> {
        let mut inner = self.value.lock("AsyncValue::transitions");
        let Some(id) = self.id else {
            let pred = self.pred.take().expect("registered once");
            self.id = Some(inner.insert_edge(Edge {
                pred,
                armed: true,
                slot: None,
                waker: Some(cx.waker().clone()),
            }));
            return Poll::Pending;
        };
        let edge = inner.edge(id);
        if !edge.armed {
            // The consumer is back from its body: only changes from now on count.
            edge.armed = true;
            edge.slot = None;
            register_waker(&mut edge.waker, cx);
            return Poll::Pending;
        }
        match edge.slot.take() {
            Some(pair) => {
                edge.armed = false;
                Poll::Ready(pair)
            }
            None => {
                register_waker(&mut edge.waker, cx);
                Poll::Pending
            }
        }
    }
}

impl<T: Clone + PartialEq> Stream for Transitions<'_, T> {
    type Item = (T, T);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<(T, T)>> {
        self.get_mut().poll_item(cx).map(Some)
    }
}

impl<T> Transitions<'_, T> {
    /// Removes the registration (the predicate stops being evaluated).
    pub(super) fn unregister(&mut self) {
        if let Some(id) = self.id.take() {
            self.value.lock("AsyncValue::transitions").edge.remove(&id);
        }
    }
}

impl<T> Drop for Transitions<'_, T> {
    fn drop(&mut self) {
        self.unregister();
    }
}

impl<T> fmt::Debug for Transitions<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transitions")
            .field("registered", &self.id.is_some())
            .finish_non_exhaustive()
    }
}
