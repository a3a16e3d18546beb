//! [`move_on_when`] and [`run_and_cancelling`]: trio-util's `_cancel_scopes.py`.
//!
//! trio-util's versions are async context managers around an inline body. Here the body is an
//! async closure (or future) run inline in the caller's task, so it may borrow locals and need
//! not be `Send`; the trigger / background operation is a nursery child, so it is
//! `Send + 'static`, as in trio-util (which starts it with `start_soon`). The body's value comes
//! back to the caller, which an `async with` block cannot do.

use std::future::Future;

use crate::awaitables::wait_and_call;
use trellis_runtime::{BoxError, CancelHandle, CancelScope, NurseryError, TaskResult, nursery};

/// What the body of [`move_on_when`] or [`run_and_cancelling`] may return: `()`, a
/// `Result<V, E>` with `E` convertible into a boxed error (an `Err` is a failure, reported in
/// the [`NurseryError`] as trio-util reports a body's exception in an exception group), or the
/// never type (a body that loops until it is cancelled). A body that computes a plain value
/// and cannot fail returns `Ok::<_, Infallible>(value)`.
///
/// # Examples
///
/// ```
/// use trellis::util::BodyResult;
///
/// assert_eq!(Ok::<_, std::io::Error>(5).into_result().unwrap(), 5);
/// assert!(Err::<u8, _>("bad").into_result().is_err());
/// assert!(().into_result().is_ok());
/// ```
pub trait BodyResult {
    /// The value of a body that did not fail.
    type Value;

    /// The value, or the error that makes this outcome a failure.
    ///
    /// # Errors
    ///
    /// The body's error, boxed.
    fn into_result(self) -> Result<Self::Value, BoxError>;
}

impl BodyResult for () {
    type Value = ();

    fn into_result(self) -> Result<(), BoxError> {
        Ok(())
    }
}

impl<V, E: Into<BoxError>> BodyResult for Result<V, E> {
    type Value = V;

    fn into_result(self) -> Result<V, BoxError> {
        self.map_err(Into::into)
    }
}

/// Names the never type `!` on stable Rust, as the runtime's `HasOutput` does (the runtime's
/// own trait does not work here: across crates, coherence takes that projection for `()`).
trait Never {
    type Type;
}

impl<O> Never for fn() -> O {
    type Type = O;
}

#[allow(private_interfaces)] // `Never` only spells `!`; users see `impl BodyResult for !`
impl BodyResult for <fn() -> ! as Never>::Type {
    type Value = ();

    fn into_result(self) -> Result<(), BoxError> {
        self
    }
}

/// Runs `body` in a cancel scope that is cancelled when `trigger` returns: the body is
/// interrupted at its next checkpoint and the result is `Ok(None)`. If the body finishes first,
/// `trigger` is cancelled (and dropped) before this returns `Ok(Some(value))`. trio-util's
/// `async with move_on_when(fn) as cancel_scope:`.
///
/// `trigger` runs as a child task of a nursery (hence `Send + 'static`); it is always started,
/// even when the body finishes at once (it runs at least up to its first checkpoint, as in
/// Trio). `body` runs inline, in the caller's task, and receives the scope's [`CancelHandle`]
/// (trio-util yields the `CancelScope`): `cancel()` ends the body early, `set_deadline` adds a
/// deadline, and after the call `cancel_called()` / `cancelled_caught()` tell what happened
/// (both stay `false` when the body finished first). To shield the body or set a deadline
/// before it starts, build the scope yourself: [`move_on_when_in`].
///
/// Trio → Trellis:
///
/// ```text
/// async with move_on_when(event.wait) as scope:     move_on_when(wait_for_event, async |scope| {
///     ...                                              ...
///                                                  }).await?;
/// ```
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trellis::time::sleep;
/// use trellis::util::{AsyncBool, move_on_when};
///
/// trellis::run(async {
///     let stop = AsyncBool::shared(false);
///     let s = stop.clone();
///     let trigger = async move {
///         s.wait_value(|v| *v).await;
///     };
///     let mut ticks = 0;
///     let out = move_on_when(trigger, async |_scope| {
///         loop {
///             ticks += 1; // the body may borrow locals
///             if ticks == 3 {
///                 stop.set(true); // the trigger returns: the body stops at a checkpoint
///             }
///             sleep(Duration::from_millis(1)).await;
///         }
///     })
///     .await
///     .unwrap();
///     assert_eq!(out, None); // the trigger ended the body
///     assert!(ticks >= 3);
/// });
/// ```
///
/// # Errors
///
/// If `trigger` fails (returns `Err` or panics), the body is cancelled; if the body fails
/// (returns `Err` or panics), `trigger` is cancelled. Either way every failure comes out in a
/// [`NurseryError`], in completion order; a body error is wrapped too, as trio-util's body
/// exception comes out in an exception group.
///
/// # Cancellation
///
/// An enclosing scope's cancellation reaches both the body and `trigger` (unless the scope
/// is shielded: see [`move_on_when_in`]); both are dropped before the returned future
/// completes. Dropping the returned future drops the body and cancels `trigger`.
pub async fn move_on_when<T, B, R>(trigger: T, body: B) -> Result<Option<R::Value>, NurseryError>
where
    T: Future + Send + 'static,
    T::Output: TaskResult,
    B: AsyncFnOnce(CancelHandle) -> R,
    R: BodyResult,
{
    move_on_when_in(CancelScope::new(), trigger, body).await
}

/// [`move_on_when`] with a scope you configure: a deadline or timeout
/// (`CancelScope::new().timeout(d)`), or a shield (`CancelScope::new().shield(true)`, which
/// protects the body from the cancellation of enclosing scopes and from a failing `trigger`, but
/// not from `trigger` returning, since that cancels this very scope). Trio's
/// `cancel_scope.shield = True` / `cancel_scope.deadline = ...` inside the block.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trellis::CancelScope;
/// use trellis::util::move_on_when_in;
///
/// trellis::run(async {
///     let scope = CancelScope::new().timeout(Duration::from_millis(5));
///     let handle = scope.handle();
///     let never = std::future::pending::<()>();
///     let out = move_on_when_in(scope, never, async |_| std::future::pending::<()>().await)
///         .await
///         .unwrap();
///     assert_eq!(out, None);
///     assert!(handle.cancelled_caught()); // the deadline ended the body
/// });
/// ```
///
/// # Errors
///
/// As [`move_on_when`].
///
/// # Cancellation
///
/// As [`move_on_when`]; a shielded `scope` keeps the body running through an enclosing
/// cancellation (`trigger` is not shielded).
pub async fn move_on_when_in<T, B, R>(
    scope: CancelScope,
    trigger: T,
    body: B,
) -> Result<Option<R::Value>, NurseryError>
where
    T: Future + Send + 'static,
    T::Output: TaskResult,
    B: AsyncFnOnce(CancelHandle) -> R,
    R: BodyResult,
{
    let handle = scope.handle();
    let mut value = None;
    nursery(async |n| {
        let cancel = handle.clone();
        // trio-util's `_wait_and_call(fn, cancel_scope.cancel)`: cancel only on return.
        n.start_soon(wait_and_call(trigger, move || cancel.cancel()));
        let out = scope.run(body(handle)).await;
        n.cancel(); // the body is done: stop the trigger if it still runs
        if let Some(out) = out {
            value = Some(out.into_result()?);
        }
        Ok::<(), BoxError>(())
    })
    .await?;
    Ok(value)
}

/// Starts `background` as a child task, runs `body`, then cancels `background` (if it still
/// runs) and returns the body's value once it is gone. trio-util's
/// `async with run_and_cancelling(fn):`.
///
/// `background` returning early has no effect on the body. `body` runs inline, in the caller's
/// task (it may borrow locals and need not be `Send`); `background` is a nursery child
/// (`Send + 'static`), always started, even when the body finishes at once.
///
/// # Examples
///
/// ```
/// use std::convert::Infallible;
/// use std::time::Duration;
/// use trellis::time::interval;
/// use trellis::util::{AsyncValue, run_and_cancelling};
///
/// trellis::run(async {
///     let beats = AsyncValue::shared(0);
///     let b = beats.clone();
///     let heartbeat = async move {
///         let mut tick = interval(Duration::from_millis(1));
///         loop {
///             tick.tick().await;
///             b.set(b.get() + 1);
///         }
///     };
///     let seen = run_and_cancelling(heartbeat, async {
///         let seen = beats.wait_value(|n| *n >= 3).await; // the heartbeat stops after this
///         Ok::<_, Infallible>(seen) // a plain value goes in an `Ok`
///     })
///     .await;
///     assert!(seen.unwrap() >= 3);
/// });
/// ```
///
/// # Errors
///
/// If `background` fails (returns `Err` or panics), the body is cancelled; if the body fails,
/// `background` is cancelled. Every failure comes out in a [`NurseryError`], in completion
/// order; a body error is wrapped too, as in trio-util.
///
/// # Cancellation
///
/// An enclosing scope's cancellation reaches both; both are dropped before the returned future
/// completes. Dropping the returned future drops the body and cancels `background`.
pub async fn run_and_cancelling<T, F>(
    background: T,
    body: F,
) -> Result<<F::Output as BodyResult>::Value, NurseryError>
where
    T: Future + Send + 'static,
    T::Output: TaskResult,
    F: Future,
    F::Output: BodyResult,
{
    let mut value = None;
    nursery(async |n| {
        n.start_soon(background);
        let out = body.await;
        n.cancel(); // the body is done: stop the background task if it still runs
        value = Some(out.into_result()?);
        Ok::<(), BoxError>(())
    })
    .await?;
    // Nobody else can cancel this nursery, and a failure is an `Err` above: so the body ran to
    // its end.
    Ok(value.expect("the body finished without failing"))
}
