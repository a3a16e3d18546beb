//! A per-thread cache of scope nodes, so that entering and leaving a `CancelScope` in a loop
//! (`move_on_after` around ready work, a deadline-free scope) allocates nothing once warm.
//!
//! # Protocol
//!
//! A scope future hands its node to [`give`] when it drops. The node is reused only if this
//! thread owns it alone: it is a plain scope's node (a nursery's and a child's nodes are
//! never cached), nothing else holds it (no `CancelHandle`, no task-tree dump copying it), and
//! once it has left its parent's child list (the parent's only reference to it, a `Weak`),
//! `Arc::get_mut` succeeds, which checks both counts. Any other owner (a strong or a weak
//! reference made at any time, on any thread) makes `get_mut` fail, and the node is simply
//! dropped as before: exclusivity is checked by the reference counts, not assumed. A reused
//! node is reset field by field (`Node::reset`, which names every field) to the state a new
//! one starts in, so nothing of its past scope (flags, deadline, parent, children, waker)
//! survives; [`take`] hands it to `Node::new`.
//!
//! Leaving the parent's list early changes nothing the cancel walk can see: the scope has
//! exited, so a cancel that reaches it has nothing left to stop. The cache is off under loom
//! (its objects must not outlive a model's execution), and a thread that is being torn down
//! drops nodes instead of caching them.

#[cfg(not(trellis_loom))]
use std::cell::RefCell;
use std::sync::Arc;

#[cfg(not(trellis_loom))]
use super::node::Kind;
use super::node::Node;
#[cfg(not(trellis_loom))]
use crate::tuning::NODE_CACHE;

#[cfg(not(trellis_loom))]
thread_local! {
    static CACHE: RefCell<Vec<Arc<Node>>> = const { RefCell::new(Vec::new()) };
}

/// A fresh-state scope node from this thread's cache, if it holds one.
pub(super) fn take() -> Option<Arc<Node>> {
    #[cfg(not(trellis_loom))]
    {
        CACHE.try_with(|c| c.borrow_mut().pop()).ok().flatten()
    }
    #[cfg(trellis_loom)]
    None
}

/// The scope future owning `node` is done with it: keep it for reuse if this thread owns it
/// alone (see the module docs), else drop it.
#[cfg(not(trellis_loom))]
pub(super) fn give(mut node: Arc<Node>) {
    if node.kind() != Kind::Scope || Arc::strong_count(&node) != 1 {
        return;
    }
    node.leave_parent();
    let Some(owned) = Arc::get_mut(&mut node) else {
        return;
    };
    // Drops the past scope's parent reference, children and waker.
    owned.reset();
    let _ = CACHE.try_with(|c| {
        let mut cache = c.borrow_mut();
        if cache.len() < NODE_CACHE {
            cache.push(node);
        }
    });
}

/// Under loom: dropped.
#[cfg(trellis_loom)]
pub(super) fn give(_node: Arc<Node>) {}
