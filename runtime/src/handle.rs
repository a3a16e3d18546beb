//! `Handle`: a cloneable, `Send` reference to a runtime, for code that does not own it (plain
//! threads, blocking closures, libraries).

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use crate::DomainId;
use crate::scheduler::{Shared, context};
use crate::spawn::TaskBuilder;
use crate::task::JoinHandle;

/// A handle to a runtime: spawn tasks on it and block on futures from any thread, without
/// owning it (tokio's `Handle`). Get one with [`Handle::current`] inside the runtime or
/// [`Runtime::handle`](crate::Runtime::handle). A handle does not keep the runtime running:
/// once the runtime is dropped, tasks spawned through the handle are cancelled.
///
/// # Examples
///
/// ```
/// let rt = trellis::Runtime::builder().workers(2).build().unwrap();
/// let handle = rt.handle();
/// let worker = std::thread::spawn(move || {
///     let task = handle.spawn(async { 6 * 7 });
///     handle.block_on(task).unwrap()
/// });
/// assert_eq!(worker.join().unwrap(), 42);
/// ```
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl Handle {
    pub(crate) fn from_shared(shared: Arc<Shared>) -> Handle {
        Handle { shared }
    }

    /// The runtime the current code runs in: a task, a future run by `block_on`, or a blocking
    /// closure (`spawn_blocking`, `to_thread`).
    ///
    /// # Panics
    ///
    /// Outside a Trellis runtime; [`try_current`](Self::try_current) returns `None` there.
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     let handle = trellis::Handle::current();
    ///     assert_eq!(handle.spawn(async { 1 }).await.unwrap(), 1);
    /// });
    /// ```
    pub fn current() -> Handle {
        match Handle::try_current() {
            Some(handle) => handle,
            None => panic!(
                "`trellis::Handle::current` called outside a Trellis runtime (a task, a future \
                 run by `Runtime::block_on` / `trellis::run`, or a blocking closure): pass a \
                 handle from `Runtime::handle` to this thread instead, or use \
                 `Handle::try_current`"
            ),
        }
    }

    /// The runtime the current code runs in, or `None` outside any.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(trellis::Handle::try_current().is_none());
    /// trellis::run(async { assert!(trellis::Handle::try_current().is_some()) });
    /// ```
    pub fn try_current() -> Option<Handle> {
        context::with_runtime(|rt| rt.cloned().map(Handle::from_shared))
    }

    /// The runtime's live task tree (see [`tree`](crate::tree)), from any thread: a plain
    /// thread, a task, an instrument hook.
    ///
    /// # Errors
    ///
    /// [`TreeOff`](crate::tree::TreeOff) if the runtime was not built with
    /// [`Builder::task_tree(true)`](crate::Builder::task_tree).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = trellis::Runtime::builder().workers(1).task_tree(true).build().unwrap();
    /// let handle = rt.handle();
    /// let tree = std::thread::spawn(move || handle.task_tree().unwrap()).join().unwrap();
    /// assert_eq!(tree.to_string(), "(no live scopes)\n");
    /// ```
    pub fn task_tree(&self) -> Result<crate::tree::TaskTree, crate::tree::TreeOff> {
        crate::tree::dump_of(&self.shared)
    }

    /// Spawns a `Send` task on the runtime, from any thread; like [`trellis::spawn`](crate::spawn).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = trellis::Runtime::builder().workers(1).build().unwrap();
    /// let task = rt.handle().spawn(async { "done" });
    /// assert_eq!(rt.block_on(task).unwrap(), "done");
    /// ```
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        TaskBuilder::new().spawn_in(&self.shared, future)
    }

    /// Spawns a task pinned to `domain`, from any thread; like
    /// [`trellis::spawn_on`](crate::spawn_on).
    ///
    /// # Panics
    ///
    /// If `domain` does not exist in the runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use trellis::DomainId;
    ///
    /// let rt = trellis::Runtime::builder().workers(2).build().unwrap();
    /// let task = rt.handle().spawn_on(DomainId::new(1), || async { trellis::domain::current() });
    /// assert_eq!(rt.block_on(task).unwrap(), Some(DomainId::new(1)));
    /// ```
    pub fn spawn_on<M, F>(&self, domain: DomainId, make: M) -> JoinHandle<F::Output>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future + 'static,
        F::Output: Send + 'static,
    {
        TaskBuilder::new()
            .called("Handle::spawn_on")
            .spawn_on_in(&self.shared, domain, make)
    }

    /// Runs a blocking closure on the runtime's blocking pool, from any thread; like
    /// [`trellis::spawn_blocking`](crate::spawn_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = trellis::Runtime::builder().workers(1).build().unwrap();
    /// let job = rt.handle().spawn_blocking(|| 2 + 2);
    /// assert_eq!(rt.block_on(job).unwrap(), 4);
    /// ```
    pub fn spawn_blocking<F, T>(&self, func: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        TaskBuilder::new().spawn_blocking_in(&self.shared, func)
    }

    /// Runs `future` to completion on the calling thread, inside the runtime (so `spawn`,
    /// `sleep` and the rest find it); as [`Runtime::block_on`](crate::Runtime::block_on).
    /// Meant for plain threads and blocking closures.
    ///
    /// # Panics
    ///
    /// On a worker thread (inside a task: `.await` instead) or inside another `block_on`. A
    /// panic of `future` propagates.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = trellis::Runtime::builder().workers(1).build().unwrap();
    /// let handle = rt.handle();
    /// let v = std::thread::spawn(move || {
    ///     handle.block_on(async { trellis::spawn(async { 7 }).await.unwrap() })
    /// })
    /// .join()
    /// .unwrap();
    /// assert_eq!(v, 7);
    /// ```
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        crate::runtime::block_on(&self.shared, "Handle::block_on", future)
    }

    /// `block_on` for the user's `call` (crate-internal).
    pub(crate) fn block_on_for<F: Future>(&self, call: &str, future: F) -> F::Output {
        crate::runtime::block_on(&self.shared, call, future)
    }

    /// The number of domains (worker threads) of the runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = trellis::Runtime::builder().workers(3).build().unwrap();
    /// assert_eq!(rt.handle().workers(), 3);
    /// ```
    pub fn workers(&self) -> usize {
        self.shared.workers()
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("workers", &self.workers())
            .finish_non_exhaustive()
    }
}
