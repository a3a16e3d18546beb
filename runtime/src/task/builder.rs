//! `TaskBuilder`: spawn a task with options (a name, for instrumentation).

use std::future::Future;
use std::sync::Arc;

use crate::DomainId;
use crate::blocking::BlockingTask;
use crate::instrument::TaskName;
use crate::scheduler::context;
use crate::task::{JoinHandle, Route};

/// Spawns a task with options: today, a name that [`Instrument`](crate::Instrument) hooks
/// see (Trio's `start_soon(..., name=...)`), e.g. in `trellis::util::TaskStats`'s report.
///
/// The `spawn*` methods behave exactly like the free functions of the same names.
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
    /// method, not the builder's).
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
        context::expect_runtime(
            self.call.unwrap_or("trellis::TaskBuilder::spawn"),
            |shared| shared.spawn(future, Route::STEALABLE, self.name),
        )
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
        let call = self.call.unwrap_or("trellis::TaskBuilder::spawn_local");
        crate::domain::spawn_local_named(future, self.name, call)
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
        let call = self.call.unwrap_or("trellis::TaskBuilder::spawn_on");
        context::expect_runtime(call, |shared| {
            crate::domain::spawn_on_inner(shared, domain, make, self.name, call)
        })
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
        context::expect_runtime("trellis::TaskBuilder::spawn_blocking", |shared| {
            shared.spawn(BlockingTask::new(func), Route::BLOCKING, self.name)
        })
    }
}
