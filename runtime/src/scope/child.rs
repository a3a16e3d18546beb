//! A nursery's children: the token that reports a child's end to its nursery exactly once,
//! the child task's future, and [`ChildHandle`], the value of a child started with
//! [`Nursery::spawn`](super::Nursery::spawn).

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker, ready};

use super::body::{NoDeadline, ScopeCore};
use super::error::{PanicPayload, TaskFailure, TaskResult};
use super::node::Node;
use super::nursery::Shared;
use super::start::StartHook;
use crate::scheduler::coop;

/// A registered child: reports its end to the nursery exactly once (cancelled if dropped
/// without reporting, e.g. by runtime shutdown).
pub(super) struct ChildToken {
    nursery: Arc<Shared>,
    reported: bool,
    /// Set for a child started with `Nursery::start`: until it calls `started`, its outcome
    /// goes to the `start` caller instead of the nursery.
    pub(super) start: Option<Arc<dyn StartHook>>,
}

impl ChildToken {
    pub(super) fn new(nursery: Arc<Shared>) -> ChildToken {
        ChildToken {
            nursery,
            reported: false,
            start: None,
        }
    }

    fn report(&mut self, failure: Option<TaskFailure>) {
        self.report_end(failure, false);
    }

    /// Reports the child's end once; `cancelled`: it was dropped for a cancellation.
    fn report_end(&mut self, failure: Option<TaskFailure>, cancelled: bool) {
        if !self.reported {
            self.reported = true;
            let failure = match &self.start {
                Some(hook) => hook.child_finished(failure),
                None => failure,
            };
            self.nursery.ended(true, failure, cancelled);
        }
    }
}

impl Drop for ChildToken {
    fn drop(&mut self) {
        self.report(None);
    }
}

pin_project_lite::pin_project! {
    /// The future of a nursery child task. Every way it can end reports to the nursery
    /// exactly once (through its token): its output, a panic in `make`, in its poll, in its
    /// output's conversion or in its destructor, or being dropped by the runtime (a clean
    /// exit).
    pub(super) struct Child<F> {
        core: ScopeCore,
        token: ChildToken,
        #[pin]
        future: Option<F>,
    }
}

impl<F> Child<F> {
    pub(super) fn new(token: ChildToken, future: F) -> Child<F> {
        Child::with(token, Some(future))
    }

    fn with(token: ChildToken, future: Option<F>) -> Child<F> {
        Child {
            // The child's scope node, attached under the nursery's at once.
            core: ScopeCore::new(Node::new_task_root(token.nursery.node()), NoDeadline),
            token,
            future,
        }
    }

    /// A child whose future could not be built: `make` panicked. The panic is its failure.
    pub(super) fn failed(mut token: ChildToken, payload: PanicPayload) -> Child<F> {
        token.report(Some(TaskFailure::Panic(payload)));
        Child::with(token, None)
    }

    /// Drops the child's code and reports its end; `cancelled`: it did not finish, it was
    /// stopped at a checkpoint for a cancellation.
    fn stop(self: Pin<&mut Self>, failure: Option<TaskFailure>, cancelled: bool) -> Poll<()> {
        let mut this = self.project();
        // Drop the child's code first (its destructor may panic: that is a failure too).
        let dropped = catch_unwind(AssertUnwindSafe(|| this.future.set(None)));
        let failure = failure.or(dropped
            .err()
            .map(|p| TaskFailure::Panic(PanicPayload::new(p))));
        this.core.finish();
        this.token.report_end(failure, cancelled);
        Poll::Ready(())
    }
}

impl<F: Future> Future for Child<F>
where
    F::Output: TaskResult,
{
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.as_mut().project();
        // The steps are those of `body.rs`; a task root always catches its own cancellation.
        if !this.core.begin() {
            return self.stop(None, true);
        }
        let Some(future) = this.future.as_pin_mut() else {
            return self.stop(None, false);
        };
        let polled = this.core.enter_body(|| {
            catch_unwind(AssertUnwindSafe(|| match future.poll(cx) {
                Poll::Ready(output) => Poll::Ready(output.into_failure()),
                Poll::Pending => Poll::Pending,
            }))
        });
        match polled {
            Ok(Poll::Ready(failure)) => self.stop(failure, false),
            Err(payload) => self.stop(Some(TaskFailure::Panic(PanicPayload::new(payload))), false),
            Ok(Poll::Pending) if self.as_mut().project().core.must_stop_after_pending(cx) => {
                self.stop(None, true)
            }
            Ok(Poll::Pending) => Poll::Pending,
        }
    }
}

/// The value of a child started with [`Nursery::spawn`](super::Nursery::spawn): await it (in
/// the body, or in any task it is sent to) for what the child returned. asyncio's
/// `TaskGroup.create_task`, without sharing a `Mutex<Option<T>>`.
///
/// The child's failure is not the handle's: it goes to the nursery's [`NurseryError`]
/// (and cancels the nursery) like any child's; the handle then reports [`NoValue`].
///
/// [`NurseryError`]: super::NurseryError
///
/// # Examples
///
/// ```
/// trellis::run(async {
///     trellis::nursery(async |n| {
///         let a = n.spawn(async { Ok::<_, std::io::Error>(6) });
///         let b = n.spawn(async { Ok::<_, std::io::Error>(7) });
///         assert_eq!(a.await.unwrap() * b.await.unwrap(), 42);
///     })
///     .await
///     .unwrap();
/// });
/// ```
///
/// # Cancellation
///
/// Awaiting it is a checkpoint: in a cancelled scope it returns nothing (the value stays with
/// the handle, and is dropped with it). Dropping the handle does not stop the child.
#[must_use = "dropping a ChildHandle discards the child's value (the child runs on)"]
pub struct ChildHandle<T> {
    slot: Arc<ValueSlot<T>>,
}

/// The child behind a [`ChildHandle`] produced no value: it failed (its failure is in the
/// nursery's error) or was cancelled.
///
/// # Examples
///
/// ```
/// assert!(trellis::NoValue.to_string().contains("no value"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoValue;

impl fmt::Display for NoValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the child produced no value: it failed (see the nursery's error) or was cancelled",
        )
    }
}

impl std::error::Error for NoValue {}

struct ValueSlot<T> {
    state: Mutex<ValueState<T>>,
}

struct ValueState<T> {
    value: Option<T>,
    /// The child's future is gone (completed or dropped): no value will come after this.
    ended: bool,
    waker: Option<Waker>,
}

impl<T> ValueSlot<T> {
    fn lock(&self) -> MutexGuard<'_, ValueState<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores the value (if any) and ends the slot, waking the handle.
    fn end(&self, value: Option<T>) {
        let waker = {
            let mut state = self.lock();
            if value.is_some() {
                state.value = value;
            }
            state.ended = true;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// Ends the slot when the child's future is dropped without a value (failed or cancelled).
struct EndOnDrop<T>(Arc<ValueSlot<T>>);

impl<T> Drop for EndOnDrop<T> {
    fn drop(&mut self) {
        self.0.end(None);
    }
}

/// The child future of [`Nursery::spawn`](super::Nursery::spawn) and its handle: the child
/// hands its `Ok` value to the handle and its `Err` to the nursery.
pub(super) fn valued<F, T, E>(future: F) -> (impl Future<Output = Result<(), E>>, ChildHandle<T>)
where
    F: Future<Output = Result<T, E>>,
{
    let slot = Arc::new(ValueSlot {
        state: Mutex::new(ValueState {
            value: None,
            ended: false,
            waker: None,
        }),
    });
    let guard = EndOnDrop(slot.clone());
    let child = async move {
        let guard = guard;
        let value = future.await?;
        guard.0.end(Some(value));
        Ok(())
    };
    (child, ChildHandle { slot })
}

impl<T> Future for ChildHandle<T> {
    type Output = Result<T, NoValue>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, NoValue>> {
        let spent = ready!(coop::poll_proceed(cx));
        let mut state = self.slot.lock();
        if let Some(value) = state.value.take() {
            spent.made_progress();
            return Poll::Ready(Ok(value));
        }
        if state.ended {
            spent.made_progress();
            return Poll::Ready(Err(NoValue));
        }
        state.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl<T> fmt::Debug for ChildHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildHandle")
            .field("ended", &self.slot.lock().ended)
            .finish_non_exhaustive()
    }
}
