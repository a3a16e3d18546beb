//! [`Event`]: a flag that is set once and waited for (Trio's `trio.Event`).
//!
//! Waiting uses the channels' registration protocol (see `channel/chan.rs`): the flag is the
//! condition, [`Event::set`] is the notifier (it sets the flag, then wakes every waiter), and a
//! waiter registers, then re-checks the flag, so no wakeup is lost.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use crate::channel::Waiters;
use crate::loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
use crate::scheduler::coop;

/// A flag that starts unset, is [`set`](Event::set) once, and can be waited for: Trio's
/// `trio.Event`. Once set it stays set; every current and future [`wait`](Event::wait)
/// returns.
///
/// `Event` is `Send + Sync`: share it with an `Arc` between tasks on any domain and plain
/// threads ([`wait_blocking`](Event::wait_blocking)).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use trellis::sync::Event;
///
/// trellis::run(async {
///     let ready = Arc::new(Event::new());
///     let r = ready.clone();
///     let waiter = trellis::spawn(async move {
///         r.wait().await;
///         "woken"
///     });
///     ready.set();
///     assert_eq!(waiter.await.unwrap(), "woken");
///     assert!(ready.is_set());
/// });
/// ```
pub struct Event {
    set: AtomicBool,
    waiters: Waiters,
}

impl Event {
    /// A new event, not set.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = trellis::sync::Event::new();
    /// assert!(!e.is_set());
    /// ```
    pub fn new() -> Event {
        Event {
            set: AtomicBool::new(false),
            waiters: Waiters::new(),
        }
    }

    /// Whether the event has been set.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = trellis::sync::Event::new();
    /// e.set();
    /// assert!(e.is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        self.set.load(SeqCst)
    }

    /// Sets the event and wakes every waiter (on its own domain). Setting a set event does
    /// nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = trellis::sync::Event::new();
    /// e.set();
    /// e.set();
    /// assert!(e.is_set());
    /// ```
    pub fn set(&self) {
        if !self.set.swap(true, SeqCst) {
            self.waiters.notify_all();
        }
    }

    /// The number of tasks and threads waiting (Trio's `statistics().tasks_waiting`).
    ///
    /// # Examples
    ///
    /// ```
    /// let e = trellis::sync::Event::new();
    /// assert_eq!(e.waiting(), 0);
    /// ```
    pub fn waiting(&self) -> usize {
        self.waiters.waiting()
    }

    /// Waits until the event is set.
    ///
    /// # Cancellation
    ///
    /// A checkpoint, also when the event is already set (as in Trio): in a cancelled scope the
    /// wait stops there and the scope's future drops it. Dropping the future (cancelled or not)
    /// leaves nothing behind: the event is not changed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trellis::sync::Event;
    ///
    /// trellis::run(async {
    ///     let never = Event::new();
    ///     let done = trellis::move_on_after(Duration::from_millis(5), never.wait()).await;
    ///     assert!(done.is_none()); // timed out: the wait was cancelled
    /// });
    /// ```
    pub fn wait(&self) -> EventWait<'_> {
        EventWait {
            event: self,
            key: None,
        }
    }

    /// Waits until the event is set, blocking this (plain) thread.
    ///
    /// # Panics
    ///
    /// On a Trellis worker thread (inside a task): use [`wait`](Event::wait) there.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use trellis::sync::Event;
    ///
    /// let e = Arc::new(Event::new());
    /// let e2 = e.clone();
    /// let t = std::thread::spawn(move || e2.wait_blocking());
    /// trellis::run(async move { e.set() });
    /// t.join().unwrap();
    /// ```
    pub fn wait_blocking(&self) {
        crate::channel::block_on("Event::wait_blocking", self.wait());
    }
}

impl Default for Event {
    fn default() -> Event {
        Event::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.is_set())
            .field("waiting", &self.waiting())
            .finish()
    }
}

/// The future of [`Event::wait`]: ready once the event is set (see there for cancellation).
///
/// # Examples
///
/// ```
/// use trellis::sync::{Event, EventWait};
///
/// trellis::run(async {
///     let e = Event::new();
///     e.set();
///     let wait: EventWait<'_> = e.wait();
///     wait.await;
/// });
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct EventWait<'a> {
    event: &'a Event,
    key: Option<usize>,
}

impl Future for EventWait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let coop = ready!(coop::poll_proceed(cx));
        if !this.event.is_set() {
            this.event.waiters.register(&mut this.key, cx.waker());
            if !this.event.is_set() {
                return Poll::Pending;
            }
        }
        this.event.waiters.remove(&mut this.key);
        coop.made_progress();
        Poll::Ready(())
    }
}

impl Drop for EventWait<'_> {
    fn drop(&mut self) {
        // `set` notifies every waiter: nothing to pass on.
        self.event.waiters.remove(&mut self.key);
    }
}

impl fmt::Debug for EventWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventWait")
            .field("event", self.event)
            .finish_non_exhaustive()
    }
}
