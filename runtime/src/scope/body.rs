//! The scope core: the cancel-delivery steps that every scope future runs around the code it
//! holds, written once. `ScopeRun` (`cancel.rs`), a nursery's own future and a nursery child
//! (`nursery.rs`, `child.rs`) each own a [`ScopeCore`] and differ only in what their body is and what they
//! return.
//!
//! # Protocol
//!
//! A scope future owns one [`Node`] (its place in the scope tree, `node.rs`) and a body (the
//! code it runs). Each poll takes these steps, in this order:
//!
//! 1. **Enter** (first poll only, [`ScopeCore::begin`]). Attach the node under the scope that
//!    encloses this poll (a nursery child's node is attached under its nursery at spawn
//!    instead), hold the enclosing scopes of the task if shielded, and turn a relative timeout
//!    into an absolute deadline (`now + timeout`, a plain atomic store; for a scope without a
//!    `CancelHandle`, whose deadline nobody can read, the store waits until the timer is
//!    armed). A deadline already past cancels the scope here. On a runtime that records the
//!    task tree, a task-level scope (no enclosing scope, or a nursery child's root) is
//!    recorded for the tree view (`tree.rs`): a child's root is linked to its task until the
//!    scope future drops. From now on [`CancelHandle::deadline`] tells the truth, and a
//!    `set_deadline` made by the body replaces the stored deadline: nothing undoes it later.
//! 2. **Poll the body** with this node current ([`ScopeCore::enter_body`]), unless it must stop
//!    (cancelled and not held); the first poll always runs: code runs until its first
//!    checkpoint, as in Trio.
//! 3. **Register, then check** (the body returned `Pending`,
//!    [`ScopeCore::must_stop_after_pending`]): register the task's waker on the node, arm the
//!    deadline timer, then read `must_stop`. A cancel after the registration wakes the task; one
//!    before it is seen by the read (loom model `loom_cancel_vs_register_and_check` in
//!    `node.rs`). The timer is polled with `Sleep::poll_timer`, which is not a checkpoint, so a
//!    deadline is armed even when the scope was entered inside a cancelled scope: a shielded
//!    scope's own deadline fires there. The timer is armed lazily: a body that finishes in its
//!    first poll never touches the timer queue.
//! 4. **Catch or defer** ([`ScopeCore::catch`]), once the body has been dropped for a
//!    cancellation: release the hold, then look outward. First every enclosing scope of the
//!    task whose deadline has passed is cancelled (`Node::expire_deadlines_outward`: a passed
//!    deadline is a cancellation even before its timer fired, so of two scopes both due the
//!    outer catches, as in Trio). Then, if the scope enclosing *this poll*
//!    (the current scope once our `Enter` is gone) is cancelled and this one is not shielded,
//!    stay `Pending`: that scope's future is on the call stack right above us and catches as
//!    soon as we return (the outermost cancelled scope catches). Otherwise this scope catches
//!    (`cancelled_caught`) and completes. Deferring only to a scope on this poll's call stack
//!    means a scope never waits for a catcher that is gone: a scope first polled inside another
//!    one, then awaited after that one finished cancelled, catches its inherited cancellation
//!    itself instead of hanging.
//!
//! # Invariants
//!
//! - The body is polled only with the node current, and dropped once, in place.
//! - A hold (a shield, or a nursery draining its children) is taken and released by
//!   [`ScopeCore::hold`] only, and is released at completion, at catch and at drop: enclosing
//!   scopes are never held by a scope that is gone.
//! - The node is marked exited when the scope completes or is dropped, so a deadline read by
//!   `cancel_called()` after the scope exited cancels nothing (as in Trio).
//!
//! [`CancelHandle::deadline`]: super::CancelHandle::deadline

use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::current::{self, Enter};
use super::node::{Kind, Node};
use crate::time::{Instant, Sleep, deadline_after, sleep_until};

/// The deadline part of a scope core: nothing for a nursery and its children (their nodes
/// never have a deadline, and a child task's cell stays small), a timer for a `CancelScope`.
pub(crate) trait DeadlinePart {
    /// Step 1, after the node entered the tree: `true` if the deadline has already passed.
    fn enter(&mut self, node: &Node) -> bool;
    /// Step 3: arms the timer for the node's deadline; `true` if it has passed.
    fn arm(&mut self, node: &Node, cx: &mut Context<'_>) -> bool;
    /// The scope is done with its body: drop the timer.
    fn finish(&mut self);
}

/// No deadline (a nursery's own scope, a nursery child).
pub(crate) struct NoDeadline;

impl DeadlinePart for NoDeadline {
    fn enter(&mut self, _node: &Node) -> bool {
        false
    }
    fn arm(&mut self, _node: &Node, _cx: &mut Context<'_>) -> bool {
        false
    }
    fn finish(&mut self) {}
}

/// The deadline of a `CancelScope`: a relative timeout to turn into a deadline at entry, and
/// the timer, armed after the body's first `Pending`.
pub(crate) struct Timed {
    timeout: Option<Duration>,
    /// Somebody outside can read the node's deadline (a `CancelHandle` exists): a timeout's
    /// deadline is stored at entry. Without one, nobody can tell, so it waits in `unstored`
    /// until the timer is armed (the fast path of a timeout around ready work stores nothing).
    observed: bool,
    unstored: Option<Instant>,
    timer: Option<Sleep>,
}

impl Timed {
    /// `observed`: a handle to the node exists, so its deadline must be readable from the
    /// scope's entry on.
    pub(crate) fn new(timeout: Option<Duration>, observed: bool) -> Timed {
        Timed {
            timeout,
            observed,
            unstored: None,
            timer: None,
        }
    }
}

impl DeadlinePart for Timed {
    fn enter(&mut self, node: &Node) -> bool {
        // One clock read and no lock (the deadline is an atomic).
        let timeout = self.timeout.take().filter(|_| !node.deadline_moved());
        match timeout {
            Some(timeout) if !self.observed => {
                let now = Instant::now();
                let at = deadline_after(now, timeout);
                self.unstored = Some(at);
                now >= node.deadline().map_or(at, |d| d.min(at))
            }
            Some(timeout) => {
                let now = Instant::now();
                let at = deadline_after(now, timeout);
                now >= node.merge_deadline(at).unwrap_or(at)
            }
            None => node.deadline().is_some_and(|at| Instant::now() >= at),
        }
    }

    fn arm(&mut self, node: &Node, cx: &mut Context<'_>) -> bool {
        if let Some(at) = self.unstored.take() {
            node.merge_deadline(at);
        }
        let Some(deadline) = node.deadline() else {
            self.timer = None;
            return false;
        };
        let timer = match &mut self.timer {
            Some(timer) => {
                if timer.deadline() != deadline {
                    Pin::new(&mut *timer).reset(deadline);
                }
                timer
            }
            None => self.timer.insert(sleep_until(deadline)),
        };
        timer.poll_timer(cx).is_ready()
    }

    fn finish(&mut self) {
        self.timer = None;
    }
}

/// The cancel-delivery state of one scope future (see the module docs for the steps).
pub(crate) struct ScopeCore<D: DeadlinePart = NoDeadline> {
    /// Taken only by `drop`, which hands it to the node cache (`recycle.rs`).
    node: ManuallyDrop<Arc<Node>>,
    deadline: D,
    entered: bool,
    /// This scope holds its enclosing scopes of the task (shield, nursery draining).
    holding: bool,
    /// The node is linked to its task for the task-tree view (`tree.rs`): unlink at drop.
    linked: bool,
}

impl<D: DeadlinePart> ScopeCore<D> {
    /// The core of a scope future over `node`.
    pub(crate) fn new(node: Arc<Node>, deadline: D) -> ScopeCore<D> {
        ScopeCore {
            node: ManuallyDrop::new(node),
            deadline,
            entered: false,
            holding: false,
            linked: false,
        }
    }

    pub(crate) fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// Steps 1 and 2: enters the tree on the first poll; `true` if the body is to be polled
    /// now (always on the first poll, afterwards unless it must stop).
    pub(crate) fn begin(&mut self) -> bool {
        if self.entered {
            return !self.node.must_stop();
        }
        self.entered = true;
        self.node.attach(current::current().as_ref());
        if self.node.is_root() || self.node.kind() == Kind::TaskRoot {
            // A task-level scope: the task-tree view records it if the runtime asks for it.
            self.linked = crate::tree::record(&self.node);
        }
        if self.node.shield_flag() {
            self.hold(true);
        }
        if self.deadline.enter(&self.node) {
            // Already due: the body's first checkpoint is cancelled.
            self.node.cancel();
        }
        true
    }

    /// Step 2: runs `poll` (a poll of the body) with this scope current.
    pub(crate) fn enter_body<T>(&self, poll: impl FnOnce() -> T) -> T {
        let _enter = Enter::new(&self.node);
        poll()
    }

    /// Step 3, after the body returned `Pending`: registers the task, arms the deadline, and
    /// says whether the body must be dropped now.
    pub(crate) fn must_stop_after_pending(&mut self, cx: &mut Context<'_>) -> bool {
        self.node.register(cx.waker());
        if self.deadline.arm(&self.node, cx) {
            self.node.cancel();
        }
        self.node.must_stop()
    }

    /// Would this scope leave its cancellation to the scope enclosing this poll? True when it
    /// is cancelled, not shielded, and the enclosing scope (current now, outside our `Enter`)
    /// is cancelled too: that scope's future catches right after we return.
    pub(crate) fn defers(&self) -> bool {
        if !self.node.is_effective() || self.node.shield_flag() {
            return false;
        }
        let Some(enclosing) = current::current() else {
            return false;
        };
        enclosing.expire_deadlines_outward();
        enclosing.is_effective()
    }

    /// Step 4, once the body was dropped for a cancellation: `Ready` if this scope catches it,
    /// `Pending` if the enclosing scope of this poll does.
    pub(crate) fn catch(&mut self) -> Poll<()> {
        self.finish();
        if self.defers() {
            return Poll::Pending;
        }
        self.node.set_caught();
        Poll::Ready(())
    }

    /// The scope is done with its body (completed or caught): release the hold and the timer.
    pub(crate) fn finish(&mut self) {
        self.hold(false);
        self.deadline.finish();
        self.node.set_exited();
    }

    /// Takes (`true`) or releases (`false`) a hold on the enclosing scopes of this task: while
    /// held, a cancelled enclosing scope keeps polling its body instead of dropping it.
    pub(crate) fn hold(&mut self, hold: bool) {
        if hold != self.holding {
            self.holding = hold;
            self.node.hold_ancestors(if hold { 1 } else { -1 });
        }
    }
}

impl<D: DeadlinePart> Drop for ScopeCore<D> {
    fn drop(&mut self) {
        self.hold(false);
        self.node.set_exited();
        if self.linked {
            self.node.unlink_task();
        }
        // SAFETY: `drop` runs once, and `self.node` is not used after this line.
        let node = unsafe { ManuallyDrop::take(&mut self.node) };
        super::recycle::give(node);
    }
}
