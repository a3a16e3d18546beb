//! `with_async_generator`: a stream produced by a task, so that the producer may hold
//! nurseries and cancel scopes across its yields (trio-util's `@trio_async_generator`).
//!
//! The mapping from trio-util is in the docs of [`with_async_generator`].

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use trellis_runtime::channel::{self, Receiver, Sender};
use trellis_runtime::{NurseryError, TaskFailure, TaskResult, nursery};

/// Runs `producer` as a task that yields values to `consumer`, through a rendezvous channel:
/// the Rust form of trio-util's `@trio_async_generator` (see the mapping below).
///
/// `producer` gets a [`Yielder`]: each `y.yield_(v).await` hands `v` to the consumer and returns
/// once the consumer took it. Because the producer is a task (a child of a nursery opened
/// here), it may hold nurseries and cancel scopes across its yields, e.g. put a timeout on one
/// yield. `consumer` gets the values as an [`AsyncGenerator`] stream and runs as the nursery's
/// body; its result is returned once the producer has finished too.
///
/// - The stream ends when the producer returns (or drops every `Yielder`).
/// - When the consumer drops the stream, the producer's next (or pending) `yield_` fails with
///   [`GeneratorClosed`]; a producer that returns that error (`?`) ends quietly.
/// - When the consumer returns, the producer is **cancelled** (dropped at its next checkpoint,
///   wherever it waits), and `with_async_generator` returns once it is gone. This is a
///   deliberate difference: trio-util's context manager only closes the channel and then waits
///   for the generator to reach its next `yield`, so a generator waiting for something else
///   (a sensor that went quiet) blocks the consumer's exit for as long as it waits. A producer
///   with async cleanup to do runs it under [`shielded`](trellis_runtime::shielded).
/// - The producer must be `Send + 'static` (it is a stealable task).
///
/// # Mapping from trio-util
///
/// Trio forbids yielding from inside a nursery or cancel scope in an async generator (the
/// generator's frame moves between the consumer's scopes at every `yield`). trio-util's
/// decorator runs the generator as a second task that feeds the consumer through a
/// zero-capacity channel, and turns it into an async context manager:
///
/// ```text
/// @trio_async_generator                    |  with_async_generator(
/// async def squares():                     |      |y: Yielder<u64>| async move {
///     for i in range(10):                  |          for i in 0..10 {
///         yield i * i                      |              y.yield_(i * i).await?;
///                                          |          }
///                                          |          Ok::<(), GeneratorClosed>(())
///                                          |      },
/// async with squares() as agen:            |      async |mut agen| {
///     async for v in agen: ...             |          while let Some(v) = agen.next().await { ... }
///                                          |      },
///                                          |  ).await
/// ```
///
/// | trio-util | here |
/// |---|---|
/// | the generator runs in a task of a nursery opened by the context manager | the producer is a child of a nursery opened by `with_async_generator`; the consumer is the nursery's body |
/// | `yield v` = `await send_channel.send(v)`, buffer 0 | `y.yield_(v).await`, a rendezvous send: it returns once the consumer took `v` |
/// | `send` raises (e.g. `Cancelled` by the generator's own scope): thrown into the generator at its `yield` | the producer's own scope drops the pending `yield_` (the value is not delivered) and the producer goes on after that scope |
/// | the consumer leaves the `async with`: the receive channel closes, `send` raises `BrokenResourceError`, the generator is closed quietly (the exit waits until it reaches its next `yield`) | the consumer drops the stream: `yield_` fails with [`GeneratorClosed`], and a producer that returns it (`?`) ends quietly; the consumer body returns: the producer is cancelled at its next checkpoint, wherever it is |
/// | the consumer is cancelled: the nursery and the generator are cancelled | the same: the producer is a child of a nursery inside the consumer's scopes |
/// | the generator raises: the nursery raises an `ExceptionGroup` | the producer fails (`Err` or panic): the consumer body is cancelled at its next checkpoint and `with_async_generator` returns `Err(NurseryError)` |
///
/// # Errors
///
/// `Err(NurseryError)` when the producer failed: it returned an `Err` other than
/// [`GeneratorClosed`], or panicked. The consumer is then cancelled at its next checkpoint
/// (its result is lost), as in trio-util, where the generator's exception cancels the
/// context manager's body.
///
/// # Examples
///
/// A producer that puts a timeout on each yield, which an ordinary stream could not do:
///
/// ```
/// use std::time::Duration;
/// use futures_lite::StreamExt;
/// use trellis::util::{with_async_generator, GeneratorClosed, Yielder};
///
/// trellis::run(async {
///     let squares = with_async_generator(
///         |y: Yielder<u32>| async move {
///             for i in 0..5 {
///                 // Skip a value the consumer is too slow to take.
///                 if let Some(sent) = trellis::move_on_after(Duration::from_secs(1), y.yield_(i * i)).await {
///                     sent?;
///                 }
///             }
///             Ok::<(), GeneratorClosed>(())
///         },
///         async |squares| squares.collect::<Vec<_>>().await,
///     )
///     .await
///     .unwrap();
///     assert_eq!(squares, [0, 1, 4, 9, 16]);
/// });
/// ```
///
/// The consumer stops early; the producer ends quietly:
///
/// ```
/// use futures_lite::StreamExt;
/// use trellis::util::{with_async_generator, Yielder};
///
/// trellis::run(async {
///     let first = with_async_generator(
///         |y: Yielder<u32>| async move {
///             for i in 0.. {
///                 y.yield_(i).await?;
///             }
///             Ok::<(), trellis::util::GeneratorClosed>(())
///         },
///         async |mut numbers| numbers.next().await,
///     )
///     .await
///     .unwrap();
///     assert_eq!(first, Some(0));
/// });
/// ```
///
/// # Cancellation
///
/// The consumer and the producer run inside the caller's cancel scopes: cancelling them
/// cancels both, and (as for any nursery) the scope completes once the producer has been
/// dropped. Dropping the returned future cancels the producer.
pub async fn with_async_generator<T, P, F, C, R>(
    producer: P,
    consumer: C,
) -> Result<R, NurseryError>
where
    T: Send + 'static,
    P: FnOnce(Yielder<T>) -> F,
    F: Future + Send + 'static,
    F::Output: TaskResult,
    C: AsyncFnOnce(AsyncGenerator<T>) -> R,
{
    let (tx, rx) = channel::bounded(0);
    let produce = producer(Yielder { tx });
    let mut out = None;
    nursery(async |n| {
        n.start_soon(async move { quiet_when_closed(produce.await.into_failure()) });
        out = Some(consumer(AsyncGenerator { rx }).await);
        // The consumer is done (its stream was dropped with it): stop the producer wherever
        // it waits. A clean exit: the nursery's own cancellation is not a failure.
        n.cancel();
    })
    .await?;
    // The nursery returned Ok, so its body ran to the end (we never cancel the nursery, and an
    // enclosing cancellation drops this whole future instead of returning).
    Ok(out.expect("the consumer finished"))
}

/// The producer's outcome as the nursery child's: [`GeneratorClosed`] is a quiet end.
fn quiet_when_closed(failure: Option<TaskFailure>) -> Result<(), Box<dyn Error + Send + Sync>> {
    match failure {
        None => Ok(()),
        Some(TaskFailure::Error(e)) if e.is::<GeneratorClosed>() => Ok(()),
        Some(TaskFailure::Error(e)) => Err(e),
        // `into_failure` never makes a panic (panics unwind through here and the nursery
        // child catches them), but pass one on if it ever does.
        Some(TaskFailure::Panic(p)) => std::panic::resume_unwind(p.into_inner()),
    }
}

/// The producer's end of a [`with_async_generator`]: yields values to the consumer.
///
/// Cloning it lets several tasks of the producer (e.g. the children of a nursery it opens)
/// yield; the stream ends when the producer has returned and every clone is dropped.
///
/// # Examples
///
/// ```
/// use futures_lite::StreamExt;
/// use trellis::util::{with_async_generator, Yielder};
///
/// trellis::run(async {
///     let sum = with_async_generator(
///         |y: Yielder<u32>| async move {
///             // Two concurrent producers inside the generator's own nursery.
///             trellis::nursery(async |n| {
///                 for k in 0..2 {
///                     let y = y.clone();
///                     n.start_soon(async move { y.yield_(k).await });
///                 }
///             })
///             .await
///         },
///         async |values| values.fold(0, |a, b| a + b).await,
///     )
///     .await
///     .unwrap();
///     assert_eq!(sum, 1);
/// });
/// ```
pub struct Yielder<T> {
    tx: Sender<T>,
}

impl<T> Yielder<T> {
    /// Hands `value` to the consumer, and returns once the consumer has taken it.
    ///
    /// # Errors
    ///
    /// [`GeneratorClosed`] (and `value` is dropped) when the consumer is done: it returned or
    /// dropped its stream, before or while this call waited. Return the error (`?`) to end the
    /// producer quietly.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::StreamExt;
    /// use trellis::util::{with_async_generator, GeneratorClosed, Yielder};
    ///
    /// trellis::run(async {
    ///     let got = with_async_generator(
    ///         |y: Yielder<&str>| async move {
    ///             y.yield_("hello").await?;
    ///             Ok::<(), GeneratorClosed>(())
    ///         },
    ///         async |mut s| s.next().await,
    ///     )
    ///     .await
    ///     .unwrap();
    ///     assert_eq!(got, Some("hello"));
    /// });
    /// ```
    ///
    /// # Cancellation
    ///
    /// A checkpoint. If the call is cancelled (dropped) before the consumer took `value`, the
    /// value is dropped, never delivered: a timeout around one yield skips that value.
    pub async fn yield_(&self, value: T) -> Result<(), GeneratorClosed> {
        self.tx.send(value).await.map_err(|_| GeneratorClosed)
    }

    /// Whether the consumer dropped its stream (a `yield_` would fail with [`GeneratorClosed`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use trellis::util::{with_async_generator, Yielder};
    ///
    /// trellis::run(async {
    ///     let (noticed, notice) = trellis::channel::oneshot();
    ///     with_async_generator(
    ///         |y: Yielder<u8>| async move {
    ///             while !y.is_closed() {
    ///                 trellis::yield_now().await; // e.g. work between values
    ///             }
    ///             let _ = noticed.send(());
    ///         },
    ///         async move |stream| {
    ///             drop(stream); // done with the values, not yet with the block
    ///             notice.await.unwrap(); // the producer noticed
    ///         },
    ///     )
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

impl<T> Clone for Yielder<T> {
    fn clone(&self) -> Self {
        Yielder {
            tx: self.tx.clone(),
        }
    }
}

impl<T> fmt::Debug for Yielder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Yielder")
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The consumer's end of a [`with_async_generator`]: a stream of the values the producer
/// yields, ending when the producer returns. Dropping it tells the producer to stop.
///
/// # Examples
///
/// ```
/// use futures_lite::StreamExt;
/// use trellis::util::{with_async_generator, AsyncGenerator, Yielder};
///
/// trellis::run(async {
///     let all = with_async_generator(
///         |y: Yielder<char>| async move {
///             for c in ['a', 'b'] {
///                 y.yield_(c).await?;
///             }
///             Ok::<(), trellis::util::GeneratorClosed>(())
///         },
///         async |s: AsyncGenerator<char>| s.collect::<String>().await,
///     )
///     .await
///     .unwrap();
///     assert_eq!(all, "ab");
/// });
/// ```
///
/// # Cancellation
///
/// Waiting for a value is a checkpoint. Dropping a pending `next()` loses no value (the
/// producer's `yield_` keeps waiting for the next receive).
#[must_use = "streams do nothing unless polled; dropping it stops the producer"]
pub struct AsyncGenerator<T> {
    rx: Receiver<T>,
}

impl<T> Stream for AsyncGenerator<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        Pin::new(&mut self.get_mut().rx).poll_next(cx)
    }
}

impl<T> fmt::Debug for AsyncGenerator<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncGenerator").finish_non_exhaustive()
    }
}

/// The error of [`Yielder::yield_`]: the consumer is done with the stream (trio-util's
/// `BrokenResourceError` on the generator's `send`). A producer that returns it ends quietly:
/// [`with_async_generator`] does not count it as a failure (it recognises it as the producer's
/// error itself, or inside a [`BoxError`](trellis_runtime::BoxError)).
///
/// # Examples
///
/// ```
/// let e = trellis::util::GeneratorClosed;
/// assert_eq!(e.to_string(), "the consumer of the async generator is done");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneratorClosed;

impl fmt::Display for GeneratorClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the consumer of the async generator is done")
    }
}

impl Error for GeneratorClosed {}
