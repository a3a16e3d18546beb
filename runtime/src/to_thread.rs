//! `to_thread`: a blocking closure on the blocking pool that respects its cancel scopes (Trio's
//! `to_thread.run_sync`).
//!
//! # Protocol
//!
//! 1. Take a token of the limiter (a [`CapacityLimiter`], for a new [`Borrower`] per call): an
//!    ordinary cancellable wait; cancelled here, nothing was started and nothing is held.
//! 2. Queue the closure as a blocking job (`blocking.rs`). The job runs it, stores the outcome
//!    (value or panic) in the call's [`Slot`], gives the token back and wakes the waiting task.
//!    If the job is dropped unrun (the runtime shuts down), the slot is marked done, empty.
//! 3. Wait for the slot with an [`OpHold`] on the task's scopes: a cancelled scope does not
//!    drop the call while the closure runs; it polls it again when woken (by the cancellation,
//!    then by the job). Once the outcome is in, the hold is released; in a cancelled scope the
//!    value is dropped and the call returns `Pending`, so the scope drops it right away (the
//!    call reports the cancellation like any checkpoint). A panic of the closure is re-raised
//!    in the task, cancelled or not: it is never lost.
//!
//! With `abandon_on_cancel(true)` step 3 takes no hold: a cancelled scope drops the call at
//! once and the closure runs on, detached; its token is still held until it returns.
//!
//! Dropping the call by other means than its scopes (aborting its task, shutdown, a combinator
//! that drops it) cannot stop a running thread either: the closure then runs on detached.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::thread;

use crate::scheduler::context;
use crate::scope::{OpHold, is_cancelled};
use crate::spawn::TaskBuilder;
use crate::sync::{Borrower, CapacityLimiter};

/// Tokens of the [default limiter](default_thread_limiter): Trio's default.
pub const DEFAULT_THREAD_TOKENS: usize = 40;

/// The limiter `to_thread` calls use unless given one: [`DEFAULT_THREAD_TOKENS`] tokens,
/// shared by every runtime of the process (Trio's `current_default_thread_limiter`, which is
/// per run). Adjust it at run time with [`CapacityLimiter::set_total_tokens`].
///
/// # Examples
///
/// ```
/// let limiter = trellis::default_thread_limiter();
/// assert!(limiter.total_tokens() >= 1);
/// ```
pub fn default_thread_limiter() -> Arc<CapacityLimiter> {
    static DEFAULT: OnceLock<Arc<CapacityLimiter>> = OnceLock::new();
    DEFAULT
        .get_or_init(|| Arc::new(CapacityLimiter::new(DEFAULT_THREAD_TOKENS)))
        .clone()
}

/// Runs the blocking closure `func` on the runtime's blocking pool and waits for its value,
/// keeping structured concurrency: the awaiting task cannot finish, and so its nursery cannot
/// return, until `func` has returned, even when cancelled. Trio's `to_thread.run_sync`.
///
/// At most the limiter's total tokens run at once ([`default_thread_limiter`] unless
/// [`limiter`](ToThread::limiter) gives another); the others wait for a token.
///
/// Compare [`spawn_blocking`](crate::spawn_blocking): a task awaiting its handle is dropped at
/// once on cancel, and the closure runs on after the nursery returned.
///
/// # Panics
///
/// The returned future panics if polled outside a Trellis runtime, or if the runtime could not
/// run the closure (it is shutting down, or no thread could be started). A panic of `func` is
/// re-raised in the awaiting task.
///
/// # Examples
///
/// ```
/// trellis::run(async {
///     let n = trellis::to_thread(|| std::fs::read_dir(".").map(|d| d.count()).unwrap_or(0)).await;
///     assert!(n > 0);
/// });
/// ```
///
/// # Cancellation
///
/// Waiting for a token is a checkpoint: cancelled there, nothing ran. Once `func` started, a
/// cancellation is delivered when it returns: its value is dropped and the call is cancelled
/// at that point, like any checkpoint. With [`abandon_on_cancel`](ToThread::abandon_on_cancel)
/// the call is dropped at once and `func` runs on, detached (holding its token until it
/// returns).
pub fn to_thread<F, T>(func: F) -> ToThread<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    ToThread {
        call: Some(Call {
            func,
            limiter: None,
            abandon_on_cancel: false,
        }),
        running: None,
    }
}

/// The future returned by [`to_thread`], with its options (set them before the first poll).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use trellis::sync::CapacityLimiter;
///
/// trellis::run(async {
///     let disk = Arc::new(CapacityLimiter::new(2));
///     let v = trellis::to_thread(|| 6 * 7).limiter(disk.clone()).await;
///     assert_eq!(v, 42);
///     assert_eq!(disk.borrowed_tokens(), 0);
/// });
/// ```
///
/// # Cancellation
///
/// As [`to_thread`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct ToThread<F, T> {
    /// The call, until the first poll starts it.
    call: Option<Call<F>>,
    running: Option<Pin<Box<dyn Future<Output = T> + Send>>>,
}

struct Call<F> {
    func: F,
    limiter: Option<Arc<CapacityLimiter>>,
    abandon_on_cancel: bool,
}

impl<F, T> ToThread<F, T> {
    fn call(&mut self, option: &str) -> &mut Call<F> {
        match self.call.as_mut() {
            Some(call) => call,
            None => panic!("`ToThread::{option}` called after the call started"),
        }
    }

    /// Takes the token from `limiter` instead of the [default](default_thread_limiter).
    ///
    /// # Panics
    ///
    /// If the call was polled already.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// trellis::run(async {
    ///     let one_at_a_time = Arc::new(trellis::sync::CapacityLimiter::new(1));
    ///     assert_eq!(trellis::to_thread(|| 1).limiter(one_at_a_time).await, 1);
    /// });
    /// ```
    pub fn limiter(mut self, limiter: Arc<CapacityLimiter>) -> ToThread<F, T> {
        self.call("limiter").limiter = Some(limiter);
        self
    }

    /// With `true`, a cancellation drops the call at once and leaves the closure running,
    /// detached (Trio's `abandon_on_cancel=True`); its value is then lost. Default `false`.
    ///
    /// # Panics
    ///
    /// If the call was polled already.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// trellis::run(async {
    ///     let out = trellis::move_on_after(
    ///         Duration::from_millis(1),
    ///         trellis::to_thread(|| std::thread::sleep(Duration::from_millis(50)))
    ///             .abandon_on_cancel(true),
    ///     )
    ///     .await;
    ///     assert_eq!(out, None); // returned after about 1 ms; the thread sleeps on
    /// });
    /// ```
    pub fn abandon_on_cancel(mut self, abandon: bool) -> ToThread<F, T> {
        self.call("abandon_on_cancel").abandon_on_cancel = abandon;
        self
    }
}

impl<F, T> Unpin for ToThread<F, T> {}

impl<F, T> Future for ToThread<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = &mut *self;
        let running = match this.running.as_mut() {
            Some(running) => running,
            None => {
                let call = this
                    .call
                    .take()
                    .expect("a to_thread call polled after it completed");
                this.running.insert(Box::pin(run(call)))
            }
        };
        let out = running.as_mut().poll(cx);
        if out.is_ready() {
            this.running = None;
        }
        out
    }
}

impl<F, T> fmt::Debug for ToThread<F, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToThread")
            .field("started", &self.call.is_none())
            .finish_non_exhaustive()
    }
}

async fn run<F, T>(call: Call<F>) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let shared = context::expect_runtime("trellis::to_thread", Arc::clone);
    let limiter = call.limiter.unwrap_or_else(default_thread_limiter);
    // Step 1: a new borrower never holds a token already.
    let borrower = limiter
        .acquire_on_behalf_of(Borrower::new())
        .await
        .expect("a new borrower holds no token")
        .keep();
    // Step 2.
    let slot = Arc::new(Slot::new());
    let done = Done {
        slot: slot.clone(),
        limiter,
        borrower,
        outcome: None,
    };
    let func = call.func;
    drop(TaskBuilder::new().spawn_blocking_in(&shared, move || {
        let mut done = done; // the whole guard moves in, so it drops here after the call
        done.outcome = Some(catch_unwind(AssertUnwindSafe(func)));
    }));
    // Step 3.
    Wait {
        slot,
        hold: None,
        abandon: call.abandon_on_cancel,
    }
    .await
}

/// The outcome of one call, handed from the pool thread to the waiting task.
struct Slot<T> {
    state: Mutex<SlotState<T>>,
}

struct SlotState<T> {
    outcome: Option<thread::Result<T>>,
    /// The job is over: it ran (`outcome` is set until taken) or was dropped unrun.
    done: bool,
    waker: Option<Waker>,
}

impl<T> Slot<T> {
    fn new() -> Slot<T> {
        Slot {
            state: Mutex::new(SlotState {
                outcome: None,
                done: false,
                waker: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState<T>> {
        // No critical section panics.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Moves into the job: when dropped (after the closure ran, or with the job dropped unrun)
/// gives the token back, then reports the outcome and wakes the waiting task.
struct Done<T> {
    slot: Arc<Slot<T>>,
    limiter: Arc<CapacityLimiter>,
    borrower: Borrower,
    outcome: Option<thread::Result<T>>,
}

impl<T> Drop for Done<T> {
    fn drop(&mut self) {
        // The token first: once the task sees the outcome, the call holds nothing.
        self.limiter.release_for(self.borrower);
        let waker = {
            let mut state = self.slot.lock();
            state.outcome = self.outcome.take();
            state.done = true;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// Step 3: waits for the slot.
struct Wait<T> {
    slot: Arc<Slot<T>>,
    hold: Option<OpHold>,
    abandon: bool,
}

impl<T> Future for Wait<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = &mut *self;
        if this.abandon && is_cancelled() {
            return Poll::Pending; // the scope drops the call now; the closure runs on
        }
        let mut state = this.slot.lock();
        if !state.done {
            if state
                .waker
                .as_ref()
                .is_none_or(|w| !w.will_wake(cx.waker()))
            {
                state.waker = Some(cx.waker().clone());
            }
            drop(state);
            if !this.abandon && this.hold.is_none() {
                this.hold = OpHold::current();
            }
            return Poll::Pending;
        }
        let outcome = state.outcome.take();
        drop(state);
        this.hold = None;
        match outcome {
            Some(Err(panic)) => resume_unwind(panic),
            // Cancelled while the closure ran: the value is dropped and, with the hold
            // released, the scope drops the call in this poll.
            Some(Ok(_)) if is_cancelled() => Poll::Pending,
            Some(Ok(value)) => Poll::Ready(value),
            None => panic!(
                "`trellis::to_thread`: the runtime could not run the closure (it is shutting \
                 down, or no blocking thread could be started)"
            ),
        }
    }
}
