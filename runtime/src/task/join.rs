//! `JoinHandle`: awaits a task's output.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::schedule::Schedule;
use super::state::{COMPLETE, ToNotified};
use super::{JoinError, Notified, RawTask};
use crate::scheduler::coop;

/// An owned permission to await a task's output.
///
/// Awaiting it yields `Ok(output)`, or a [`JoinError`] if the task was cancelled or panicked.
/// Dropping it *detaches* the task: the task keeps running and its output is dropped when it
/// completes. Use [`abort`](Self::abort) to cancel.
///
/// # Examples
///
/// ```
/// let sum = trellis::run(async {
///     let handle = trellis::spawn(async { 40 + 2 });
///     handle.await.unwrap()
/// });
/// assert_eq!(sum, 42);
/// ```
///
/// Awaiting a task whose next run is queued in this worker's LIFO slot (typically one the
/// awaiting task has just spawned: the fork-then-join of divide-and-conquer code) runs it right
/// there, inside the awaiting task's poll, as `rayon::join` runs its second closure: the task is
/// polled as itself (its own [`TaskId`](crate::TaskId), outside the awaiting task's cancel
/// scopes), only now rather than after the awaiting task went back to the queue and was woken
/// again.
///
/// # Cancellation
///
/// Awaiting is a checkpoint (it spends cooperative budget). Dropping the `JoinHandle` future
/// while it waits loses nothing: the task keeps running, detached, and its output is dropped
/// when it completes.
#[must_use = "dropping a JoinHandle detaches the task; `.await` it, or call `.abort()` to cancel it"]
pub struct JoinHandle<T> {
    raw: RawTask,
    _output: PhantomData<T>,
}

// SAFETY: the handle only moves the output T across threads (when it reads it), so it is Send
// when T is; the task itself is Send or pinned to its domain by construction.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: `&JoinHandle` only allows `abort` and `is_finished`, which touch the atomic state word.
unsafe impl<T: Send> Sync for JoinHandle<T> {}

impl<T> Unpin for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    /// # Safety
    ///
    /// - The caller transfers the join handle's reference, and the task's output type is `T`.
    pub(crate) unsafe fn from_raw(raw: RawTask) -> JoinHandle<T> {
        JoinHandle {
            raw,
            _output: PhantomData,
        }
    }

    /// Requests cancellation: the task's future is dropped at its next scheduling point, on the
    /// thread that runs it, and awaiting the handle then yields a cancelled [`JoinError`]. A task
    /// that already completed keeps its output. Idempotent; callable from any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     let handle = trellis::spawn(trellis::time::sleep(std::time::Duration::from_secs(3600)));
    ///     handle.abort();
    ///     assert!(handle.await.unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn abort(&self) {
        let header = self.raw.header();
        if header.state.transition_to_cancelled() == ToNotified::Submit {
            // SAFETY: the transition added a reference for this queue entry.
            let entry = unsafe { Notified::from_raw(self.raw) };
            header.scheduler.schedule(entry, false);
        }
    }

    /// Returns `true` once the task has completed (output ready, cancelled or panicked).
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     let handle = trellis::spawn(async {});
    ///     while !handle.is_finished() {
    ///         trellis::yield_now().await;
    ///     }
    ///     handle.await.unwrap();
    /// });
    /// ```
    pub fn is_finished(&self) -> bool {
        self.raw.header().state.load().has(COMPLETE)
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let coop = std::task::ready!(coop::poll_proceed(cx));
        let mut out: Poll<Result<T, JoinError>> = Poll::Pending;
        let header = self.raw.header();
        if !header.state.load().has(COMPLETE) {
            // Join-inline: a task that would run next on this worker anyway runs now.
            header.scheduler.run_joined(self.raw.ptr());
        }
        // SAFETY: `out` is a Poll<Result<T, JoinError>>, the type this task's vtable writes.
        unsafe {
            (header.vtable.try_read_output)(
                self.raw.ptr(),
                &mut out as *mut Poll<Result<T, JoinError>> as *mut (),
                cx.waker(),
            )
        };
        if out.is_ready() {
            coop.made_progress();
        }
        out
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        // SAFETY: we own the join handle's reference.
        unsafe { (self.raw.header().vtable.drop_join_handle)(self.raw.ptr()) }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}
