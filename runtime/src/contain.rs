//! Containing panics of user code that the runtime calls outside a task's poll: wakers that a
//! worker fires (timers, join handles) and instrument hooks. Such code runs on a worker (or the
//! driver) in the middle of scheduling; a panic that unwound from there would kill the worker
//! and hang the runtime. It is caught here, reported on stderr with what was being done, and
//! the runtime carries on (the remaining timers fire, the worker keeps running tasks).
//!
//! Panics inside a task's poll are not handled here: the task harness turns them into the
//! task's failure (`JoinError::is_panic`), and so it does for the poll hooks
//! (`Instrument::before_task_poll` / `after_task_poll`), which run inside that guard.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::task::Waker;

/// A caught panic payload.
pub(crate) type Payload = Box<dyn Any + Send + 'static>;

/// Runs `f`, catching a panic: `Err` holds its payload.
pub(crate) fn catch(f: impl FnOnce()) -> Result<(), Payload> {
    // AssertUnwindSafe: the callers' state is consistent at every point where `f` may unwind
    // (a waker or hook is called with no runtime invariant half-updated).
    catch_unwind(AssertUnwindSafe(f))
}

/// Reports a contained panic on stderr. `what` completes "panicked while ...".
pub(crate) fn report(what: &str, payload: &Payload) {
    let msg = payload
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("<non-string panic payload>");
    eprintln!(
        "trellis: user code panicked while {what}: {msg} (contained; the runtime carries on)"
    );
}

/// Wakes `waker`, containing (and reporting) a panic of its `wake`.
pub(crate) fn wake(waker: Waker, what: &str) {
    if let Err(payload) = catch(|| waker.wake()) {
        report(what, &payload);
    }
}

/// Wakes `waker` by reference, containing (and reporting) a panic of its `wake_by_ref`.
pub(crate) fn wake_by_ref(waker: &Waker, what: &str) {
    if let Err(payload) = catch(|| waker.wake_by_ref()) {
        report(what, &payload);
    }
}
