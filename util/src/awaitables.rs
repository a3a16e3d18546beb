//! [`wait_any`] and [`wait_all`]: trio-util's `_awaitables.py`.
//!
//! Both open a nursery and start each future as a child task, exactly as trio-util does; so the
//! futures run in parallel on the work-stealing pool, failures come out as one
//! [`NurseryError`], and cancellation is Trio's (at checkpoints, shields respected).
//!
//! # Why the futures are `Send + 'static`
//!
//! Nursery children are spawned tasks, and a spawned task cannot borrow from its caller (a
//! borrowing child would be unsound if the nursery future were leaked instead of dropped). Share
//! state with an `Arc` ([`AsyncValue::shared`](crate::AsyncValue::shared)) and move clones into
//! `async move` blocks. To wait on borrowed state, run the waits as the body of a
//! [`move_on_when`](crate::move_on_when) or a nursery, which run inline and may borrow.

use std::future::Future;
use std::panic::resume_unwind;
use std::sync::{Arc, Mutex, OnceLock};

use trellis_runtime::{BoxError, Nursery, NurseryError, TaskFailure, TaskResult, nursery};

/// The futures [`wait_any`] and [`wait_all`] accept: a tuple of up to 8 futures (each its own
/// type), an array or a `Vec` of futures of one type, or `()` (no futures).
///
/// Each future must be `Send + 'static` (it becomes a nursery child) and return `()`,
/// `Result<(), E>` with `E` convertible into a boxed error, or never return: the runtime's
/// [`TaskResult`]. This trait is sealed; for an iterator, `collect` into a `Vec` first.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trellis::time::sleep;
/// use trellis::util::{wait_all, wait_any};
///
/// trellis::run(async {
///     // A tuple: each element may be a different future type.
///     wait_all((sleep(Duration::from_millis(1)), async { Ok::<(), std::io::Error>(()) }))
///         .await
///         .unwrap();
///     // A Vec (or an array) of futures of one type.
///     let sleeps: Vec<_> = (1..=3).map(|ms| sleep(Duration::from_millis(ms))).collect();
///     wait_any(sleeps).await.unwrap();
/// });
/// ```
pub trait Awaitables: sealed::Sealed {}

mod sealed {
    use trellis_runtime::Nursery;

    /// Starts every future as a child of `n`; with `cancel_on_return`, the first child to
    /// return successfully cancels `n`. Private: users cannot name or implement it.
    #[allow(unreachable_pub)] // the sealed-trait pattern: public in a private module
    pub trait Sealed {
        fn start_all(self, n: &Nursery, winner: Option<&super::Winner>);
    }
}

/// The index of the first future that returned without failing, for [`wait_any`].
type Winner = Arc<OnceLock<usize>>;

/// Starts `future`, the `index`-th, as a child of `n`. With a `winner` the child, when
/// `future` returns without failing, records `index` there unless another did first, and
/// cancels the nursery (a failure cancels the nursery anyway).
fn start<F>(n: &Nursery, future: F, index: usize, winner: Option<&Winner>)
where
    F: Future + Send + 'static,
    F::Output: TaskResult,
{
    match winner {
        Some(winner) => {
            let nursery = n.handle();
            let winner = winner.clone();
            n.start_soon(wait_and_call(future, move || {
                let _ = winner.set(index);
                nursery.cancel();
            }));
        }
        None => n.start_soon(future),
    }
}

/// Awaits `future`, then calls `then` if it returned without failing: trio-util's
/// `_wait_and_call`. A failure passes through unchanged (an error as the same boxed error, a
/// panic re-raised with its payload), so the child records it as if `future` were the child.
pub(crate) async fn wait_and_call<F>(future: F, then: impl FnOnce()) -> Result<(), BoxError>
where
    F: Future,
    F::Output: TaskResult,
{
    match future.await.into_failure() {
        None => {
            then();
            Ok(())
        }
        Some(TaskFailure::Error(error)) => Err(error),
        Some(TaskFailure::Panic(payload)) => resume_unwind(payload.into_inner()),
    }
}

impl<F> sealed::Sealed for Vec<F>
where
    F: Future + Send + 'static,
    F::Output: TaskResult,
{
    fn start_all(self, n: &Nursery, winner: Option<&Winner>) {
        for (index, future) in self.into_iter().enumerate() {
            start(n, future, index, winner);
        }
    }
}

impl<F> Awaitables for Vec<F>
where
    F: Future + Send + 'static,
    F::Output: TaskResult,
{
}

impl<F, const N: usize> sealed::Sealed for [F; N]
where
    F: Future + Send + 'static,
    F::Output: TaskResult,
{
    fn start_all(self, n: &Nursery, winner: Option<&Winner>) {
        for (index, future) in self.into_iter().enumerate() {
            start(n, future, index, winner);
        }
    }
}

impl<F, const N: usize> Awaitables for [F; N]
where
    F: Future + Send + 'static,
    F::Output: TaskResult,
{
}

macro_rules! tuple_awaitables {
    ($($f:ident)*) => {
        impl<$($f,)*> sealed::Sealed for ($($f,)*)
        where
            $($f: Future + Send + 'static, <$f as Future>::Output: TaskResult,)*
        {
            #[allow(non_snake_case, unused_variables, unused_mut, unused_assignments)]
            fn start_all(self, n: &Nursery, winner: Option<&Winner>) {
                let ($($f,)*) = self;
                let mut index = 0;
                $(
                    start(n, $f, index, winner);
                    index += 1;
                )*
            }
        }

        impl<$($f,)*> Awaitables for ($($f,)*)
        where
            $($f: Future + Send + 'static, <$f as Future>::Output: TaskResult,)*
        {
        }
    };
}

tuple_awaitables!();
tuple_awaitables!(A);
tuple_awaitables!(A B);
tuple_awaitables!(A B C);
tuple_awaitables!(A B C D);
tuple_awaitables!(A B C D E);
tuple_awaitables!(A B C D E F);
tuple_awaitables!(A B C D E F G);
tuple_awaitables!(A B C D E F G H);

/// Runs the futures concurrently and returns when the first of them returns, after cancelling
/// the others and waiting for them to be dropped. trio-util's `wait_any`.
///
/// The futures are started as children of a new nursery (see [`Awaitables`] for the accepted
/// shapes); the first to return (with `()` or `Ok(())`) cancels the nursery, so the rest are
/// dropped at their next checkpoint, on their own threads. It returns the index of the winner
/// (its position in the tuple, array or `Vec`): of several that return at about the same time,
/// the first to be recorded. With no futures it returns `None` at once. The futures' success
/// value is `()` (or `Ok(())`); to get a value back from the winner, use [`wait_any_value`].
///
/// Trio → Trellis: `await wait_any(partial(f, x), g)` is `wait_any((f(x), g())).await`; a
/// future, being lazy, plays the role of the zero-argument async function.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trellis::time::sleep;
/// use trellis::util::{AsyncBool, wait_any};
///
/// trellis::run(async {
///     let ready = AsyncBool::shared(false);
///     let r = ready.clone();
///     let _setter = trellis::spawn(async move { r.set(true) });
///     // Wait until `ready`, but for an hour at most.
///     let winner = wait_any((
///         async move {
///             ready.wait_value(|v| *v).await;
///         },
///         sleep(Duration::from_secs(3600)),
///     ))
///     .await
///     .unwrap();
///     assert_eq!(winner, Some(0)); // `ready`, not the hour
/// });
/// ```
///
/// # Errors
///
/// If a future fails (returns `Err` or panics), the others are cancelled and the failures come
/// out as a [`NurseryError`], in completion order; a single failure is wrapped too (Trio's
/// strict exception groups). Cancelled futures are not failures.
///
/// # Cancellation
///
/// Cancelled like any nursery by an enclosing scope: every future is cancelled and dropped
/// before the returned future completes (or is dropped). Dropping the returned future cancels
/// the futures still running. Not a checkpoint when there are no futures.
pub async fn wait_any<A: Awaitables>(futures: A) -> Result<Option<usize>, NurseryError> {
    let winner = Winner::default();
    nursery(async |n| futures.start_all(n, Some(&winner))).await?;
    Ok(winner.get().copied())
}

/// Runs the futures concurrently and returns the index and value of the first of them to
/// return, after cancelling the others and waiting for them to be dropped: [`wait_any`] for
/// futures that produce a value (Rust's answer to trio-util users who keep the winner's result
/// in a variable).
///
/// `futures` is any collection of futures of one type (a `Vec`, an array, an iterator). The
/// value is whatever the future returns, an `Err` included: only a panic is a failure. With no
/// futures it returns `None` at once.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trellis::time::sleep;
/// use trellis::util::wait_any_value;
///
/// trellis::run(async {
///     let replicas = [30u64, 1, 20].map(|ms| async move {
///         sleep(Duration::from_millis(ms)).await;
///         format!("answer after {ms} ms")
///     });
///     let (index, value) = wait_any_value(replicas).await.unwrap().unwrap();
///     assert_eq!(index, 1);
///     assert_eq!(value, "answer after 1 ms");
/// });
/// ```
///
/// # Errors
///
/// If a future panics, the others are cancelled and the panics come out as a
/// [`NurseryError`].
///
/// # Cancellation
///
/// As [`wait_any`]; the values of futures that return after the winner are dropped.
pub async fn wait_any_value<I, F>(futures: I) -> Result<Option<(usize, F::Output)>, NurseryError>
where
    I: IntoIterator<Item = F>,
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let won = Arc::new(Mutex::new(None));
    nursery(async |n| {
        for (index, future) in futures.into_iter().enumerate() {
            let won = won.clone();
            let nursery = n.handle();
            n.start_soon(async move {
                let value = future.await;
                let mut won = won.lock().unwrap_or_else(|e| e.into_inner());
                if won.is_none() {
                    *won = Some((index, value));
                    nursery.cancel();
                }
            });
        }
    })
    .await?;
    let won = won.lock().unwrap_or_else(|e| e.into_inner()).take();
    Ok(won)
}

/// Runs the futures concurrently and returns when all of them have returned. trio-util's
/// `wait_all`.
///
/// The futures are started as children of a new nursery (see [`Awaitables`] for the accepted
/// shapes). As trio-util warns: if a future returns because some condition holds (say an
/// [`AsyncValue::wait_value`](crate::AsyncValue::wait_value)), the condition may no longer
/// hold by the time the others have returned.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use trellis::util::wait_all;
///
/// trellis::run(async {
///     let done = Arc::new(AtomicUsize::new(0));
///     let work: Vec<_> = (0..4)
///         .map(|_| {
///             let done = done.clone();
///             async move {
///                 done.fetch_add(1, Ordering::SeqCst);
///             }
///         })
///         .collect();
///     wait_all(work).await.unwrap();
///     assert_eq!(done.load(Ordering::SeqCst), 4);
/// });
/// ```
///
/// # Errors
///
/// If a future fails (returns `Err` or panics), the others are cancelled and the failures come
/// out as a [`NurseryError`], in completion order (a single failure is wrapped too).
///
/// # Cancellation
///
/// Cancelled like any nursery by an enclosing scope: every future is cancelled and dropped
/// before the returned future completes (or is dropped). Dropping the returned future cancels
/// the futures still running.
pub async fn wait_all<A: Awaitables>(futures: A) -> Result<(), NurseryError> {
    nursery(async move |n| futures.start_all(n, None)).await
}
