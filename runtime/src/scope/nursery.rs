//! Nurseries: a cancel scope plus a set of child tasks that cannot outlive it.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use super::current::{self, Enter};
use super::error::{NurseryError, PanicPayload, TaskFailure, TaskResult};
use super::node::Node;
use crate::domain::DomainId;
use crate::instrument::TaskName;
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
/// waits for the children to be dropped before it lets the enclosing scope finish (drain).
/// Dropping the nursery future cancels its children; they never outlive the runtime.
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
            }),
        }),
    };
    let body = body(&nursery);
    NurseryRun {
        shared: nursery.shared.clone(),
        body: Some(body),
        started: false,
        holding: false,
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
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a new child; `None` if the nursery has finished.
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
        let cancel = failure.is_some();
        let waker = {
            let mut state = self.lock();
            if let Some(failure) = failure {
                state.failures.push(failure);
            }
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
        let token = self
            .shared
            .child()
            .expect("the nursery is open while its body runs");
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
        let token = self
            .shared
            .child()
            .expect("the nursery is open while its body runs");
        drop(
            TaskBuilder::named(child_name::<F>(None))
                .spawn_on(domain, move || Child::new(token, make())),
        );
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
        let token = self
            .shared
            .child()
            .expect("the nursery is open while its body runs");
        drop(TaskBuilder::named(child_name::<F>(None)).spawn_local(Child::new(token, future)));
    }

    /// Starts `f(status)` as a child and waits until it calls `status.started(value)`; returns
    /// that value. Trio's `nursery.start`: for tasks that must be ready (listening, connected)
    /// before the caller goes on.
    ///
    /// A failure of the child before `started` is returned here and does not fail the
    /// nursery; returning (or being cancelled) without `started` gives
    /// `Err(TaskFailure::Error(NotStarted))`. After `started` the child is an ordinary child.
    /// (Unlike Trio, the child runs in the nursery's scope from the start, not in the caller's
    /// until `started`.)
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
    /// Dropping the returned future does not stop the child; it stays in the nursery.
    pub async fn start<F, Fut, V>(&self, f: F) -> Result<V, TaskFailure>
    where
        F: FnOnce(TaskStatus<V>) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: TaskResult,
        V: Send + 'static,
    {
        let slot = Arc::new(StartSlot {
            state: Mutex::new(StartState {
                started: false,
                value: None,
                early: None,
                waker: None,
            }),
        });
        let mut token = self
            .shared
            .child()
            .expect("the nursery is open while its body runs");
        token.start = Some(slot.clone());
        let future = f(TaskStatus { slot: slot.clone() });
        drop(TaskBuilder::named(child_name::<Fut>(None)).spawn(Child::new(token, future)));
        std::future::poll_fn(|cx| {
            let mut state = slot.lock();
            if let Some(value) = state.value.take() {
                return Poll::Ready(Ok(value));
            }
            if let Some(failure) = state.early.take() {
                return Poll::Ready(Err(failure));
            }
            state.waker = Some(cx.waker().clone());
            Poll::Pending
        })
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

/// Starts children in a nursery and cancels it, from any task or thread (`Clone + Send`).
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
        if !self.reported {
            self.reported = true;
            let failure = match &self.start {
                Some(hook) => hook.child_finished(failure),
                None => failure,
            };
            self.nursery.finished(true, failure);
        }
    }
}

/// Routes the end of a `start`ed child: to the `start` caller before `started`, to the
/// nursery after.
trait StartHook: Send + Sync {
    /// Returns the failure the nursery should record.
    fn child_finished(&self, failure: Option<TaskFailure>) -> Option<TaskFailure>;
}

struct StartSlot<V> {
    state: Mutex<StartState<V>>,
}

struct StartState<V> {
    started: bool,
    value: Option<V>,
    early: Option<TaskFailure>,
    waker: Option<Waker>,
}

impl<V> StartSlot<V> {
    fn lock(&self) -> MutexGuard<'_, StartState<V>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<V: Send> StartHook for StartSlot<V> {
    fn child_finished(&self, failure: Option<TaskFailure>) -> Option<TaskFailure> {
        let mut state = self.lock();
        if state.started {
            return failure;
        }
        state.early = Some(failure.unwrap_or_else(|| TaskFailure::Error(Box::new(NotStarted))));
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        None
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

/// The future of a nursery child task.
struct Child<F> {
    token: ChildToken,
    future: Option<F>,
    polled: bool,
}

impl<F> Child<F> {
    fn new(token: ChildToken, future: F) -> Child<F> {
        Child {
            token,
            future: Some(future),
            polled: false,
        }
    }
}

impl<F> Child<F> {
    fn stop(&mut self, failure: Option<TaskFailure>) -> Poll<()> {
        // Drop the child's code first (its destructor may panic: that is a failure too).
        let dropped = catch_unwind(AssertUnwindSafe(|| self.future = None));
        let failure = failure.or(dropped
            .err()
            .map(|p| TaskFailure::Panic(PanicPayload::new(p))));
        self.token.report(failure);
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
        // moved; `token` is not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let node = this.token.node.clone();
        node.register(cx.waker());
        // First poll always runs the child up to its first checkpoint (Trio semantics).
        if this.polled && node.must_stop() {
            return this.stop(None);
        }
        this.polled = true;
        let Some(future) = this.future.as_mut() else {
            return Poll::Ready(());
        };
        let polled = {
            let _enter = Enter::new(&node);
            catch_unwind(AssertUnwindSafe(|| {
                // SAFETY: see above: pinned in place, never moved.
                unsafe { Pin::new_unchecked(future) }.poll(cx)
            }))
        };
        match polled {
            Ok(Poll::Ready(output)) => this.stop(output.into_failure()),
            Err(payload) => this.stop(Some(TaskFailure::Panic(PanicPayload::new(payload)))),
            Ok(Poll::Pending) if node.must_stop() => this.stop(None),
            Ok(Poll::Pending) => Poll::Pending,
        }
    }
}

/// The nursery's own future: polls the body, then waits for the children.
struct NurseryRun<B> {
    shared: Arc<Shared>,
    body: Option<B>,
    started: bool,
    /// Holding the enclosing scopes of this task while children are alive (drain).
    holding: bool,
}

impl<B> NurseryRun<B> {
    fn set_holding(&mut self, hold: bool) {
        if hold != self.holding {
            self.holding = hold;
            self.shared.node.hold_ancestors(if hold { 1 } else { -1 });
        }
    }

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
        // SAFETY: `body` is structurally pinned (polled and dropped in place, never moved).
        let this = unsafe { self.get_unchecked_mut() };
        let node = this.shared.node.clone();
        let first_poll = !this.started;
        if first_poll {
            this.started = true;
            node.attach(current::current().as_ref());
        }
        node.register(cx.waker());
        if let Some(body) = this.body.as_mut() {
            if !first_poll && node.must_stop() {
                this.drop_body();
            } else {
                let polled = {
                    let _enter = Enter::new(&node);
                    catch_unwind(AssertUnwindSafe(|| {
                        // SAFETY: see above: pinned in place, never moved.
                        unsafe { Pin::new_unchecked(body) }.poll(cx)
                    }))
                };
                match polled {
                    Ok(Poll::Ready(output)) => {
                        this.body = None;
                        if let Some(failure) = output.into_failure() {
                            this.shared.finished(false, Some(failure));
                        }
                    }
                    Err(payload) => {
                        this.drop_body();
                        this.shared
                            .finished(false, Some(TaskFailure::Panic(PanicPayload::new(payload))));
                    }
                    Ok(Poll::Pending) => {
                        if node.must_stop() {
                            this.drop_body();
                        }
                    }
                }
            }
        }
        let mut state = this.shared.lock();
        if this.body.is_some() || state.live > 0 {
            state.waker = Some(cx.waker().clone());
            let live = state.live > 0;
            drop(state);
            // Drain: while children live, enclosing scopes of this task wait for them.
            this.set_holding(live);
            return Poll::Pending;
        }
        let failures = std::mem::take(&mut state.failures);
        state.closed = true;
        drop(state);
        this.set_holding(false);
        if !failures.is_empty() {
            return Poll::Ready(Err(NurseryError::new(failures)));
        }
        if node.is_effective() && !node.catches() {
            // An enclosing scope of this task was cancelled: it catches, right after us.
            return Poll::Pending;
        }
        if node.cancel_called() {
            node.set_caught();
        }
        Poll::Ready(Ok(()))
    }
}

impl<B> Drop for NurseryRun<B> {
    fn drop(&mut self) {
        // Dropped before the end (its task was cancelled or aborted): stop the children
        // promptly, and let enclosing scopes go.
        let was_closed = std::mem::replace(&mut self.shared.lock().closed, true);
        if !was_closed {
            self.shared.node.cancel();
        }
        self.body = None;
        self.set_holding(false);
    }
}
