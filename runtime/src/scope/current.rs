//! The scope the running code is in: a thread-local pointer set around each poll of a scope's
//! body, restored afterwards (also on unwind).

use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::Arc;

use super::node::Node;

thread_local! {
    static CURRENT: Cell<*const Node> = const { Cell::new(std::ptr::null()) };
}

/// The innermost scope of the code being polled on this thread, if any.
pub(crate) fn current() -> Option<Arc<Node>> {
    CURRENT.with(|c| {
        let ptr = c.get();
        if ptr.is_null() {
            return None;
        }
        // SAFETY: the pointer is set by `Enter` from an `Arc<Node>` that the guard borrows (so
        // it is alive), and restored when the guard drops, at the end of that poll.
        unsafe {
            Arc::increment_strong_count(ptr);
            Some(Arc::from_raw(ptr))
        }
    })
}

/// Is the code being polled inside a scope that is cancelled (its next checkpoint must stop)?
pub(crate) fn is_cancelled() -> bool {
    CURRENT.with(|c| {
        let ptr = c.get();
        // SAFETY: as in `current`: valid for the duration of the enclosing poll.
        !ptr.is_null() && unsafe { (*ptr).is_effective() }
    })
}

/// Is an enclosing scope cancelled, shields ignored (`cancel_requested`)?
pub(crate) fn is_requested() -> bool {
    CURRENT.with(|c| {
        let ptr = c.get();
        // SAFETY: as in `current`.
        !ptr.is_null() && unsafe { (*ptr).is_requested() }
    })
}

/// Makes `node` the current scope until dropped. The guard borrows the node, so the pointer
/// in the thread-local never outlives it.
pub(crate) struct Enter<'a> {
    prev: *const Node,
    _node: PhantomData<&'a Arc<Node>>,
}

impl<'a> Enter<'a> {
    pub(crate) fn new(node: &'a Arc<Node>) -> Enter<'a> {
        Enter {
            prev: CURRENT.with(|c| c.replace(Arc::as_ptr(node))),
            _node: PhantomData,
        }
    }
}

impl Enter<'static> {
    /// Leaves every scope until dropped: the code polled meanwhile is in no scope, and the
    /// previous current scope comes back at the drop. A joined task run inside its joiner's
    /// poll (`scheduler/worker.rs`, `run_joined`) is polled under one: it belongs to its own
    /// scopes, never to the joiner's.
    #[inline]
    pub(crate) fn outside() -> Enter<'static> {
        Enter {
            prev: CURRENT.with(|c| c.replace(std::ptr::null())),
            _node: PhantomData,
        }
    }
}

impl Drop for Enter<'_> {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.prev));
    }
}

/// A hold on the innermost scope of the running code and on every enclosing scope of the same
/// task, taken by an operation whose effect is in flight across polls (a rendezvous send whose
/// value is offered: a receiver may take it at any moment). While held, a cancelled scope does
/// not drop its body; it polls it again, and the operation, seeing the cancellation, settles
/// in that poll: it completes (and says so) if its effect happened, or undoes it and returns
/// `Pending`, releasing the hold, after which the scope drops the body. Without the hold, the
/// scope could drop the operation after its effect happened but before it could report it.
pub(crate) struct OpHold(Arc<Node>);

impl OpHold {
    /// Holds the current scope (`None` outside any scope: nothing can cancel the code then but
    /// dropping it).
    pub(crate) fn current() -> Option<OpHold> {
        current().map(|node| {
            node.hold_self_and_ancestors(1);
            OpHold(node)
        })
    }
}

impl Drop for OpHold {
    fn drop(&mut self) {
        self.0.hold_self_and_ancestors(-1);
    }
}
