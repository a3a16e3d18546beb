//! `CancelScope`, `CancelHandle` and the timeout helpers.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::time::Instant;

use super::body::{ScopeCore, Timed};
use super::current;
use super::node::Node;

/// A region of code that can be cancelled as a unit: explicitly from any thread (through its
/// [`CancelHandle`]), or by a deadline. Trio's `CancelScope`.
///
/// Run code in it with [`run`](Self::run): the result is `None` when *this* scope caught a
/// cancellation (the code was dropped at its next checkpoint, on its own thread), `Some(value)`
/// when the code finished. Scopes nest; when an outer and an inner scope are both cancelled,
/// the outer one catches. A *shielded* scope is not reached by the cancellation of enclosing
/// scopes while it runs (only by its own). A scope can be entered once.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trellis::CancelScope;
///
/// trellis::run(async {
///     let scope = CancelScope::new().timeout(Duration::from_millis(10));
///     let handle = scope.handle();
///     let out = scope.run(trellis::time::sleep(Duration::from_secs(3600))).await;
///     assert_eq!(out, None);
///     assert!(handle.cancelled_caught());
/// });
/// ```
#[must_use = "a CancelScope does nothing until `.run(future)` is awaited"]
pub struct CancelScope {
    node: Arc<Node>,
    timeout: Option<Duration>,
}

impl Default for CancelScope {
    fn default() -> Self {
        CancelScope::new()
    }
}

impl CancelScope {
    /// A scope with no deadline and no shield.
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     assert_eq!(trellis::CancelScope::new().run(async { 5 }).await, Some(5));
    /// });
    /// ```
    pub fn new() -> CancelScope {
        CancelScope {
            node: Node::new(false, None),
            timeout: None,
        }
    }

    /// Cancels the scope at `deadline` (combined with [`timeout`](Self::timeout): the earlier
    /// wins). Movable later with [`CancelHandle::set_deadline`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trellis::{CancelScope, time::Instant};
    ///
    /// trellis::run(async {
    ///     let at = Instant::now() + Duration::from_millis(5);
    ///     let out = CancelScope::new().deadline(at).run(std::future::pending::<()>()).await;
    ///     assert!(out.is_none());
    /// });
    /// ```
    pub fn deadline(self, deadline: Instant) -> CancelScope {
        self.node.merge_deadline(deadline);
        self
    }

    /// Cancels the scope `timeout` after it is first polled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// trellis::run(async {
    ///     let scope = trellis::CancelScope::new().timeout(Duration::from_millis(5));
    ///     assert!(scope.run(std::future::pending::<()>()).await.is_none());
    /// });
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> CancelScope {
        self.timeout = Some(self.timeout.map_or(timeout, |t| t.min(timeout)));
        self
    }

    /// Shields the scope from the cancellation of enclosing scopes (its own deadline and handle
    /// still apply). Outer cancellation takes effect at the first checkpoint after the shielded
    /// scope finishes.
    ///
    /// # Examples
    ///
    /// ```
    /// use trellis::CancelScope;
    ///
    /// trellis::run(async {
    ///     let outer = CancelScope::new();
    ///     let cancel = outer.handle();
    ///     let out = outer
    ///         .run(async move {
    ///             let inner = CancelScope::new().shield(true).run(async {
    ///                 cancel.cancel(); // the shield defers it
    ///                 trellis::yield_now().await;
    ///                 "cleanup done"
    ///             });
    ///             let done = inner.await;
    ///             assert_eq!(done, Some("cleanup done"));
    ///             trellis::checkpoint().await; // the outer cancellation lands here
    ///             unreachable!()
    ///         })
    ///         .await;
    ///     assert_eq!(out, None::<()>);
    /// });
    /// ```
    pub fn shield(self, shield: bool) -> CancelScope {
        self.node.set_shield(shield);
        self
    }

    /// A handle to cancel the scope or move its deadline from anywhere.
    ///
    /// # Examples
    ///
    /// ```
    /// let scope = trellis::CancelScope::new();
    /// let handle = scope.handle();
    /// handle.cancel();
    /// assert!(handle.cancel_called());
    /// ```
    pub fn handle(&self) -> CancelHandle {
        CancelHandle {
            node: self.node.clone(),
        }
    }

    /// Runs `future` inside the scope. `None` if this scope caught a cancellation. As in Trio,
    /// code runs until its first checkpoint even in a scope cancelled before it started; a body
    /// that finishes without reaching one keeps its value.
    ///
    /// # Panics
    ///
    /// The returned future panics if polled outside a Trellis runtime when the scope has a
    /// deadline (the deadline needs the runtime's timers).
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     let scope = trellis::CancelScope::new();
    ///     scope.handle().cancel();
    ///     let out = scope.run(async {
    ///         trellis::checkpoint().await; // the cancellation lands at the first checkpoint
    ///         1
    ///     });
    ///     assert_eq!(out.await, None);
    /// });
    /// ```
    ///
    /// # Cancellation
    ///
    /// Dropping the returned future drops `future` (and releases the scope). A cancelled scope
    /// drops `future` at its next checkpoint, on the thread that polls it.
    pub fn run<F: Future>(self, future: F) -> ScopeRun<F> {
        // Handles are the node's only other owners, and none can be made from now on.
        let observed = Arc::strong_count(&self.node) > 1;
        ScopeRun {
            core: ScopeCore::new(self.node, Timed::new(self.timeout, observed)),
            future: Some(future),
        }
    }
}

impl fmt::Debug for CancelScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelScope")
            .field("cancel_called", &self.node.cancel_called())
            .field("deadline", &self.node.deadline())
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Cancels a [`CancelScope`] or moves its deadline, from any task or thread.
///
/// # Examples
///
/// ```
/// use trellis::CancelScope;
///
/// trellis::run(async {
///     let scope = CancelScope::new();
///     let handle = scope.handle();
///     let task = trellis::spawn(scope.run(std::future::pending::<()>()));
///     handle.cancel();
///     assert_eq!(task.await.unwrap(), None);
///     assert!(handle.cancelled_caught());
/// });
/// ```
#[derive(Clone)]
pub struct CancelHandle {
    node: Arc<Node>,
}

impl CancelHandle {
    /// Cancels the scope: its code is dropped at its next checkpoint, on its own thread.
    /// Synchronous, idempotent, callable from any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let scope = trellis::CancelScope::new();
    /// scope.handle().cancel();
    /// scope.handle().cancel(); // idempotent
    /// ```
    pub fn cancel(&self) {
        self.node.cancel();
    }

    /// Whether `cancel()` was called (or the deadline passed).
    ///
    /// # Examples
    ///
    /// ```
    /// let scope = trellis::CancelScope::new();
    /// assert!(!scope.handle().cancel_called());
    /// ```
    pub fn cancel_called(&self) -> bool {
        self.node.cancel_called_now()
    }

    /// Whether this scope caught a cancellation (its `run` returned `None`).
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     let scope = trellis::CancelScope::new();
    ///     let h = scope.handle();
    ///     h.cancel();
    ///     scope.run(trellis::checkpoint()).await;
    ///     assert!(h.cancelled_caught());
    /// });
    /// ```
    pub fn cancelled_caught(&self) -> bool {
        self.node.cancelled_caught()
    }

    /// Moves the deadline (earlier or later) while the scope runs.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trellis::{CancelScope, time::Instant};
    ///
    /// trellis::run(async {
    ///     let scope = CancelScope::new().timeout(Duration::from_secs(3600));
    ///     let h = scope.handle();
    ///     let run = scope.run(std::future::pending::<()>());
    ///     h.set_deadline(Instant::now() + Duration::from_millis(5));
    ///     assert!(run.await.is_none());
    /// });
    /// ```
    pub fn set_deadline(&self, deadline: Instant) {
        self.node.set_deadline(Some(deadline));
    }

    /// The current deadline, if any (a relative `timeout` shows once the scope has started).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trellis::{CancelScope, time::Instant};
    ///
    /// let at = Instant::now() + Duration::from_secs(1);
    /// assert_eq!(CancelScope::new().deadline(at).handle().deadline(), Some(at));
    /// ```
    pub fn deadline(&self) -> Option<Instant> {
        self.node.deadline()
    }
}

impl fmt::Debug for CancelHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelHandle")
            .field("cancel_called", &self.cancel_called())
            .field("cancelled_caught", &self.cancelled_caught())
            .finish()
    }
}

pin_project_lite::pin_project! {
    /// The future returned by [`CancelScope::run`].
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     let run: trellis::ScopeRun<_> = trellis::CancelScope::new().run(async { 1 });
    ///     assert_eq!(run.await, Some(1));
    /// });
    /// ```
    ///
    /// # Cancellation
    ///
    /// Dropping it drops the code it runs. The scope belongs to the scope that encloses its first
    /// poll: if that one is cancelled, so is this one, even when it is awaited somewhere else
    /// later; it then returns `None` unless a cancelled scope enclosing that later poll catches.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct ScopeRun<F> {
        core: ScopeCore<Timed>,
        #[pin]
        future: Option<F>,
    }
}

impl<F: Future> Future for ScopeRun<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        let mut this = self.project();
        // The steps are those of `body.rs`.
        if this.core.begin() {
            if let Some(future) = this.future.as_mut().as_pin_mut() {
                let polled = this.core.enter_body(|| future.poll(cx));
                if let Poll::Ready(value) = polled {
                    this.future.set(None);
                    this.core.finish();
                    return Poll::Ready(Some(value));
                }
                if !this.core.must_stop_after_pending(cx) {
                    return Poll::Pending;
                }
            }
        }
        // Cancelled, and nothing inside holds us: drop the code at this checkpoint.
        this.future.set(None);
        this.core.catch().map(|()| None)
    }
}

impl<F> fmt::Debug for ScopeRun<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeRun")
            .field("done", &self.future.is_none())
            .finish_non_exhaustive()
    }
}

/// Runs `future` with a `duration` timeout: `None` if the time ran out (the future was
/// dropped). Trio's `move_on_after`. The clock starts at the first poll.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// trellis::run(async {
///     let nap = trellis::time::sleep(Duration::from_secs(3));
///     assert_eq!(trellis::move_on_after(Duration::from_millis(10), nap).await, None);
/// });
/// ```
///
/// # Cancellation
///
/// Dropping the returned future drops `future`.
pub fn move_on_after<F: Future>(duration: Duration, future: F) -> ScopeRun<F> {
    CancelScope::new().timeout(duration).run(future)
}

/// Runs `future` until `deadline`: `None` if the deadline passed first. Trio's `move_on_at`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trellis::time::Instant;
///
/// trellis::run(async {
///     let at = Instant::now() + Duration::from_millis(5);
///     assert_eq!(trellis::move_on_at(at, async { 7 }).await, Some(7));
/// });
/// ```
///
/// # Cancellation
///
/// Dropping the returned future drops `future`.
pub fn move_on_at<F: Future>(deadline: Instant, future: F) -> ScopeRun<F> {
    CancelScope::new().deadline(deadline).run(future)
}

/// The error of [`fail_after`] and [`fail_at`]: the scope caught a cancellation (its deadline,
/// or an explicit cancel) before the future finished.
///
/// # Examples
///
/// ```
/// let err = trellis::TooSlow;
/// assert!(err.to_string().contains("before it finished"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooSlow;

impl fmt::Display for TooSlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the operation was cancelled (its deadline passed, or its scope was cancelled) before it finished")
    }
}

impl std::error::Error for TooSlow {}

/// Runs `future` with a timeout, failing with [`TooSlow`] if it runs out. Trio's `fail_after`,
/// asyncio's `timeout`.
///
/// # Errors
///
/// `Err(TooSlow)` whenever the scope caught a cancellation.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// trellis::run(async {
///     let slow = trellis::time::sleep(Duration::from_secs(3));
///     assert_eq!(trellis::fail_after(Duration::from_millis(10), slow).await, Err(trellis::TooSlow));
/// });
/// ```
///
/// # Cancellation
///
/// Dropping the returned future drops `future`.
pub async fn fail_after<F: Future>(duration: Duration, future: F) -> Result<F::Output, TooSlow> {
    move_on_after(duration, future).await.ok_or(TooSlow)
}

/// Runs `future` until `deadline`, failing with [`TooSlow`] if it passes first.
///
/// # Errors
///
/// `Err(TooSlow)` whenever the scope caught a cancellation.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trellis::time::Instant;
///
/// trellis::run(async {
///     let at = Instant::now() + Duration::from_secs(5);
///     assert_eq!(trellis::fail_at(at, async { 1 }).await, Ok(1));
/// });
/// ```
///
/// # Cancellation
///
/// Dropping the returned future drops `future`.
pub async fn fail_at<F: Future>(deadline: Instant, future: F) -> Result<F::Output, TooSlow> {
    move_on_at(deadline, future).await.ok_or(TooSlow)
}

/// Runs `future` shielded from the cancellation of enclosing scopes: it runs to completion,
/// then the enclosing cancellation takes effect at the next checkpoint.
///
/// # Examples
///
/// ```
/// trellis::run(async {
///     let flushed = trellis::shielded(async { "flushed" }).await;
///     assert_eq!(flushed, "flushed");
/// });
/// ```
///
/// # Cancellation
///
/// Not cancelled by enclosing scopes; dropping the returned future drops `future`.
pub async fn shielded<F: Future>(future: F) -> F::Output {
    match CancelScope::new().shield(true).run(future).await {
        Some(value) => value,
        None => unreachable!("a shielded scope without a handle or deadline is never cancelled"),
    }
}

/// Completes when an enclosing scope has been cancelled, even across a shield: inside a
/// shielded cleanup block, this is how to notice that the surrounding code is being cancelled
/// (to say goodbye, flush, and exit). Never completes outside any scope.
///
/// # Examples
///
/// ```
/// use trellis::CancelScope;
///
/// trellis::run(async {
///     let outer = CancelScope::new();
///     let cancel = outer.handle();
///     outer
///         .run(async move {
///             trellis::shielded(async {
///                 cancel.cancel();
///                 trellis::cancel_requested().await; // sees through the shield
///             })
///             .await;
///             trellis::checkpoint().await;
///         })
///         .await;
/// });
/// ```
///
/// # Cancellation
///
/// A checkpoint only in the sense that it suspends; it holds no state.
pub async fn cancel_requested() {
    std::future::poll_fn(|_cx| {
        if current::is_requested() {
            Poll::Ready(())
        } else {
            // The enclosing scopes registered this task's waker: a cancel wakes it.
            Poll::Pending
        }
    })
    .await
}

/// A checkpoint: yields to the scheduler once, and stops here if the enclosing scope is
/// cancelled. Trio's `checkpoint()`.
///
/// # Examples
///
/// ```
/// trellis::run(async {
///     let scope = trellis::CancelScope::new();
///     scope.handle().cancel();
///     let out = scope
///         .run(async {
///             trellis::checkpoint().await;
///             unreachable!("cancelled at the checkpoint");
///         })
///         .await;
///     assert_eq!(out, None::<()>);
/// });
/// ```
///
/// # Cancellation
///
/// Always a cancellation point.
pub async fn checkpoint() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if current::is_cancelled() {
            return Poll::Pending; // the enclosing scope drops us in this same poll
        }
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}
