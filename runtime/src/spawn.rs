//! The spawn surface: [`TaskBuilder`] and the free functions [`spawn`], [`spawn_local`],
//! [`spawn_on`] and [`spawn_blocking`], which are a default builder's methods.
//!
//! Every way of starting a task ends here: the free functions, [`Runtime`](crate::Runtime)'s
//! and [`Handle`](crate::Handle)'s methods, and a nursery's `start_soon*` (which name their own
//! call in the panics). A spawn picks the runtime (the current one, or the one given), then
//! one of three routes: *stealable* (`Shared::spawn`, any worker), *pinned* to a domain
//! (`Shared::spawn_pinned`, polled and dropped only there) or the *blocking pool*
//! (`blocking.rs`). Misuse panics with a message that names the user's call.

use std::future::Future;
use std::sync::Arc;

use crate::DomainId;
use crate::blocking::BlockingTask;
use crate::instrument::TaskName;
use crate::scheduler::{Shared, context};
use crate::task::{JoinHandle, MadeOnHome, Route};

/// Spawns a task with options: today, a name that [`Instrument`](crate::Instrument) hooks
/// see (Trio's `start_soon(..., name=...)`), e.g. in `trellis::util::TaskStats`'s report.
///
/// The `spawn*` methods behave exactly like the free functions of the same names (which are
/// `TaskBuilder::new()` followed by the method).
///
/// # Examples
///
/// ```
/// trellis::run(async {
///     let h = trellis::TaskBuilder::new().name("render-row-7").spawn(async { 7 });
///     assert_eq!(h.await.unwrap(), 7);
/// });
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "a TaskBuilder does nothing until one of its spawn methods is called"]
pub struct TaskBuilder {
    name: Option<TaskName>,
    /// The user's call that spawns, for error messages (a nursery's spawn names its own
    /// method, a free function its own name, not the builder's).
    call: Option<&'static str>,
}

impl TaskBuilder {
    /// A builder with no options set.
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     assert_eq!(trellis::TaskBuilder::new().spawn(async { 1 }).await.unwrap(), 1);
    /// });
    /// ```
    pub fn new() -> TaskBuilder {
        TaskBuilder::default()
    }

    /// A builder with `name`, if any (crate-internal shortcut).
    pub(crate) fn named(name: Option<TaskName>) -> TaskBuilder {
        TaskBuilder { name, call: None }
    }

    /// Names the user's call in this builder's error messages (crate-internal).
    pub(crate) fn called(mut self, call: &'static str) -> TaskBuilder {
        self.call = Some(call);
        self
    }

    /// Names the task.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trellis::TaskBuilder::new().name("fetcher");
    /// # drop(b);
    /// ```
    pub fn name(mut self, name: impl Into<Arc<str>>) -> TaskBuilder {
        self.name = Some(TaskName::Given(name.into()));
        self
    }

    /// The user's call, or the builder method `method` when none was set.
    fn call_or(&self, method: &'static str) -> &'static str {
        self.call.unwrap_or(method)
    }

    /// Like [`trellis::spawn`](crate::spawn).
    ///
    /// # Panics
    ///
    /// Panics outside a Trellis runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     let h = trellis::TaskBuilder::new().name("adder").spawn(async { 2 + 2 });
    ///     assert_eq!(h.await.unwrap(), 4);
    /// });
    /// ```
    pub fn spawn<F>(self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let call = self.call_or("trellis::TaskBuilder::spawn");
        context::expect_runtime(call, |shared| self.spawn_in(shared, future))
    }

    /// Like [`trellis::spawn_local`](crate::spawn_local).
    ///
    /// # Panics
    ///
    /// Panics outside a domain (a worker thread).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    ///
    /// trellis::run(async {
    ///     let h = trellis::spawn(async {
    ///         let local = Rc::new(5);
    ///         trellis::TaskBuilder::new().name("local").spawn_local(async move { *local }).await
    ///     });
    ///     assert_eq!(h.await.unwrap().unwrap(), 5);
    /// });
    /// ```
    pub fn spawn_local<F>(self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let call = self.call_or("trellis::TaskBuilder::spawn_local");
        context::with_core(|core| match core {
            Some(core) => core.shared.spawn_pinned(core.index(), future, self.name),
            None => panic!(
                "`{call}` called outside a domain: only a worker thread hosts a \
                 domain. Use `trellis::spawn_on(DomainId::new(i), || future)` to start a pinned \
                 task on a chosen domain, or `trellis::spawn` for a `Send` task"
            ),
        })
    }

    /// Like [`trellis::spawn_on`](crate::spawn_on).
    ///
    /// # Panics
    ///
    /// Panics if `domain` does not exist, or outside a Trellis runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use trellis::DomainId;
    ///
    /// trellis::run(async {
    ///     let h = trellis::TaskBuilder::new()
    ///         .name("pinned")
    ///         .spawn_on(DomainId::new(0), || async { trellis::domain::current() });
    ///     assert_eq!(h.await.unwrap(), Some(DomainId::new(0)));
    /// });
    /// ```
    pub fn spawn_on<M, F>(self, domain: DomainId, make: M) -> JoinHandle<F::Output>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future + 'static,
        F::Output: Send + 'static,
    {
        let call = self.call_or("trellis::TaskBuilder::spawn_on");
        context::expect_runtime(call, |shared| self.spawn_on_in(shared, domain, make))
    }

    /// Like [`trellis::spawn_blocking`](crate::spawn_blocking).
    ///
    /// # Panics
    ///
    /// Panics outside a Trellis runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     let h = trellis::TaskBuilder::new().name("disk").spawn_blocking(|| 3);
    ///     assert_eq!(h.await.unwrap(), 3);
    /// });
    /// ```
    pub fn spawn_blocking<F, T>(self, func: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let call = self.call_or("trellis::TaskBuilder::spawn_blocking");
        context::expect_runtime(call, |shared| self.spawn_blocking_in(shared, func))
    }

    /// [`spawn`](Self::spawn) on the runtime `shared` (from any thread).
    pub(crate) fn spawn_in<F>(self, shared: &Arc<Shared>, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        shared.spawn(future, Route::STEALABLE, self.name)
    }

    /// [`spawn_on`](Self::spawn_on) on the runtime `shared` (from any thread).
    pub(crate) fn spawn_on_in<M, F>(
        self,
        shared: &Arc<Shared>,
        domain: DomainId,
        make: M,
    ) -> JoinHandle<F::Output>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future + 'static,
        F::Output: Send + 'static,
    {
        let call = self.call_or("trellis::TaskBuilder::spawn_on");
        let count = shared.workers();
        if domain.index() >= count {
            panic!(
                "`{call}({domain:?}, ..)`: this runtime has {count} domain(s), DomainId(0) to \
                 DomainId({}); use an index below `trellis::domain::count()`",
                count - 1
            );
        }
        shared.spawn_pinned(domain.index(), MadeOnHome::new(make), self.name)
    }

    /// [`spawn_blocking`](Self::spawn_blocking) on the runtime `shared` (from any thread).
    pub(crate) fn spawn_blocking_in<F, T>(self, shared: &Arc<Shared>, func: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        shared.spawn(BlockingTask::new(func), Route::BLOCKING, self.name)
    }
}

/// Spawns a `Send` task on the current runtime. It may run on any worker (work stealing), and
/// starts after the caller's next checkpoint at the earliest, never inline.
///
/// # Panics
///
/// Panics outside a Trellis runtime (use [`Runtime::spawn`](crate::Runtime::spawn) there).
///
/// # Examples
///
/// ```
/// trellis::run(async {
///     let handles: Vec<_> = (0..4).map(|i| trellis::spawn(async move { i * i })).collect();
///     let mut sum = 0;
///     for h in handles {
///         sum += h.await.unwrap();
///     }
///     assert_eq!(sum, 14);
/// });
/// ```
///
/// A `!Send` future is rejected at compile time:
///
/// ```compile_fail
/// trellis::run(async {
///     let rc = std::rc::Rc::new(1);
///     trellis::spawn(async move { drop(rc) });
/// });
/// ```
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    TaskBuilder::new().called("trellis::spawn").spawn(future)
}

/// Spawns a task pinned to the current domain. The future may be `!Send`: it is polled and
/// dropped only on this thread. Its output is returned through the `JoinHandle` (which is
/// `!Send` when the output is).
///
/// # Panics
///
/// Panics outside a domain (on a `block_on` thread, a blocking thread or a plain thread): use
/// [`spawn_on`] to start a pinned task on a chosen domain from there.
///
/// # Examples
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
///
/// trellis::run(async {
///     let total = trellis::spawn_on(trellis::DomainId::new(0), || async {
///         let cache = Rc::new(RefCell::new(Vec::new())); // !Send state, fine in a domain
///         let c = cache.clone();
///         trellis::spawn_local(async move { c.borrow_mut().push(2) }).await.unwrap();
///         cache.borrow_mut().push(40);
///         cache.borrow().iter().sum::<i32>()
///     })
///     .await
///     .unwrap();
///     assert_eq!(total, 42);
/// });
/// ```
pub fn spawn_local<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    TaskBuilder::new()
        .called("trellis::spawn_local")
        .spawn_local(future)
}

/// Spawns a task pinned to `domain`: `make` (which is `Send`) runs on that domain's thread and
/// builds the future there, so the future may be `!Send`. Callable from anywhere in the
/// runtime, including other domains and the `block_on` thread.
///
/// # Panics
///
/// Panics if `domain` does not exist in the current runtime (the message gives the valid
/// range), or outside a Trellis runtime (use [`Runtime::spawn_on`](crate::Runtime::spawn_on)).
///
/// # Examples
///
/// ```
/// use trellis::DomainId;
///
/// trellis::run(async {
///     let last = DomainId::new(trellis::domain::count() - 1);
///     let ran_on = trellis::spawn_on(last, || async { trellis::domain::current() })
///         .await
///         .unwrap();
///     assert_eq!(ran_on, Some(last));
/// });
/// ```
pub fn spawn_on<M, F>(domain: DomainId, make: M) -> JoinHandle<F::Output>
where
    M: FnOnce() -> F + Send + 'static,
    F: Future + 'static,
    F::Output: Send + 'static,
{
    TaskBuilder::new()
        .called("trellis::spawn_on")
        .spawn_on(domain, make)
}

/// Runs a blocking closure on the runtime's blocking pool: a separate, elastic set of threads
/// (bounded by [`Builder::max_blocking_threads`](crate::Builder::max_blocking_threads); idle ones exit), so blocking work never
/// stalls a worker.
///
/// Aborting the handle before the closure starts drops it unrun; once started it runs to the
/// end (a thread cannot be interrupted). A panic in the closure becomes a `JoinError`.
///
/// Not structured: a task (or nursery child) awaiting the handle is dropped at once when its
/// scope is cancelled, while the closure runs on, so the nursery can return before the closure
/// has. Use [`to_thread`](crate::to_thread) to keep the caller (and its nursery) waiting until
/// the closure has returned.
///
/// # Panics
///
/// Panics outside a Trellis runtime (use [`Runtime::spawn_blocking`](crate::Runtime::spawn_blocking) there).
///
/// # Examples
///
/// ```
/// trellis::run(async {
///     let n = trellis::spawn_blocking(|| std::fs::read_dir(".").map(|d| d.count()).unwrap_or(0))
///         .await
///         .unwrap();
///     assert!(n > 0);
/// });
/// ```
pub fn spawn_blocking<F, T>(func: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    TaskBuilder::new()
        .called("trellis::spawn_blocking")
        .spawn_blocking(func)
}
