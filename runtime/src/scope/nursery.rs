//! Nurseries: a cancel scope plus a set of child tasks that cannot outlive it.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use super::body::{NoDeadline, ScopeCore};
use super::child::{Child, ChildHandle, ChildToken, valued};
use super::current;
use super::error::{BoxError, NurseryError, PanicPayload, TaskFailure, TaskResult};
use super::node::Node;
use super::start::{StartSlot, StartWait, TaskStatus};
use crate::domain::DomainId;
use crate::instrument::TaskName;
use crate::spawn::TaskBuilder;

/// Opens a nursery, runs `body` in it, and returns once the body and every child it started
/// (on any domain) have finished: Trio's `async with trio.open_nursery() as n:`.
///
/// The first failure (an `Err` or a panic, from the body or a child) cancels the nursery's
/// scope: every sibling on every domain, and the body, are dropped at their next checkpoint on
/// their own threads. The result holds every failure in completion order; cancelled siblings are
/// not failures. `n.cancel()` is a clean exit (`Ok(())`). Children inherit the nursery's
/// enclosing cancel scopes.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// trellis::run(async {
///     let done = Arc::new(AtomicUsize::new(0));
///     trellis::nursery(async |n| {
///         for _ in 0..10 {
///             let done = done.clone();
///             n.start_soon(async move {
///                 done.fetch_add(1, Ordering::SeqCst);
///             });
///         }
///     })
///     .await
///     .unwrap();
///     assert_eq!(done.load(Ordering::SeqCst), 10); // the nursery waited for all of them
/// });
/// ```
///
/// # Errors
///
/// A [`NurseryError`] with every failure.
///
/// # Cancellation
///
/// If an enclosing scope is cancelled, the body and children are cancelled and the nursery
/// waits for the children to be dropped before it lets the enclosing scope finish (drain); the
/// enclosing scope then catches. As in Trio, the nursery's exit is not itself a cancellation
/// point: a nursery whose body and children all finished (none was dropped at a checkpoint)
/// returns `Ok(())` even inside a cancelled scope, and the next checkpoint is cancelled.
/// Failures are always returned.
/// Dropping the nursery future cancels its children (they never outlive the runtime); the
/// body is dropped before the nursery closes, so a destructor in the body may still start
/// children (they start cancelled, and run to their first checkpoint).
pub async fn nursery<B, R>(body: B) -> Result<(), NurseryError>
where
    B: AsyncFnOnce(&Nursery) -> R,
    R: TaskResult,
{
    let nursery = Nursery {
        shared: Arc::new(Shared {
            node: Node::new_nursery(),
            state: Mutex::new(State {
                live: 0,
                failures: Vec::new(),
                waker: None,
                closed: false,
                child_cancelled: false,
            }),
        }),
    };
    let body = body(&nursery);
    NurseryRun {
        core: ScopeCore::new(nursery.shared.node.clone(), NoDeadline),
        shared: nursery.shared.clone(),
        body: Some(body),
        body_cancelled: false,
    }
    .await
}

pub(super) struct Shared {
    node: Arc<Node>,
    state: Mutex<State>,
}

struct State {
    live: usize,
    failures: Vec<TaskFailure>,
    waker: Option<Waker>,
    closed: bool,
    /// A child was dropped for a cancellation (it did not finish): the nursery's exit then
    /// leaves the catch to a cancelled enclosing scope, as Trio's re-raises the `Cancelled`.
    child_cancelled: bool,
}

impl Shared {
    pub(super) fn node(&self) -> &Arc<Node> {
        &self.node
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a new child; `None` if the nursery has closed. Only a `NurseryHandle` can see
    /// that: the nursery closes after its body is gone (`NurseryRun` drops the body first in
    /// every path), and every `&Nursery` lives inside the body.
    fn child(self: &Arc<Self>) -> Option<ChildToken> {
        let mut state = self.lock();
        if state.closed {
            return None;
        }
        state.live += 1;
        drop(state);
        Some(ChildToken::new(self.clone()))
    }

    /// A child or the body finished; a failure cancels the nursery's scope (which wakes the
    /// nursery's task), and the last child wakes it too.
    pub(super) fn finished(&self, is_child: bool, failure: Option<TaskFailure>) {
        self.ended(is_child, failure, false);
    }

    /// [`finished`](Self::finished), noting whether a child was dropped for a cancellation.
    pub(super) fn ended(&self, is_child: bool, failure: Option<TaskFailure>, cancelled: bool) {
        let cancel = failure.is_some();
        let waker = {
            let mut state = self.lock();
            if let Some(failure) = failure {
                state.failures.push(failure);
            }
            state.child_cancelled |= cancelled;
            if is_child {
                state.live -= 1;
            }
            if state.live == 0 {
                state.waker.take()
            } else {
                None
            }
        };
        if cancel {
            self.node.cancel();
        }
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// Starting children, written once for `&Nursery` and `NurseryHandle`.
impl Shared {
    fn start_soon<F>(
        self: &Arc<Self>,
        call: &'static str,
        name: Option<TaskName>,
        future: F,
    ) -> Result<(), NurseryClosed>
    where
        F: Future + Send + 'static,
        F::Output: TaskResult,
    {
        let token = self.child().ok_or(NurseryClosed)?;
        drop(
            TaskBuilder::named(name)
                .called(call)
                .spawn(Child::new(token, future)),
        );
        Ok(())
    }

    fn start_soon_on<M, F>(
        self: &Arc<Self>,
        call: &'static str,
        name: Option<Arc<str>>,
        domain: DomainId,
        make: M,
    ) -> Result<(), NurseryClosed>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future + 'static,
        F::Output: TaskResult,
    {
        let token = self.child().ok_or(NurseryClosed)?;
        // `make` runs on `domain`; a panic there is the child's failure, like one in its poll.
        drop(
            TaskBuilder::named(child_name::<F>(name))
                .called(call)
                .spawn_on(domain, move || match catch_unwind(AssertUnwindSafe(make)) {
                    Ok(future) => Child::new(token, future),
                    Err(payload) => Child::failed(token, PanicPayload::new(payload)),
                }),
        );
        Ok(())
    }

    fn start_soon_local<F>(
        self: &Arc<Self>,
        call: &'static str,
        future: F,
    ) -> Result<(), NurseryClosed>
    where
        F: Future + 'static,
        F::Output: TaskResult,
    {
        let token = self.child().ok_or(NurseryClosed)?;
        drop(
            TaskBuilder::named(child_name::<F>(None))
                .called(call)
                .spawn_local(Child::new(token, future)),
        );
        Ok(())
    }

    fn spawn<F, T, E>(
        self: &Arc<Self>,
        call: &'static str,
        future: F,
    ) -> Result<ChildHandle<T>, NurseryClosed>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<BoxError> + Send + 'static,
    {
        let name = child_name::<F>(None);
        let (child, handle) = valued(future);
        self.start_soon(call, name, child)?;
        Ok(handle)
    }

    async fn start<F, Fut, V>(self: &Arc<Self>, call: &'static str, f: F) -> Result<V, TaskFailure>
    where
        F: FnOnce(TaskStatus<V>) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: TaskResult,
        V: Send + 'static,
    {
        // A checkpoint: in a cancelled scope, `start` starts nothing and never completes (the
        // enclosing scope drops it right away).
        std::future::poll_fn(|_| {
            if current::is_cancelled() {
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await;
        let slot = Arc::new(StartSlot::new());
        let Some(mut token) = self.child() else {
            return Err(TaskFailure::Error(Box::new(NurseryClosed)));
        };
        token.start = Some(slot.clone());
        let future = f(TaskStatus { slot: slot.clone() });
        drop(
            TaskBuilder::named(child_name::<Fut>(None))
                .called(call)
                .spawn(Child::new(token, future)),
        );
        StartWait {
            slot,
            nursery: self.clone(),
            done: false,
        }
        .await
    }
}

/// The nursery a body runs in: starts children, cancels them. Only reachable inside the body
/// (use [`handle`](Self::handle) to start children from elsewhere).
///
/// # Examples
///
/// ```
/// trellis::run(async {
///     trellis::nursery(async |n| {
///         n.start_soon(async { println!("child") });
///     })
///     .await
///     .unwrap();
/// });
/// ```
pub struct Nursery {
    shared: Arc<Shared>,
}

/// A child's name for instruments: the given one, else (lazily, only if the runtime is
/// instrumented) the type name of its future.
fn child_name<F>(given: Option<Arc<str>>) -> Option<TaskName> {
    Some(given.map_or_else(TaskName::type_of::<F>, TaskName::Given))
}

impl Nursery {
    /// Starts a child task (stealable: any domain may run it). It never runs inline: it starts
    /// after the caller's next checkpoint at the earliest.
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     trellis::nursery(async |n| {
    ///         n.start_soon(async { Ok::<(), std::io::Error>(()) });
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    pub fn start_soon<F>(&self, future: F)
    where
        F: Future + Send + 'static,
        F::Output: TaskResult,
    {
        self.start_soon_as("Nursery::start_soon", None, future);
    }

    /// Like [`start_soon`](Self::start_soon), with a name for instruments (Trio's
    /// `start_soon(fn, name=...)`; see [`Instrument`](crate::Instrument)). Without a name, an
    /// instrumented runtime labels a child with its future's type name.
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     trellis::nursery(async |n| {
    ///         n.start_soon_named("heartbeat", async {});
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    pub fn start_soon_named<F>(&self, name: impl Into<Arc<str>>, future: F)
    where
        F: Future + Send + 'static,
        F::Output: TaskResult,
    {
        self.start_soon_as("Nursery::start_soon_named", Some(name.into()), future);
    }

    fn start_soon_as<F>(&self, call: &'static str, name: Option<Arc<str>>, future: F)
    where
        F: Future + Send + 'static,
        F::Output: TaskResult,
    {
        // Never closed while a `&Nursery` exists (see `Shared::child`).
        let _ = self.shared.start_soon(call, child_name::<F>(name), future);
    }

    /// Starts a child pinned to `domain`: `make` runs there and builds the future, which may be
    /// `!Send`.
    ///
    /// # Panics
    ///
    /// Panics if `domain` does not exist.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    ///
    /// trellis::run(async {
    ///     trellis::nursery(async |n| {
    ///         n.start_soon_on(trellis::DomainId::new(0), || async {
    ///             let local = Rc::new(1); // !Send is fine: the child stays on domain 0
    ///             trellis::yield_now().await;
    ///             assert_eq!(*local, 1);
    ///         });
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    pub fn start_soon_on<M, F>(&self, domain: DomainId, make: M)
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future + 'static,
        F::Output: TaskResult,
    {
        let _ = self
            .shared
            .start_soon_on("Nursery::start_soon_on", None, domain, make); // never closed here
    }

    /// Like [`start_soon_on`](Self::start_soon_on), with a name for instruments and the task
    /// tree ([`tree`](crate::tree)).
    ///
    /// # Panics
    ///
    /// Panics if `domain` does not exist.
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     trellis::nursery(async |n| {
    ///         n.start_soon_on_named("render-0", trellis::DomainId::new(0), || async {});
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    pub fn start_soon_on_named<M, F>(&self, name: impl Into<Arc<str>>, domain: DomainId, make: M)
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future + 'static,
        F::Output: TaskResult,
    {
        let _ = self.shared.start_soon_on(
            "Nursery::start_soon_on_named",
            Some(name.into()),
            domain,
            make,
        ); // never closed here
    }

    /// Starts a child pinned to the current domain; it may be `!Send`.
    ///
    /// # Panics
    ///
    /// Panics outside a domain (see [`spawn_local`](crate::spawn_local)).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    ///
    /// trellis::run(async {
    ///     trellis::spawn(async {
    ///         trellis::nursery(async |n| {
    ///             let shared = Rc::new(5);
    ///             n.start_soon_local(async move { assert_eq!(*shared, 5) });
    ///         })
    ///         .await
    ///         .unwrap();
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    pub fn start_soon_local<F>(&self, future: F)
    where
        F: Future + 'static,
        F::Output: TaskResult,
    {
        let _ = self
            .shared
            .start_soon_local("Nursery::start_soon_local", future); // never closed here
    }

    /// Starts a child whose value can be awaited: the `Ok` value of `future` goes to the
    /// returned [`ChildHandle`], an `Err` (or a panic) fails the nursery like any child's
    /// failure. asyncio's `TaskGroup.create_task`.
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     let mut total = 0;
    ///     trellis::nursery(async |n| {
    ///         let parts: Vec<_> = (1..=4u64)
    ///             .map(|i| n.spawn(async move { Ok::<_, std::io::Error>(i * i) }))
    ///             .collect();
    ///         for part in parts {
    ///             total += part.await.unwrap();
    ///         }
    ///     })
    ///     .await
    ///     .unwrap();
    ///     assert_eq!(total, 30);
    /// });
    /// ```
    pub fn spawn<F, T, E>(&self, future: F) -> ChildHandle<T>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<BoxError> + Send + 'static,
    {
        let Ok(handle) = self.shared.spawn("Nursery::spawn", future) else {
            unreachable!("a nursery is open while a `&Nursery` exists (see `Shared::child`)")
        };
        handle
    }

    /// Starts `f(status)` as a child and waits until it calls `status.started(value)`; returns
    /// that value. Trio's `nursery.start`: for tasks that must be ready (listening, connected)
    /// before the caller goes on.
    ///
    /// A failure of the child before `started` is returned here and does not fail the
    /// nursery; returning (or being cancelled) without `started` gives
    /// `Err(TaskFailure::Error(NotStarted))`. After `started` the child is an ordinary child.
    ///
    /// # Differences from Trio
    ///
    /// - The child runs in the nursery's scope from the start, not in the caller's until
    ///   `started`: cancelling the caller does not cancel the child.
    /// - `start` is a checkpoint that never completes in a cancelled scope, and in a scope
    ///   already cancelled when it is first polled it starts nothing (`f` is not called). Trio
    ///   starts the child there and, if it calls `started` without reaching a checkpoint,
    ///   returns its value.
    ///
    /// # Errors
    ///
    /// The child's failure before `started`, or [`NotStarted`].
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     let r = trellis::nursery(async |n| {
    ///         let early = n.start(|_s: trellis::TaskStatus<()>| async { Err::<(), _>("no port") }).await;
    ///         assert!(early.is_err()); // reported here, the nursery is not failed
    ///     })
    ///     .await;
    ///     assert!(r.is_ok());
    /// });
    /// ```
    ///
    /// # Cancellation
    ///
    /// A checkpoint. Cancelled before the child exists, it did nothing. Cancelled (or dropped)
    /// while it waits, the child stays in the nursery as an ordinary child: a value it passes to
    /// `started` later is dropped, and a failure before `started` (even one that arrived just
    /// before the cancellation and was not read) fails the nursery instead, so no failure is
    /// lost. An outcome already there when the cancellation lands is still returned.
    pub async fn start<F, Fut, V>(&self, f: F) -> Result<V, TaskFailure>
    where
        F: FnOnce(TaskStatus<V>) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: TaskResult,
        V: Send + 'static,
    {
        self.shared.start("Nursery::start", f).await
    }

    /// Cancels the nursery's scope: every child and the body. The nursery then returns
    /// `Ok(())` (unless something failed): its own cancellation is a clean exit.
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     let r = trellis::nursery(async |n| {
    ///         n.start_soon(std::future::pending::<()>());
    ///         n.cancel();
    ///     })
    ///     .await;
    ///     assert!(r.is_ok());
    /// });
    /// ```
    pub fn cancel(&self) {
        self.shared.node.cancel();
    }

    /// A handle to start children and cancel the nursery from other tasks or threads.
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     trellis::nursery(async |n| {
    ///         let h = n.handle();
    ///         n.start_soon(async move {
    ///             h.start_soon(async { /* a sibling */ }).unwrap();
    ///         });
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    pub fn handle(&self) -> NurseryHandle {
        NurseryHandle {
            shared: self.shared.clone(),
        }
    }
}

impl fmt::Debug for Nursery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Nursery")
            .field("live_children", &self.shared.lock().live)
            .finish()
    }
}

/// Starts children in a nursery from any task of the runtime, and cancels it from any task or
/// thread (`Clone + Send`).
///
/// # Examples
///
/// ```
/// trellis::run(async {
///     trellis::nursery(async |n| {
///         let h = n.handle();
///         std::thread::spawn(move || h.cancel()).join().unwrap();
///     })
///     .await
///     .unwrap();
/// });
/// ```
#[derive(Clone)]
pub struct NurseryHandle {
    shared: Arc<Shared>,
}

/// The nursery has finished: it takes no new children.
///
/// # Examples
///
/// ```
/// assert_eq!(trellis::NurseryClosed.to_string(), "the nursery has finished and takes no new children");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NurseryClosed;

impl fmt::Display for NurseryClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the nursery has finished and takes no new children")
    }
}

impl std::error::Error for NurseryClosed {}

impl NurseryHandle {
    /// Starts a stealable child, like [`Nursery::start_soon`].
    ///
    /// # Errors
    ///
    /// [`NurseryClosed`] if the nursery has already finished (the future is dropped).
    ///
    /// # Panics
    ///
    /// Panics outside a Trellis runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     let mut kept = None;
    ///     trellis::nursery(async |n| kept = Some(n.handle())).await.unwrap();
    ///     assert!(kept.unwrap().start_soon(async {}).is_err());
    /// });
    /// ```
    pub fn start_soon<F>(&self, future: F) -> Result<(), NurseryClosed>
    where
        F: Future + Send + 'static,
        F::Output: TaskResult,
    {
        self.shared
            .start_soon("NurseryHandle::start_soon", child_name::<F>(None), future)
    }

    /// Starts a named stealable child, like [`Nursery::start_soon_named`].
    ///
    /// # Errors
    ///
    /// [`NurseryClosed`] if the nursery has already finished.
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     trellis::nursery(async |n| {
    ///         let h = n.handle();
    ///         n.start_soon(async move { h.start_soon_named("sibling", async {}).unwrap() });
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    pub fn start_soon_named<F>(
        &self,
        name: impl Into<Arc<str>>,
        future: F,
    ) -> Result<(), NurseryClosed>
    where
        F: Future + Send + 'static,
        F::Output: TaskResult,
    {
        self.shared.start_soon(
            "NurseryHandle::start_soon_named",
            child_name::<F>(Some(name.into())),
            future,
        )
    }

    /// Starts a child pinned to `domain`, like [`Nursery::start_soon_on`].
    ///
    /// # Errors
    ///
    /// [`NurseryClosed`] if the nursery has already finished.
    ///
    /// # Panics
    ///
    /// Panics if `domain` does not exist.
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     trellis::nursery(async |n| {
    ///         let h = n.handle();
    ///         n.start_soon(async move {
    ///             h.start_soon_on(trellis::DomainId::new(0), || async {}).unwrap();
    ///         });
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    pub fn start_soon_on<M, F>(&self, domain: DomainId, make: M) -> Result<(), NurseryClosed>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future + 'static,
        F::Output: TaskResult,
    {
        self.shared
            .start_soon_on("NurseryHandle::start_soon_on", None, domain, make)
    }

    /// Starts a named child pinned to `domain`, like [`Nursery::start_soon_on_named`].
    ///
    /// # Errors
    ///
    /// [`NurseryClosed`] if the nursery has already finished.
    ///
    /// # Panics
    ///
    /// Panics if `domain` does not exist.
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     trellis::nursery(async |n| {
    ///         let h = n.handle();
    ///         h.start_soon_on_named("io-0", trellis::DomainId::new(0), || async {}).unwrap();
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    pub fn start_soon_on_named<M, F>(
        &self,
        name: impl Into<Arc<str>>,
        domain: DomainId,
        make: M,
    ) -> Result<(), NurseryClosed>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future + 'static,
        F::Output: TaskResult,
    {
        self.shared.start_soon_on(
            "NurseryHandle::start_soon_on_named",
            Some(name.into()),
            domain,
            make,
        )
    }

    /// Starts a child pinned to the current domain, like [`Nursery::start_soon_local`].
    ///
    /// # Errors
    ///
    /// [`NurseryClosed`] if the nursery has already finished.
    ///
    /// # Panics
    ///
    /// Panics outside a domain.
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     trellis::nursery(async |n| {
    ///         let h = n.handle();
    ///         n.start_soon(async move {
    ///             let here = std::rc::Rc::new(1); // !Send: stays on this domain
    ///             h.start_soon_local(async move { assert_eq!(*here, 1) }).unwrap();
    ///         });
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    pub fn start_soon_local<F>(&self, future: F) -> Result<(), NurseryClosed>
    where
        F: Future + 'static,
        F::Output: TaskResult,
    {
        self.shared
            .start_soon_local("NurseryHandle::start_soon_local", future)
    }

    /// Starts a child whose value can be awaited, like [`Nursery::spawn`].
    ///
    /// # Errors
    ///
    /// [`NurseryClosed`] if the nursery has already finished.
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     trellis::nursery(async |n| {
    ///         let h = n.handle();
    ///         let child = h.spawn(async { Ok::<_, std::io::Error>("hi") }).unwrap();
    ///         assert_eq!(child.await.unwrap(), "hi");
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    pub fn spawn<F, T, E>(&self, future: F) -> Result<ChildHandle<T>, NurseryClosed>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<BoxError> + Send + 'static,
    {
        self.shared.spawn("NurseryHandle::spawn", future)
    }

    /// Starts `f(status)` as a child and waits for its `started`, like [`Nursery::start`].
    ///
    /// # Errors
    ///
    /// As [`Nursery::start`]; [`NurseryClosed`] (as a `TaskFailure::Error`) if the nursery has
    /// already finished.
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     trellis::nursery(async |n| {
    ///         let h = n.handle();
    ///         let v = h.start(|s| async move { s.started(3) }).await.unwrap();
    ///         assert_eq!(v, 3);
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    ///
    /// # Cancellation
    ///
    /// As [`Nursery::start`].
    pub async fn start<F, Fut, V>(&self, f: F) -> Result<V, TaskFailure>
    where
        F: FnOnce(TaskStatus<V>) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: TaskResult,
        V: Send + 'static,
    {
        self.shared.start("NurseryHandle::start", f).await
    }

    /// Cancels the nursery, like [`Nursery::cancel`].
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     trellis::nursery(async |n| {
    ///         let h = n.handle();
    ///         n.start_soon(async move { h.cancel() });
    ///         std::future::pending::<()>().await; // cancelled by the child
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    pub fn cancel(&self) {
        self.shared.node.cancel();
    }
}

impl fmt::Debug for NurseryHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NurseryHandle").finish_non_exhaustive()
    }
}

pin_project_lite::pin_project! {
    /// The nursery's own future: polls the body, then waits for the children.
    struct NurseryRun<B> {
        core: ScopeCore,
        shared: Arc<Shared>,
        #[pin]
        body: Option<B>,
        // The body was dropped at a checkpoint for a cancellation (it did not finish).
        body_cancelled: bool,
    }

    impl<B> PinnedDrop for NurseryRun<B> {
        fn drop(this: Pin<&mut Self>) {
            // Dropped before the end (its task was cancelled or aborted, or a `select!` lost
            // it): stop the children promptly and let enclosing scopes go. The body is dropped
            // *before* the nursery closes: its destructors may still start children (they
            // start cancelled, and run to their first checkpoint).
            let mut this = this.project();
            if this.body.is_some() || !this.shared.lock().closed {
                this.shared.node.cancel();
                this.body.set(None);
                this.shared.lock().closed = true;
            }
        }
    }
}

/// Drops a nursery's body in place; a panic in its destructor is a failure of the nursery.
fn drop_body<B>(body: Pin<&mut Option<B>>, shared: &Shared) {
    let mut body = body;
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| body.set(None))) {
        shared.finished(false, Some(TaskFailure::Panic(PanicPayload::new(payload))));
    }
}

impl<B: Future> Future for NurseryRun<B>
where
    B::Output: TaskResult,
{
    type Output = Result<(), NurseryError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        // The steps are those of `body.rs`; after the body, the nursery waits for its children.
        let poll_body = this.core.begin();
        if let Some(body) = this.body.as_mut().as_pin_mut() {
            if !poll_body {
                *this.body_cancelled = true;
                drop_body(this.body.as_mut(), this.shared);
            } else {
                let polled = this.core.enter_body(|| {
                    catch_unwind(AssertUnwindSafe(|| match body.poll(cx) {
                        Poll::Ready(output) => Poll::Ready(output.into_failure()),
                        Poll::Pending => Poll::Pending,
                    }))
                });
                match polled {
                    Ok(Poll::Ready(failure)) => {
                        drop_body(this.body.as_mut(), this.shared);
                        if let Some(failure) = failure {
                            this.shared.finished(false, Some(failure));
                        }
                    }
                    Err(payload) => {
                        drop_body(this.body.as_mut(), this.shared);
                        this.shared
                            .finished(false, Some(TaskFailure::Panic(PanicPayload::new(payload))));
                    }
                    Ok(Poll::Pending) => {
                        if this.core.must_stop_after_pending(cx) {
                            *this.body_cancelled = true;
                            drop_body(this.body.as_mut(), this.shared);
                        }
                    }
                }
            }
        } else {
            // Waiting for children: a cancel of the nursery must wake us too (to defer).
            this.core.node().register(cx.waker());
        }
        let mut state = this.shared.lock();
        if this.body.is_some() || state.live > 0 {
            state.waker = Some(cx.waker().clone());
            let live = state.live > 0;
            drop(state);
            // Drain: while children live, enclosing scopes of this task wait for them.
            this.core.hold(live);
            return Poll::Pending;
        }
        let failures = std::mem::take(&mut state.failures);
        let cancelled = *this.body_cancelled || state.child_cancelled;
        state.closed = true;
        drop(state);
        this.core.finish();
        if !failures.is_empty() {
            return Poll::Ready(Err(NurseryError::new(failures)));
        }
        if cancelled && this.core.defers() {
            // Something inside was cancelled by an enclosing scope of this poll: that scope
            // catches, right after us. The exit itself is no cancellation point (as in Trio):
            // a nursery whose body and children all finished returns even in a cancelled scope.
            return Poll::Pending;
        }
        let node = this.core.node();
        if node.cancel_called() {
            node.set_caught();
        }
        Poll::Ready(Ok(()))
    }
}
