//! `wait_value` (with `held_for`) and `wait_transition`: named futures.
//!
//! # `WaitValue` states (trio-util's `wait_value`, section 1.1 of the semantics reference)
//!
//! - `Start`: under the lock, if the predicate matches the current value, keep it as the
//!   candidate and pass a checkpoint (`poll_checkpoint`; `Checkpoint` while it is pending):
//!   `wait_value` is a checkpoint even when the condition already holds. Otherwise register the predicate (`Waiting`).
//! - `Waiting`: the slot holds the latest match assigned since registration: it is the
//!   candidate; unregister.
//! - With a candidate and no hold: done, return it. With a hold: the hold starts now (when the
//!   waiting task resumed, not at the assignment). If the current value no longer matches,
//!   pass a checkpoint and go back to `Start` (trio-util's nested `wait_value(not predicate)` returns
//!   after a checkpoint). Otherwise register the negated predicate and a timer (`Holding`).
//! - `Holding`: the value stopped matching: back to `Start` (re-evaluating the *current*
//!   value, with no checkpoint). The timer fired first: return the candidate, the value
//!   captured when the hold started (not the latest one; matching-to-matching changes do not
//!   restart the hold).
//!
//! The predicate moves into the registry while registered and back into the future when it
//! unregisters, so one boxed predicate serves every round of a hold.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use trellis_runtime::poll_checkpoint;
use trellis_runtime::time::{Sleep, sleep};

use super::transitions::Transitions;
use super::{AsyncValue, Level, LevelWait, Pred, register_waker};

impl<T: Clone + PartialEq> AsyncValue<T> {
    /// Waits until the value satisfies `predicate`, and returns the matching value: the
    /// current one if it already matches, else the latest matching value assigned before this
    /// task resumed (which may differ from the current value).
    ///
    /// Add [`.held_for(d)`](WaitValue::held_for) to also require that the value keeps
    /// matching for `d`. For a plain value, pass [`equal_to(v)`](crate::equal_to).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// trellis::run(async {
    ///     let v = Arc::new(trellis::util::AsyncValue::new(0));
    ///     assert_eq!(v.wait_value(|x| *x == 0).await, 0); // already true
    ///     let v2 = v.clone();
    ///     let _setter = trellis::spawn(async move { v2.set(11) });
    ///     assert_eq!(v.wait_value(|x| *x > 10).await, 11);
    /// });
    /// ```
    ///
    /// # Cancellation
    ///
    /// Always a checkpoint, even when the predicate already holds. Nothing happens until the
    /// future is first polled. Dropping it unregisters the predicate; nothing else is lost.
    pub fn wait_value<P>(&self, predicate: P) -> WaitValue<'_, T>
    where
        P: FnMut(&T) -> bool + Send + 'static,
    {
        WaitValue {
            value: self,
            pred: Some(Box::new(predicate)),
            hold: Duration::ZERO,
            state: WaitState::Start,
        }
    }

    /// Waits for a future change that satisfies `predicate(new, old)`, and returns the latest
    /// matching `(new, old)` assigned before this task resumed. Never checks the current value:
    /// a transition that happened before the first poll is missed (race-prone, as in
    /// trio-util). For "changed to `v`", pass [`transition_to(v)`](crate::transition_to); for
    /// any change, [`any_transition`](crate::any_transition).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// # let rt = trellis::Runtime::builder().start_paused(true).build().unwrap();
    /// # rt.block_on(async {
    ///     let v = Arc::new(trellis::util::AsyncValue::new(10));
    ///     let v2 = v.clone();
    ///     let _setter = trellis::spawn(async move {
    ///         trellis::time::sleep(std::time::Duration::from_millis(5)).await;
    ///         v2.set(5);
    ///         v2.set(10);
    ///     });
    ///     // Registered at once (this poll), before the setter wakes up.
    ///     assert_eq!(v.wait_transition(|new, _old| *new == 10).await, (10, 5));
    /// # });
    /// ```
    ///
    /// # Cancellation
    ///
    /// A checkpoint (it always waits). It registers at its first poll; dropping it
    /// unregisters the predicate.
    pub fn wait_transition<P>(&self, predicate: P) -> WaitTransition<'_, T>
    where
        P: FnMut(&T, &T) -> bool + Send + 'static,
    {
        WaitTransition {
            transitions: self.transitions(predicate),
        }
    }
}

/// The future returned by [`AsyncValue::wait_value`]: the matching value.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trellis::util::{AsyncValue, WaitValue};
///
/// trellis::run(async {
///     let v = AsyncValue::new(1);
///     let wait: WaitValue<'_, i32> = v.wait_value(|x| *x == 1).held_for(Duration::from_millis(2));
///     assert_eq!(wait.await, 1);
/// });
/// ```
///
/// # Cancellation
///
/// A checkpoint. Dropping it unregisters its predicate and removes its timer.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct WaitValue<'a, T> {
    value: &'a AsyncValue<T>,
    /// `None` while registered (the registry holds it).
    pred: Option<Pred<T>>,
    hold: Duration,
    state: WaitState<T>,
}

enum WaitState<T> {
    Start,
    /// Yielded once; resumes with the candidate, or restarts (`None`).
    Checkpoint(Option<T>),
    Waiting(u64),
    Holding {
        id: u64,
        candidate: T,
        timer: Sleep,
    },
    Done,
}

// Nothing in a `WaitValue` is pinned: `T` is only moved, `Sleep` is `Unpin`.
impl<T> Unpin for WaitValue<'_, T> {}

impl<'a, T> WaitValue<'a, T> {
    /// Also requires the value to keep matching for `duration` (trio-util's `held_for`).
    ///
    /// After a match, the hold starts when the waiting task resumes. If an assignment makes
    /// the predicate false within `duration`, the wait starts over; matching-to-matching
    /// changes do not restart it. Returns the value captured when the successful hold
    /// started, not the latest one. `Duration::ZERO` means no hold.
    ///
    /// # Panics
    ///
    /// Polling the future panics outside a Trellis runtime when `duration` is not zero (the
    /// hold uses the runtime's timers).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use trellis::time::Instant;
    ///
    /// trellis::run(async {
    ///     let door = Arc::new(trellis::util::AsyncValue::new("open"));
    ///     let start = Instant::now();
    ///     let closed = door.wait_value(|d| *d == "open").held_for(Duration::from_millis(20));
    ///     assert_eq!(closed.await, "open");
    ///     assert!(start.elapsed() >= Duration::from_millis(20));
    /// });
    /// ```
    ///
    /// # Cancellation
    ///
    /// As [`wait_value`](AsyncValue::wait_value): a checkpoint; dropping the future drops the
    /// hold's timer and registration.
    pub fn held_for(mut self, duration: Duration) -> WaitValue<'a, T> {
        self.hold = duration;
        self
    }
}

impl<T: Clone + PartialEq> WaitValue<'_, T> {
    fn pred(&mut self) -> &mut Pred<T> {
        self.pred
            .as_mut()
            .expect("the predicate is back in the future when it is not registered")
    }

    /// A candidate was found: return it, or start holding it.
    fn found(&mut self, candidate: T, cx: &mut Context<'_>) -> Poll<T> {
        if self.hold.is_zero() {
            self.state = WaitState::Done;
            return Poll::Ready(candidate);
        }
        // The hold's timer starts now, before the current value is checked again.
        let timer = sleep(self.hold);
        let value = self.value;
        let mut inner = value.lock("AsyncValue::wait_value");
        if !(self.pred())(&inner.value) {
            drop(inner);
            // Start over after a checkpoint (a cancellation point that spends the budget, so
            // a value flipping back and forth cannot keep this poll going).
            if poll_checkpoint(cx).is_pending() {
                self.state = WaitState::Checkpoint(None);
                return Poll::Pending;
            }
            return self.poll_start(cx);
        }
        let id = inner.insert_level(Level::Wait(LevelWait {
            pred: self.pred.take().expect("not registered"),
            negate: true,
            slot: None,
            waker: Some(cx.waker().clone()),
        }));
        drop(inner);
        self.state = WaitState::Holding {
            id,
            candidate,
            timer,
        };
        self.poll_holding(cx)
    }

    fn poll_holding(&mut self, cx: &mut Context<'_>) -> Poll<T> {
        let WaitState::Holding { id, timer, .. } = &mut self.state else {
            unreachable!("called in the holding state")
        };
        let id = *id;
        let mut inner = self.value.lock("AsyncValue::wait_value");
        let wait = inner.level_wait(id);
        if wait.slot.is_some() {
            // Stopped matching within the hold: start over from the current value.
            self.pred = Some(inner.remove_level_wait(id));
            drop(inner);
            self.state = WaitState::Start;
            return self.poll_start(cx);
        }
        register_waker(&mut wait.waker, cx);
        drop(inner);
        if Pin::new(timer).poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.pred = Some(
            self.value
                .lock("AsyncValue::wait_value")
                .remove_level_wait(id),
        );
        let WaitState::Holding { candidate, .. } =
            std::mem::replace(&mut self.state, WaitState::Done)
        else {
            unreachable!("still holding")
        };
        Poll::Ready(candidate)
    }

    fn poll_start(&mut self, cx: &mut Context<'_>) -> Poll<T> {
        let value = self.value;
        let mut inner = value.lock("AsyncValue::wait_value");
        if (self.pred())(&inner.value) {
            let candidate = inner.value.clone();
            drop(inner);
            // Always a checkpoint, even when the predicate already holds.
            if poll_checkpoint(cx).is_pending() {
                self.state = WaitState::Checkpoint(Some(candidate));
                return Poll::Pending;
            }
            return self.found(candidate, cx);
        }
        // Checked and registered under one lock: no assignment can fall in between.
        let id = inner.insert_level(Level::Wait(LevelWait {
            pred: self.pred.take().expect("not registered"),
            negate: false,
            slot: None,
            waker: Some(cx.waker().clone()),
        }));
        self.state = WaitState::Waiting(id);
        Poll::Pending
    }
}

impl<T: Clone + PartialEq> Future for WaitValue<'_, T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        match std::mem::replace(&mut this.state, WaitState::Done) {
            WaitState::Start => this.poll_start(cx),
            WaitState::Checkpoint(Some(candidate)) => this.found(candidate, cx),
            WaitState::Checkpoint(None) => this.poll_start(cx),
            WaitState::Waiting(id) => {
                let mut inner = this.value.lock("AsyncValue::wait_value");
                let wait = inner.level_wait(id);
                match wait.slot.take() {
                    Some(candidate) => {
                        this.pred = Some(inner.remove_level_wait(id));
                        drop(inner);
                        this.found(candidate, cx)
                    }
                    None => {
                        register_waker(&mut wait.waker, cx);
                        this.state = WaitState::Waiting(id);
                        Poll::Pending
                    }
                }
            }
            state @ WaitState::Holding { .. } => {
                this.state = state;
                this.poll_holding(cx)
            }
            WaitState::Done => panic!("`WaitValue` polled after it completed"),
        }
    }
}

impl<T> Drop for WaitValue<'_, T> {
    fn drop(&mut self) {
        if let WaitState::Waiting(id) | WaitState::Holding { id, .. } = self.state {
            self.value.lock("AsyncValue::wait_value").level.remove(&id);
        }
    }
}

impl<T> fmt::Debug for WaitValue<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            WaitState::Start => "start",
            WaitState::Checkpoint(_) => "checkpoint",
            WaitState::Waiting(_) => "waiting",
            WaitState::Holding { .. } => "holding",
            WaitState::Done => "done",
        };
        f.debug_struct("WaitValue")
            .field("held_for", &self.hold)
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

/// The future returned by [`AsyncValue::wait_transition`]: the matching `(new, old)`.
///
/// # Examples
///
/// ```
/// use trellis::util::{AsyncValue, WaitTransition, any_transition};
///
/// trellis::run(async {
///     let v = AsyncValue::new(0);
///     let change: WaitTransition<'_, i32> = v.wait_transition(any_transition);
///     let out = trellis::move_on_after(std::time::Duration::from_millis(1), change).await;
///     assert_eq!(out, None); // nobody changed it
/// });
/// ```
///
/// # Cancellation
///
/// A checkpoint. Dropping it unregisters its predicate.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct WaitTransition<'a, T> {
    /// One transition taken from the stream, which holds the registration.
    transitions: Transitions<'a, T>,
}

impl<T: Clone + PartialEq> Future for WaitTransition<'_, T> {
    type Output = (T, T);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<(T, T)> {
        let transitions = &mut self.get_mut().transitions;
        let pair = std::task::ready!(transitions.poll_item(cx));
        // Done: the predicate is not evaluated any more (trio-util releases it on return).
        transitions.unregister();
        Poll::Ready(pair)
    }
}

impl<T> fmt::Debug for WaitTransition<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitTransition")
            .field("transitions", &self.transitions)
            .finish_non_exhaustive()
    }
}
