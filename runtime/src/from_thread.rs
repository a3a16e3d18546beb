//! Calls from blocking code into the runtime (Trio's `trio.from_thread`): a closure running in
//! [`to_thread`](crate::to_thread) or [`spawn_blocking`](crate::spawn_blocking) runs an async
//! function on the runtime and gets its result back.
//!
//! The function runs as a new task of the runtime (any worker), while the calling thread
//! blocks until it finishes. Unlike Trio's, it is not a child of the task that called
//! `to_thread`: that task's cancellation does not reach it (cancel it through a
//! [`CancelHandle`](crate::CancelHandle) passed in, if needed). From a plain thread of your own,
//! use a [`Handle`]: [`Handle::block_on`], or [`run_on`].
//!
//! With a paused clock (`Builder::start_paused`) a blocking closure counts as busy while it
//! runs, and so while it waits here: the clock does not jump meanwhile, so a future run this
//! way from a blocking closure must not wait for the paused clock (from a plain thread it may).

use std::future::Future;
use std::panic::resume_unwind;

use crate::Handle;
use crate::scheduler::context;
use crate::task::JoinError;

/// Runs `future` on the runtime of the current blocking closure and blocks this thread for
/// its output (Trio's `from_thread.run`).
///
/// # Panics
///
/// Outside a blocking closure of a runtime (use [`run_on`] with a [`Handle`] from a plain
/// thread), on a worker thread, or if the runtime shut down before the future finished. A
/// panic of `future` is re-raised here.
///
/// # Examples
///
/// ```
/// trellis::run(async {
///     let (tx, rx) = trellis::channel::bounded::<u32>(1);
///     let sent = trellis::to_thread(move || {
///         // Blocking code hands a value to async code, waiting for the async send.
///         trellis::from_thread::run(async move { tx.send(7).await.is_ok() })
///     })
///     .await;
///     assert!(sent);
///     assert_eq!(rx.recv().await.unwrap(), 7);
/// });
/// ```
pub fn run<F>(future: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let call = "trellis::from_thread::run";
    run_for(&current(call), call, future)
}

/// Runs `func` on a worker of the current blocking closure's runtime and blocks this thread for
/// its value (Trio's `from_thread.run_sync`): for code that must run inside the runtime (it
/// reads domain-local state, or spawns), without an `async` block.
///
/// # Panics
///
/// As [`run`].
///
/// # Examples
///
/// ```
/// trellis::run(async {
///     let on_a_worker = trellis::to_thread(|| {
///         trellis::from_thread::run_sync(|| trellis::domain::current().is_some())
///     })
///     .await;
///     assert!(on_a_worker);
/// });
/// ```
pub fn run_sync<F, T>(func: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let call = "trellis::from_thread::run_sync";
    run_for(&current(call), call, async move { func() })
}

/// [`run`] on the runtime of `handle`, from any thread that is not a worker (a plain thread).
///
/// # Panics
///
/// On a worker thread, inside a `block_on`, or if the runtime shut down before the future
/// finished. A panic of `future` is re-raised here.
///
/// # Examples
///
/// ```
/// let rt = trellis::Runtime::builder().workers(1).build().unwrap();
/// let handle = rt.handle();
/// let v = std::thread::spawn(move || {
///     trellis::from_thread::run_on(&handle, async { trellis::domain::current().is_some() })
/// })
/// .join()
/// .unwrap();
/// assert!(v);
/// ```
pub fn run_on<F>(handle: &Handle, future: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    run_for(handle, "trellis::from_thread::run_on", future)
}

fn run_for<F>(handle: &Handle, call: &str, future: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    // Before spawning: a call that cannot block must not leave a task behind.
    context::assert_may_block(call);
    let task = handle.spawn(future);
    match handle.block_on_for(call, task) {
        Ok(output) => output,
        Err(err) => rethrow(err),
    }
}

fn current(call: &str) -> Handle {
    match Handle::try_current() {
        Some(handle) => handle,
        None => panic!(
            "`{call}` called outside a Trellis runtime: it is for blocking closures run by \
             `trellis::to_thread` or `spawn_blocking`; from a plain thread use \
             `trellis::from_thread::run_on(&handle, ..)` with a `Handle` from `Runtime::handle`"
        ),
    }
}

fn rethrow(err: JoinError) -> ! {
    if err.is_panic() {
        resume_unwind(err.into_panic());
    }
    panic!("`trellis::from_thread`: the runtime shut down before the call finished ({err})")
}
