//! `RepeatedEvent`: an event that can be set many times, with several listeners.
//!
//! Built, as in trio-util (section 1.5 of the semantics reference), on an `AsyncValue<u64>`
//! counter: `set` increments it; `wait` waits for it to pass the count it saw first;
//! `unqueued_events` is `transitions` of the counter; `events` is `eventual_values` of
//! "counter > the count seen at the first poll".

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::{AsyncValue, EventualValues, Transitions, any_transition};

/// An event that can be set any number of times, for any number of listeners: trio-util's
/// `RepeatedEvent`.
///
/// Two ways to listen: [`unqueued_events`](Self::unqueued_events) drops the events that come
/// while the listener is busy; [`events`](Self::events) may merge them, but always delivers
/// one after the latest `set` (eventual consistency: the listener always gets to process the
/// latest state).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use trellis::util::RepeatedEvent;
///
/// # let rt = trellis::Runtime::builder().start_paused(true).build().unwrap();
/// # rt.block_on(async {
///     let changed = Arc::new(RepeatedEvent::new());
///     let c = changed.clone();
///     let listener = trellis::spawn(async move { c.wait().await });
///     trellis::time::sleep(std::time::Duration::from_millis(5)).await;
///     changed.set();
///     listener.await.unwrap();
/// # });
/// ```
#[derive(Default)]
pub struct RepeatedEvent {
    count: AsyncValue<u64>,
}

impl RepeatedEvent {
    /// A new event that was never set.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = trellis::util::RepeatedEvent::new();
    /// event.set();
    /// ```
    pub fn new() -> RepeatedEvent {
        RepeatedEvent::default()
    }

    /// Triggers the event. Synchronous: never blocks, never a checkpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = trellis::util::RepeatedEvent::new();
    /// event.set();
    /// event.set(); // nobody listens: nothing happens
    /// ```
    pub fn set(&self) {
        self.count.update(|count| count.wrapping_add(1));
    }

    /// Waits for the next [`set`](Self::set) after the first poll. Earlier sets are not
    /// remembered.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// trellis::run(async {
    ///     let event = trellis::util::RepeatedEvent::new();
    ///     event.set(); // before the wait: does not count
    ///     let waited = trellis::move_on_after(Duration::from_millis(5), event.wait()).await;
    ///     assert_eq!(waited, None);
    /// });
    /// ```
    ///
    /// # Cancellation
    ///
    /// A checkpoint (it always waits). Dropping it loses nothing.
    pub async fn wait(&self) {
        let token = self.count.get();
        self.count.wait_value(move |count| *count > token).await;
    }

    /// A stream that yields `()` once for each [`set`](Self::set) that happens while the
    /// listener waits for the next item: sets during the listener's loop body are dropped,
    /// several sets before the listener resumes count once, sets before the first poll are
    /// not delivered. The same as a loop of [`wait`](Self::wait). Never ends.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// # let rt = trellis::Runtime::builder().start_paused(true).build().unwrap();
    /// # rt.block_on(async {
    ///     let event = Arc::new(trellis::util::RepeatedEvent::new());
    ///     let mut events = event.unqueued_events();
    ///     let e = event.clone();
    ///     let _setter = trellis::spawn(async move {
    ///         trellis::time::sleep(Duration::from_millis(5)).await;
    ///         e.set();
    ///     });
    ///     assert_eq!(events.next().await, Some(()));
    /// # });
    /// ```
    ///
    /// # Cancellation
    ///
    /// Asking for an item is a checkpoint (it always waits). Dropping a pending `next` leaves
    /// the stream listening; dropping the stream unregisters it.
    pub fn unqueued_events(&self) -> UnqueuedEvents<'_> {
        UnqueuedEvents {
            transitions: self.count.transitions(any_transition),
        }
    }

    /// A stream that yields `()` for the sets since the last item, with eventual consistency:
    /// any number of sets while the listener runs its body produce exactly one more item, and
    /// an item always follows the latest set. Sets before the first poll are not delivered,
    /// unless `repeat_last` is true: then the first item comes at once, even if the event was
    /// never set (the "start" position: process the initial state too). Never ends.
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     let event = trellis::util::RepeatedEvent::new();
    ///     let mut events = event.events(true);
    ///     assert_eq!(events.next().await, Some(())); // at once, with repeat_last
    ///     event.set();
    ///     event.set();
    ///     assert_eq!(events.next().await, Some(())); // the two sets, once
    /// });
    /// ```
    ///
    /// # Cancellation
    ///
    /// Asking for an item is a checkpoint only when it waits (an item already due comes at
    /// once). Dropping a pending `next` loses nothing; dropping the stream unregisters it.
    pub fn events(&self, repeat_last: bool) -> Events<'_> {
        Events {
            count: &self.count,
            repeat_last,
            values: None,
        }
    }
}

impl fmt::Debug for RepeatedEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RepeatedEvent")
            .field("count", &self.count.get())
            .finish()
    }
}

/// The stream returned by [`RepeatedEvent::unqueued_events`].
///
/// # Examples
///
/// ```
/// use trellis::util::{RepeatedEvent, UnqueuedEvents};
///
/// let event = RepeatedEvent::new();
/// let _events: UnqueuedEvents<'_> = event.unqueued_events();
/// ```
///
/// # Cancellation
///
/// See [`RepeatedEvent::unqueued_events`].
#[must_use = "streams do nothing unless polled"]
#[derive(Debug)]
pub struct UnqueuedEvents<'a> {
    transitions: Transitions<'a, u64>,
}

impl UnqueuedEvents<'_> {
    /// Waits for the next event; never returns `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// trellis::run(async {
    ///     let event = trellis::util::RepeatedEvent::new();
    ///     let mut events = event.unqueued_events();
    ///     let none = trellis::move_on_after(Duration::from_millis(2), events.next()).await;
    ///     assert_eq!(none, None);
    /// });
    /// ```
    ///
    /// # Cancellation
    ///
    /// A checkpoint. See [`RepeatedEvent::unqueued_events`].
    pub async fn next(&mut self) -> Option<()> {
        self.transitions.next().await.map(drop)
    }
}

impl Stream for UnqueuedEvents<'_> {
    type Item = ();

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        Pin::new(&mut self.get_mut().transitions)
            .poll_next(cx)
            .map(|item| item.map(drop))
    }
}

/// The stream returned by [`RepeatedEvent::events`].
///
/// # Examples
///
/// ```
/// use trellis::util::{Events, RepeatedEvent};
///
/// let event = RepeatedEvent::new();
/// let _events: Events<'_> = event.events(false);
/// ```
///
/// # Cancellation
///
/// See [`RepeatedEvent::events`].
#[must_use = "streams do nothing unless polled"]
pub struct Events<'a> {
    count: &'a AsyncValue<u64>,
    repeat_last: bool,
    /// Made at the first poll, when the token is taken.
    values: Option<EventualValues<'a, u64>>,
}

impl Events<'_> {
    /// Waits for the next event; never returns `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     let event = trellis::util::RepeatedEvent::new();
    ///     assert_eq!(event.events(true).next().await, Some(()));
    /// });
    /// ```
    ///
    /// # Cancellation
    ///
    /// A checkpoint when it waits. See [`RepeatedEvent::events`].
    pub async fn next(&mut self) -> Option<()> {
        std::future::poll_fn(|cx| self.poll_item(cx)).await
    }

    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
        let count = self.count;
        let repeat_last = self.repeat_last;
        let values = self.values.get_or_insert_with(|| {
            // The token is the count at the first poll; `repeat_last` takes one step back, so
            // the current count already matches.
            let token = count.get();
            count.eventual_values(move |c| if repeat_last { *c >= token } else { *c > token })
        });
        Pin::new(values).poll_next(cx).map(|item| item.map(drop))
    }
}

impl Stream for Events<'_> {
    type Item = ();

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        self.get_mut().poll_item(cx)
    }
}

impl fmt::Debug for Events<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events")
            .field("repeat_last", &self.repeat_last)
            .field("started", &self.values.is_some())
            .finish()
    }
}
