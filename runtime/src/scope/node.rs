//! A node of the cancel-scope tree: the shared state behind a `CancelScope`, a nursery, or a
//! nursery child.
//!
//! # Protocol
//!
//! Flags (atomics, monotonic: once set, never cleared):
//! - `cancel_called`: this scope's own `cancel()` ran (explicitly, or its deadline passed).
//! - `effective`: code in this scope must stop: this scope or an ancestor was cancelled, and no
//!   shield lies between them (a shielded node only becomes effective by its own cancel).
//! - `requested`: this scope or any ancestor was cancelled, shields ignored
//!   (`cancel_requested()` looks at it).
//!
//! `cancel()` sets `cancel_called`, then walks the subtree: each node gets `requested`, and
//! `effective` unless a shield was crossed, and its registered waker (the task running that
//! scope) is woken. The walk takes each node's lock only to copy its waker and children, never
//! two locks at once, so a cancel from any thread cannot deadlock with a scope being entered.
//! A node entering the tree (`attach`) takes its parent's lock, registers as a child, and then
//! inherits the parent's flags; the cancel walk sets the flags *before* taking the lock, so a
//! child attached concurrently either is in the list the walk copies, or reads the flags after
//! the walk set them: it is never missed.
//!
//! The loom models at the bottom check the two races: cancel vs attach (a child entering the
//! tree while its parent is cancelled is never missed) and cancel vs a task registering its
//! waker and checking the flag (the task either sees the cancellation or is woken).
//!
//! `holds` counts, on every enclosing scope of the same task, the shields and the nurseries with
//! live children nested inside it: a cancelled scope does not drop its body while a hold is
//! active, so shields defer outer cancellation and nurseries drain their children first.

use std::sync::{Arc, OnceLock, Weak};

use crate::loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use crate::loom::sync::{Mutex, MutexGuard};
use crate::time::Instant;
use std::task::Waker;

/// The child list is pruned of dead entries no more often than when it doubles.
const PRUNE_MIN: usize = 16;

pub(crate) struct Node {
    parent: OnceLock<Arc<Node>>,
    /// Set before the scope starts (builder); read after.
    shield: AtomicBool,
    /// The outermost node of a task (a nursery child): holds stop here.
    task_root: bool,
    cancel_called: AtomicBool,
    effective: AtomicBool,
    requested: AtomicBool,
    caught: AtomicBool,
    holds: AtomicUsize,
    /// A deadline was ever set (a lock-free test for the common case of none).
    has_deadline: AtomicBool,
    inner: Mutex<Inner>,
}

struct Inner {
    children: Vec<Weak<Node>>,
    /// Dead entries are pruned when `children` reaches this length (amortised O(1) attach).
    prune_at: usize,
    waker: Option<Waker>,
    deadline: Option<Instant>,
}

impl Node {
    pub(crate) fn new(shield: bool, deadline: Option<Instant>) -> Arc<Node> {
        Arc::new(Node::with(shield, false, deadline))
    }

    /// The root node of a nursery child task, attached under `parent` at once.
    pub(crate) fn new_task_root(parent: &Arc<Node>) -> Arc<Node> {
        let node = Arc::new(Node::with(false, true, None));
        node.attach(Some(parent));
        node
    }

    fn with(shield: bool, task_root: bool, deadline: Option<Instant>) -> Node {
        Node {
            parent: OnceLock::new(),
            shield: AtomicBool::new(shield),
            task_root,
            cancel_called: AtomicBool::new(false),
            effective: AtomicBool::new(false),
            requested: AtomicBool::new(false),
            caught: AtomicBool::new(false),
            holds: AtomicUsize::new(0),
            has_deadline: AtomicBool::new(deadline.is_some()),
            inner: Mutex::new(Inner {
                children: Vec::new(),
                prune_at: PRUNE_MIN,
                waker: None,
                deadline,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // No critical section panics (wakers are woken outside the lock).
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Links this node under `parent` (the scope enclosing it when first polled) and inherits
    /// its cancellation. Called once.
    pub(crate) fn attach(self: &Arc<Self>, parent: Option<&Arc<Node>>) {
        let Some(parent) = parent else { return };
        if self.parent.set(parent.clone()).is_err() {
            return;
        }
        {
            let mut inner = parent.lock();
            if inner.children.len() >= inner.prune_at {
                inner.children.retain(|c| c.strong_count() > 0);
                inner.prune_at = (inner.children.len() * 2).max(PRUNE_MIN);
            }
            inner.children.push(Arc::downgrade(self));
        }
        // After registering: a concurrent cancel walk either copied us, or set the parent's
        // flags before we read them here.
        let effective = parent.effective.load(Ordering::SeqCst) && !self.shield_flag();
        let requested = parent.requested.load(Ordering::SeqCst) || effective;
        if requested {
            self.propagate(effective);
        }
    }

    /// Cancels this scope (idempotent, any thread).
    pub(crate) fn cancel(self: &Arc<Self>) {
        if !self.cancel_called.swap(true, Ordering::SeqCst) {
            self.propagate(true);
        }
    }

    fn propagate(self: &Arc<Self>, effective: bool) {
        let newly_effective = effective && !self.effective.swap(true, Ordering::SeqCst);
        let newly_requested = !self.requested.swap(true, Ordering::SeqCst);
        if !newly_effective && !newly_requested {
            return;
        }
        let (waker, children) = {
            let inner = self.lock();
            let children: Vec<Arc<Node>> =
                inner.children.iter().filter_map(Weak::upgrade).collect();
            (inner.waker.clone(), children)
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        let effective = self.effective.load(Ordering::SeqCst);
        for child in children {
            child.propagate(effective && !child.shield_flag());
        }
    }

    /// Registers the waker of the task running this scope (woken on cancel and deadline moves).
    pub(crate) fn register(&self, waker: &Waker) {
        let mut inner = self.lock();
        match &mut inner.waker {
            Some(w) if w.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        if !self.has_deadline.load(Ordering::Acquire) {
            return None;
        }
        self.lock().deadline
    }

    /// Sets the deadline to `deadline` or keeps an earlier one, without waking anyone (the
    /// scope's own task calls this).
    pub(crate) fn merge_deadline(&self, deadline: Instant) {
        let mut inner = self.lock();
        inner.deadline = Some(inner.deadline.map_or(deadline, |d| d.min(deadline)));
        self.has_deadline.store(true, Ordering::Release);
    }

    /// Moves the deadline and wakes the scope's task so it re-arms its timer.
    pub(crate) fn set_deadline(&self, deadline: Option<Instant>) {
        let waker = {
            let mut inner = self.lock();
            inner.deadline = deadline;
            self.has_deadline.store(true, Ordering::Release);
            inner.waker.clone()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    pub(crate) fn shield_flag(&self) -> bool {
        self.shield.load(Ordering::Acquire)
    }
    pub(crate) fn set_shield(&self, shield: bool) {
        self.shield.store(shield, Ordering::Release);
    }

    pub(crate) fn is_effective(&self) -> bool {
        self.effective.load(Ordering::Acquire)
    }
    pub(crate) fn is_requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }
    pub(crate) fn cancel_called(&self) -> bool {
        self.cancel_called.load(Ordering::Acquire)
    }
    pub(crate) fn cancelled_caught(&self) -> bool {
        self.caught.load(Ordering::Acquire)
    }
    pub(crate) fn set_caught(&self) {
        self.caught.store(true, Ordering::Release);
    }
    pub(crate) fn is_held(&self) -> bool {
        self.holds.load(Ordering::Acquire) > 0
    }

    /// Cancelled, and nothing inside holds it: its code must be dropped now.
    pub(crate) fn must_stop(&self) -> bool {
        self.is_effective() && !self.is_held()
    }

    /// Does this scope catch its cancellation, rather than an enclosing cancelled scope? Only
    /// the outermost cancelled scope (up to a shield) catches (DESIGN.md 3, item 6).
    pub(crate) fn catches(&self) -> bool {
        if self.shield_flag() {
            return true;
        }
        match self.parent.get() {
            Some(parent) => !parent.is_effective(),
            None => true,
        }
    }

    /// Adds (`+1`) or removes (`-1`) a hold on this scope and every enclosing scope of the
    /// same task (an operation with an effect in flight, `current::OpHold`).
    pub(crate) fn hold_self_and_ancestors(&self, delta: isize) {
        if delta > 0 {
            self.holds.fetch_add(1, Ordering::AcqRel);
        } else {
            self.holds.fetch_sub(1, Ordering::AcqRel);
        }
        self.hold_ancestors(delta);
    }

    /// Adds (`+1`) or removes (`-1`) a hold on every enclosing scope of the same task.
    pub(crate) fn hold_ancestors(&self, delta: isize) {
        let mut node = self.parent.get();
        if self.task_root {
            return;
        }
        while let Some(n) = node {
            if delta > 0 {
                n.holds.fetch_add(1, Ordering::AcqRel);
            } else {
                n.holds.fetch_sub(1, Ordering::AcqRel);
            }
            if n.task_root {
                break;
            }
            node = n.parent.get();
        }
    }
}

#[cfg(all(test, trellis_loom))]
mod loom_cancel {
    use super::*;
    use loom::thread;
    use std::task::Wake;

    /// A waker that records (in a loom atomic) that it was woken.
    struct Flag(AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn loom_cancel_vs_attach() {
        loom::model(|| {
            let parent = Node::new(false, None);
            let child = Node::new(false, None);
            let p2 = parent.clone();
            let canceller = thread::spawn(move || p2.cancel());
            child.attach(Some(&parent));
            canceller.join().unwrap();
            assert!(
                child.is_effective(),
                "a child attached during a cancel is cancelled"
            );
            assert!(child.is_requested());
        });
    }

    #[test]
    fn loom_cancel_vs_register_and_check() {
        loom::model(|| {
            let node = Node::new(false, None);
            let flag = Arc::new(Flag(AtomicBool::new(false)));
            let waker = Waker::from(flag.clone());
            let n2 = node.clone();
            let canceller = thread::spawn(move || n2.cancel());
            // The task side, as in ScopeRun::poll: register, then check.
            node.register(&waker);
            let saw = node.must_stop();
            canceller.join().unwrap();
            assert!(saw || flag.0.load(Ordering::SeqCst), "cancellation lost");
        });
    }

    #[test]
    fn loom_shield_blocks_effective_but_not_requested() {
        loom::model(|| {
            let parent = Node::new(false, None);
            let shielded = Node::new(true, None);
            shielded.attach(Some(&parent));
            let p2 = parent.clone();
            let canceller = thread::spawn(move || p2.cancel());
            canceller.join().unwrap();
            assert!(!shielded.is_effective());
            assert!(shielded.is_requested());
        });
    }
}
