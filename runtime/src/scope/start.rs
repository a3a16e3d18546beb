//! `Nursery::start`: the meeting point of a `start` caller and its child, which decides who
//! receives the child's value or early failure.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use super::current;
use super::error::TaskFailure;
use super::nursery::Shared;
use crate::loom::sync::{Mutex as LoomMutex, MutexGuard as LoomMutexGuard};

/// Routes the end of a `start`ed child: to the `start` caller before `started`, to the
/// nursery after, or when the caller is gone.
pub(super) trait StartHook: Send + Sync {
    /// Returns the failure the nursery should record.
    fn child_finished(&self, failure: Option<TaskFailure>) -> Option<TaskFailure>;
}

/// The meeting point of a `start` caller and its child.
///
/// Every outcome reaches exactly one party, decided under the lock: the value or an early end
/// goes to the caller while it waits; once the caller is gone (`abandoned`, set by the drop of
/// [`StartWait`]), a failure goes to the nursery and a value is dropped; an early failure the
/// caller left unread is handed to the nursery by that same drop.
pub(super) struct StartSlot<V> {
    state: LoomMutex<StartState<V>>,
}

struct StartState<V> {
    /// The child called `started`: from now on it is an ordinary child.
    started: bool,
    /// The `start` future was dropped before it returned.
    abandoned: bool,
    value: Option<V>,
    /// The child ended before `started`: `Some(None)` is a clean exit or a cancellation.
    early: Option<Option<TaskFailure>>,
    waker: Option<Waker>,
}

impl<V> StartSlot<V> {
    pub(super) fn new() -> StartSlot<V> {
        StartSlot {
            state: LoomMutex::new(StartState {
                started: false,
                abandoned: false,
                value: None,
                early: None,
                waker: None,
            }),
        }
    }

    fn lock(&self) -> LoomMutexGuard<'_, StartState<V>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The `start` caller is gone: from now on the child's outcome is the nursery's. Returns
    /// an early failure the caller had not read (the nursery must record it).
    fn abandon(&self) -> Option<TaskFailure> {
        let (value, early) = {
            let mut state = self.lock();
            state.abandoned = true;
            state.waker = None;
            (state.value.take(), state.early.take())
        };
        // A value nobody will read is dropped here, outside the lock.
        drop(value);
        early.flatten()
    }
}

impl<V: Send> StartHook for StartSlot<V> {
    fn child_finished(&self, failure: Option<TaskFailure>) -> Option<TaskFailure> {
        let mut state = self.lock();
        if state.started || state.abandoned {
            return failure;
        }
        state.early = Some(failure);
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        None
    }
}

/// The wait of [`Nursery::start`] for its child's `started` (or early end).
pub(super) struct StartWait<V> {
    pub(super) slot: Arc<StartSlot<V>>,
    pub(super) nursery: Arc<Shared>,
    pub(super) done: bool,
}

impl<V> Future for StartWait<V> {
    type Output = Result<V, TaskFailure>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut state = this.slot.lock();
        // An outcome already there is reported even if the scope is cancelled at this moment
        // (the child did start, or did end): the operation completed.
        if let Some(value) = state.value.take() {
            this.done = true;
            return Poll::Ready(Ok(value));
        }
        if let Some(early) = state.early.take() {
            this.done = true;
            return Poll::Ready(Err(
                early.unwrap_or_else(|| TaskFailure::Error(Box::new(NotStarted)))
            ));
        }
        if !current::is_cancelled() {
            state.waker = Some(cx.waker().clone());
        }
        // Cancelled: the enclosing scope drops us at once, and `drop` hands the child over.
        Poll::Pending
    }
}

impl<V> Drop for StartWait<V> {
    fn drop(&mut self) {
        if !self.done {
            // The child stays in the nursery; a failure it had already handed to us is the
            // nursery's now.
            if let Some(failure) = self.slot.abandon() {
                self.nursery.finished(false, Some(failure));
            }
        }
    }
}

/// A child started with [`Nursery::start`] finished (or was cancelled) without calling
/// [`TaskStatus::started`].
///
/// # Examples
///
/// ```
/// assert!(trellis::NotStarted.to_string().contains("started"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotStarted;

impl fmt::Display for NotStarted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the task returned (or was cancelled) without calling `TaskStatus::started`")
    }
}

impl std::error::Error for NotStarted {}

/// Given to a task started with [`Nursery::start`]: call [`started`](Self::started) once it is
/// ready, to hand a value to the `start` caller.
///
/// # Examples
///
/// ```
/// trellis::run(async {
///     trellis::nursery(async |n| {
///         let port = n
///             .start(|status: trellis::TaskStatus<u16>| async move {
///                 status.started(8080); // "listening"
///             })
///             .await
///             .unwrap();
///         assert_eq!(port, 8080);
///     })
///     .await
///     .unwrap();
/// });
/// ```
pub struct TaskStatus<V> {
    pub(super) slot: Arc<StartSlot<V>>,
}

impl<V> TaskStatus<V> {
    /// Reports that the task is ready: `start` returns `Ok(value)`, and from now on the task is
    /// an ordinary child of the nursery (its failures fail the nursery).
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     trellis::nursery(async |n| {
    ///         let v = n.start(|s| async move { s.started("ready") }).await.unwrap();
    ///         assert_eq!(v, "ready");
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    pub fn started(self, value: V) {
        let mut state = self.slot.lock();
        state.started = true;
        if state.abandoned {
            // The `start` caller is gone: nobody reads the value.
            drop(state);
            drop(value);
            return;
        }
        state.value = Some(value);
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<V> fmt::Debug for TaskStatus<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskStatus").finish_non_exhaustive()
    }
}

#[cfg(all(test, trellis_loom))]
mod loom_start {
    use super::*;
    use loom::thread;

    fn boom() -> TaskFailure {
        TaskFailure::Error("boom".into())
    }

    /// The child ends with a failure before `started` while the `start` caller is dropped: the
    /// failure reaches exactly one of the nursery (from the child or from the caller's drop)
    /// and the caller (had it polled first, which the model leaves out: it then never drops
    /// unread).
    #[test]
    fn loom_start_failure_reaches_the_nursery_once_when_the_caller_leaves() {
        loom::model(|| {
            let slot = Arc::new(StartSlot::<()>::new());
            let s2 = slot.clone();
            let child = thread::spawn(move || s2.child_finished(Some(boom())).is_some());
            let from_drop = slot.abandon().is_some();
            let from_child = child.join().unwrap();
            assert!(
                from_drop ^ from_child,
                "reached the nursery {} times",
                usize::from(from_drop) + usize::from(from_child)
            );
        });
    }

    /// `started` racing the caller's drop: the value is either left for the caller's drop to
    /// discard or discarded by `started` itself; never kept once abandoned.
    #[test]
    fn loom_started_vs_caller_leaving_keeps_no_value() {
        loom::model(|| {
            let slot = Arc::new(StartSlot::<Arc<()>>::new());
            let value = Arc::new(());
            let s2 = slot.clone();
            let v2 = value.clone();
            let child = thread::spawn(move || TaskStatus { slot: s2 }.started(v2));
            assert!(slot.abandon().is_none());
            child.join().unwrap();
            assert!(slot.lock().value.is_none(), "a value kept for nobody");
            assert_eq!(Arc::strong_count(&value), 1);
        });
    }
}
