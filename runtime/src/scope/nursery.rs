//! Nurseries: a cancel scope plus a set of child tasks that cannot outlive it.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use super::body::ScopeCore;
use super::current;
use super::error::{NurseryError, PanicPayload, TaskFailure, TaskResult};
use super::node::Node;
use crate::domain::DomainId;
use crate::instrument::TaskName;
use crate::loom::sync::{Mutex as LoomMutex, MutexGuard as LoomMutexGuard};
use crate::task::TaskBuilder;

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
            node: Node::new(false, None),
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
        core: ScopeCore::new(nursery.shared.node.clone(), None, false),
        shared: nursery.shared.clone(),
        body: Some(body),
        body_cancelled: false,
    }
    .await
}

struct Shared {
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
        Some(ChildToken {
            nursery: self.clone(),
            node: Node::new_task_root(&self.node),
            reported: false,
            start: None,
        })
    }

    /// A child or the body finished; a failure cancels the nursery's scope (which wakes the
    /// nursery's task), and the last child wakes it too.
    fn finished(&self, is_child: bool, failure: Option<TaskFailure>) {
        self.ended(is_child, failure, false);
    }

    /// [`finished`](Self::finished), noting whether a child was dropped for a cancellation.
    fn ended(&self, is_child: bool, failure: Option<TaskFailure>, cancelled: bool) {
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
        self.start_soon_as(None, future);
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
        self.start_soon_as(Some(name.into()), future);
    }

    fn start_soon_as<F>(&self, name: Option<Arc<str>>, future: F)
    where
        F: Future + Send + 'static,
        F::Output: TaskResult,
    {
        let Some(token) = self.shared.child() else {
            return; // see `Shared::child`: not reachable through `&Nursery`
        };
        drop(TaskBuilder::named(child_name::<F>(name)).spawn(Child::new(token, future)));
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
        let Some(token) = self.shared.child() else {
            return; // see `Shared::child`: not reachable through `&Nursery`
        };
        // `make` runs on `domain`; a panic there is the child's failure, like one in its poll.
        drop(TaskBuilder::named(child_name::<F>(None)).spawn_on(
            domain,
            move || match catch_unwind(AssertUnwindSafe(make)) {
                Ok(future) => Child::new(token, future),
                Err(payload) => Child::failed(token, PanicPayload::new(payload)),
            },
        ));
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
        let Some(token) = self.shared.child() else {
            return; // see `Shared::child`: not reachable through `&Nursery`
        };
        drop(TaskBuilder::named(child_name::<F>(None)).spawn_local(Child::new(token, future)));
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
        let Some(mut token) = self.shared.child() else {
            // See `Shared::child`: not reachable through `&Nursery`.
            return Err(TaskFailure::Error(Box::new(NurseryClosed)));
        };
        token.start = Some(slot.clone());
        let future = f(TaskStatus { slot: slot.clone() });
        drop(TaskBuilder::named(child_name::<Fut>(None)).spawn(Child::new(token, future)));
        StartWait {
            slot,
            nursery: self.shared.clone(),
            done: false,
        }
        .await
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
        let token = self.shared.child().ok_or(NurseryClosed)?;
        drop(TaskBuilder::named(child_name::<F>(None)).spawn(Child::new(token, future)));
        Ok(())
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

/// A registered child: reports its end to the nursery exactly once (cancelled if dropped
/// without reporting, e.g. by runtime shutdown).
struct ChildToken {
    nursery: Arc<Shared>,
    node: Arc<Node>,
    reported: bool,
    /// Set for a child started with `Nursery::start`: until it calls `started`, its outcome
    /// goes to the `start` caller instead of the nursery.
    start: Option<Arc<dyn StartHook>>,
}

impl ChildToken {
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

/// Routes the end of a `start`ed child: to the `start` caller before `started`, to the
/// nursery after, or when the caller is gone.
trait StartHook: Send + Sync {
    /// Returns the failure the nursery should record.
    fn child_finished(&self, failure: Option<TaskFailure>) -> Option<TaskFailure>;
}

/// The meeting point of a `start` caller and its child.
///
/// Every outcome reaches exactly one party, decided under the lock: the value or an early end
/// goes to the caller while it waits; once the caller is gone (`abandoned`, set by the drop of
/// [`StartWait`]), a failure goes to the nursery and a value is dropped; an early failure the
/// caller left unread is handed to the nursery by that same drop.
struct StartSlot<V> {
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
    fn new() -> StartSlot<V> {
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
struct StartWait<V> {
    slot: Arc<StartSlot<V>>,
    nursery: Arc<Shared>,
    done: bool,
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
    slot: Arc<StartSlot<V>>,
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

impl Drop for ChildToken {
    fn drop(&mut self) {
        self.report(None);
    }
}

/// The future of a nursery child task. Every way it can end reports to the nursery exactly
/// once (through its token): its output, a panic in `make`, in its poll, in its output's
/// conversion or in its destructor, or being dropped by the runtime (a clean exit).
struct Child<F> {
    core: ScopeCore,
    token: ChildToken,
    future: Option<F>,
}

impl<F> Child<F> {
    fn new(token: ChildToken, future: F) -> Child<F> {
        Child::with(token, Some(future))
    }

    fn with(token: ChildToken, future: Option<F>) -> Child<F> {
        Child {
            // The node is already attached under the nursery (`Node::new_task_root`).
            core: ScopeCore::new(token.node.clone(), None, false),
            token,
            future,
        }
    }

    /// A child whose future could not be built: `make` panicked. The panic is its failure.
    fn failed(mut token: ChildToken, payload: PanicPayload) -> Child<F> {
        token.report(Some(TaskFailure::Panic(payload)));
        Child::with(token, None)
    }

    /// Drops the child's code and reports its end; `cancelled`: it did not finish, it was
    /// stopped at a checkpoint for a cancellation.
    fn stop(&mut self, failure: Option<TaskFailure>, cancelled: bool) -> Poll<()> {
        // Drop the child's code first (its destructor may panic: that is a failure too).
        let dropped = catch_unwind(AssertUnwindSafe(|| self.future = None));
        let failure = failure.or(dropped
            .err()
            .map(|p| TaskFailure::Panic(PanicPayload::new(p))));
        self.core.finish();
        self.token.report_end(failure, cancelled);
        Poll::Ready(())
    }
}

impl<F: Future> Future for Child<F>
where
    F::Output: TaskResult,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: `future` is structurally pinned: polled in place, dropped in place, never
        // moved; `core` and `token` are not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        // The steps are those of `body.rs`; a task root always catches its own cancellation.
        if !this.core.begin() {
            return this.stop(None, true);
        }
        let Some(future) = this.future.as_mut() else {
            return this.stop(None, false);
        };
        let polled = this.core.enter_body(|| {
            catch_unwind(AssertUnwindSafe(|| {
                // SAFETY: see above: pinned in place, never moved.
                match unsafe { Pin::new_unchecked(future) }.poll(cx) {
                    Poll::Ready(output) => Poll::Ready(output.into_failure()),
                    Poll::Pending => Poll::Pending,
                }
            }))
        });
        match polled {
            Ok(Poll::Ready(failure)) => this.stop(failure, false),
            Err(payload) => this.stop(Some(TaskFailure::Panic(PanicPayload::new(payload))), false),
            Ok(Poll::Pending) if this.core.must_stop_after_pending(cx) => this.stop(None, true),
            Ok(Poll::Pending) => Poll::Pending,
        }
    }
}

/// The nursery's own future: polls the body, then waits for the children.
struct NurseryRun<B> {
    core: ScopeCore,
    shared: Arc<Shared>,
    body: Option<B>,
    /// The body was dropped at a checkpoint for a cancellation (it did not finish).
    body_cancelled: bool,
}

impl<B> NurseryRun<B> {
    fn drop_body(&mut self) {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| self.body = None)) {
            self.shared
                .finished(false, Some(TaskFailure::Panic(PanicPayload::new(payload))));
        }
    }
}

impl<B: Future> Future for NurseryRun<B>
where
    B::Output: TaskResult,
{
    type Output = Result<(), NurseryError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `body` is structurally pinned (polled and dropped in place, never moved);
        // `core` and `shared` are not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        // The steps are those of `body.rs`; after the body, the nursery waits for its children.
        let poll_body = this.core.begin();
        if let Some(body) = this.body.as_mut() {
            if !poll_body {
                this.body_cancelled = true;
                this.drop_body();
            } else {
                let polled = this.core.enter_body(|| {
                    catch_unwind(AssertUnwindSafe(|| {
                        // SAFETY: see above: pinned in place, never moved.
                        match unsafe { Pin::new_unchecked(body) }.poll(cx) {
                            Poll::Ready(output) => Poll::Ready(output.into_failure()),
                            Poll::Pending => Poll::Pending,
                        }
                    }))
                });
                match polled {
                    Ok(Poll::Ready(failure)) => {
                        this.body = None;
                        if let Some(failure) = failure {
                            this.shared.finished(false, Some(failure));
                        }
                    }
                    Err(payload) => {
                        this.drop_body();
                        this.shared
                            .finished(false, Some(TaskFailure::Panic(PanicPayload::new(payload))));
                    }
                    Ok(Poll::Pending) => {
                        if this.core.must_stop_after_pending(cx) {
                            this.body_cancelled = true;
                            this.drop_body();
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
        let cancelled = this.body_cancelled || state.child_cancelled;
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

impl<B> Drop for NurseryRun<B> {
    fn drop(&mut self) {
        // Dropped before the end (its task was cancelled or aborted, or a `select!` lost it):
        // stop the children promptly and let enclosing scopes go. The body is dropped *before*
        // the nursery closes: its destructors may still start children (they start cancelled,
        // and run to their first checkpoint).
        if self.body.is_some() || !self.shared.lock().closed {
            self.shared.node.cancel();
            self.body = None;
            self.shared.lock().closed = true;
        }
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
