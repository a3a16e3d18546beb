//! Thread-local context: which runtime (and which worker, if any) the current thread belongs to.

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::sync::Arc;

use super::Shared;
use super::worker::Core;

thread_local! {
    /// The worker core running on this thread, while its loop runs.
    static CORE: Cell<*const Core> = const { Cell::new(std::ptr::null()) };
    /// The runtime entered by this thread outside a worker: by `block_on`, or by a blocking
    /// pool thread while it runs a job.
    static RUNTIME: RefCell<Option<Arc<Shared>>> = const { RefCell::new(None) };
    /// Inside `block_on` (nested calls are refused).
    static IN_BLOCK_ON: Cell<bool> = const { Cell::new(false) };
}

/// Calls `f` with this thread's worker core, if it is a worker.
pub(crate) fn with_core<R>(f: impl FnOnce(Option<&Core>) -> R) -> R {
    CORE.with(|c| {
        let ptr = c.get();
        // SAFETY: the pointer is set only by a `CoreGuard`, which borrows the core for as long as
        // the pointer is set (it is cleared when the guard drops); the core is only ever used
        // through shared references, and `f` cannot keep the reference past this call.
        f(unsafe { ptr.as_ref() })
    })
}

/// Calls `f` with the runtime this thread is in, if any.
pub(crate) fn with_runtime<R>(f: impl FnOnce(Option<&Arc<Shared>>) -> R) -> R {
    with_core(|core| match core {
        Some(core) => f(Some(&core.shared)),
        None => RUNTIME.with(|rt| f(rt.borrow().as_ref())),
    })
}

/// The runtime this thread is in, or a panic that says where to call from.
pub(crate) fn expect_runtime<R>(what: &str, f: impl FnOnce(&Arc<Shared>) -> R) -> R {
    with_runtime(|rt| match rt {
        Some(rt) => f(rt),
        None => panic!(
            "`{what}` must be called from within a Trellis runtime (a task, or a future run by \
             `Runtime::block_on` / `trellis::run`); from outside, use `Runtime::spawn` or \
             enter the runtime with `Runtime::block_on`"
        ),
    })
}

/// Is this thread a worker of any runtime?
pub(crate) fn is_worker() -> bool {
    CORE.with(|c| !c.get().is_null())
}

/// Marks this thread as running `core` until the guard drops. The guard borrows the core, so
/// the pointer in the thread-local never outlives it (what `with_core` relies on).
pub(crate) struct CoreGuard<'a> {
    _core: PhantomData<&'a Core>,
}

impl<'a> CoreGuard<'a> {
    pub(crate) fn enter(core: &'a Core) -> CoreGuard<'a> {
        CORE.with(|c| c.set(core));
        CoreGuard { _core: PhantomData }
    }
}

impl Drop for CoreGuard<'_> {
    fn drop(&mut self) {
        CORE.with(|c| c.set(std::ptr::null()));
    }
}

/// Makes `shared` this thread's runtime until the guard drops (blocking pool jobs), restoring
/// the previous one after.
pub(crate) struct RuntimeGuard(Option<Arc<Shared>>);

impl RuntimeGuard {
    pub(crate) fn enter(shared: Arc<Shared>) -> RuntimeGuard {
        RuntimeGuard(RUNTIME.with(|rt| rt.borrow_mut().replace(shared)))
    }
}

impl Drop for RuntimeGuard {
    fn drop(&mut self) {
        let prev = self.0.take();
        let _ = RUNTIME.try_with(|rt| *rt.borrow_mut() = prev);
    }
}

/// Marks this thread as inside `block_on` of `shared` until the guard drops.
pub(crate) struct BlockOnGuard {
    _runtime: RuntimeGuard,
}

/// Panics, naming the user's `call`, if this thread must not block on a runtime: it is a
/// worker (blocking it would stall its queue), or it already drives a `block_on`.
pub(crate) fn assert_may_block(call: &str) {
    if is_worker() {
        panic!(
            "`{call}` called from a Trellis worker thread: blocking a worker would stall every \
             task queued on it. Inside a task, `.await` the future instead (or `spawn` it and \
             await its JoinHandle); for blocking code use `spawn_blocking`"
        );
    }
    if IN_BLOCK_ON.with(|b| b.get()) {
        panic!(
            "`{call}` called inside another `block_on`: a thread can drive one runtime at a \
             time. `.await` the future instead, or run it with `spawn_blocking` on another thread"
        );
    }
}

impl BlockOnGuard {
    /// Enters `block_on` for the user's `call` (named in the panics).
    ///
    /// # Panics
    ///
    /// Panics if the thread is a worker or already inside a `block_on` (see
    /// [`assert_may_block`]).
    pub(crate) fn enter(shared: &Arc<Shared>, call: &str) -> BlockOnGuard {
        assert_may_block(call);
        IN_BLOCK_ON.with(|b| b.set(true));
        BlockOnGuard {
            _runtime: RuntimeGuard::enter(shared.clone()),
        }
    }
}

impl Drop for BlockOnGuard {
    fn drop(&mut self) {
        let _ = IN_BLOCK_ON.try_with(|b| b.set(false));
    }
}
