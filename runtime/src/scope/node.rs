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
//!
//! For the task-tree view (`tree.rs`), a node also knows its [`Kind`] and, on a runtime built
//! with `task_tree(true)`, the task it belongs to ([`Node::link_task`]); [`Node::peek`] copies
//! what the view shows under the node's lock, the same lock-one-node-at-a-time walk as a
//! cancel's.

use std::sync::{Arc, OnceLock, Weak};

use crate::loom::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use crate::loom::sync::{Mutex, MutexGuard};
use crate::time::Instant;
use std::task::Waker;

use crate::task::Header;
use crate::tuning::PRUNE_MIN;

/// What a node stands for, for the task-tree view (cancellation treats them alike).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A `CancelScope` (`move_on_after`, `fail_after`, `shielded`, ...).
    Scope,
    /// A nursery's own scope.
    Nursery,
    /// The outermost scope of a nursery child task.
    TaskRoot,
}

pub(crate) struct Node {
    parent: OnceLock<Arc<Node>>,
    kind: Kind,
    /// Set before the scope starts (builder); read after.
    shield: AtomicBool,
    /// The outermost node of a task (a nursery child): holds stop here.
    task_root: bool,
    cancel_called: AtomicBool,
    effective: AtomicBool,
    requested: AtomicBool,
    caught: AtomicBool,
    holds: AtomicUsize,
    /// The deadline, encoded by [`encode_deadline`]; [`NO_DEADLINE`] if none. An atomic, so
    /// entering a scope with a timeout and reading the deadline take no lock.
    deadline: AtomicI64,
    /// The scope's future completed or was dropped (`body.rs`): a passed deadline read after
    /// this no longer cancels it.
    exited: AtomicBool,
    /// `CancelHandle::set_deadline` was called: a relative timeout not yet turned into a
    /// deadline no longer applies (as in Trio, setting the deadline of an unentered relative
    /// scope makes it absolute).
    deadline_moved: AtomicBool,
    inner: Mutex<Inner>,
}

struct Inner {
    children: Vec<Weak<Node>>,
    /// Dead entries are pruned when `children` reaches this length (amortised O(1) attach).
    prune_at: usize,
    waker: Option<Waker>,
    /// The task whose future owns this node's scope (a nursery child's root), set only on a
    /// runtime that records the task tree; see [`Node::link_task`] for why the pointer is valid
    /// while it is here.
    task: Option<TaskLink>,
}

/// The header of the task a task-root node belongs to.
struct TaskLink(std::ptr::NonNull<Header>);

// SAFETY: the pointer is only followed under the node's lock, while the task is alive (see
// `Node::link_task`); a `Header` is shared between threads anyway (its fields are atomics or
// immutable after allocation, and the ones that are not are never read through this link).
unsafe impl Send for TaskLink {}

/// What the task-tree view reads of a node, copied under its lock (`Node::peek`).
pub(crate) struct Peek {
    pub(crate) kind: Kind,
    pub(crate) shield: bool,
    pub(crate) deadline: Option<Instant>,
    /// Code in this scope must stop, or this scope's own cancel ran.
    pub(crate) cancelled: bool,
    pub(crate) exited: bool,
    /// The task's address (its `TaskId`), state word and home domain, if linked.
    pub(crate) task: Option<(usize, crate::task::state::Snapshot, Option<usize>)>,
    pub(crate) children: Vec<Arc<Node>>,
}

impl Node {
    /// A `CancelScope`'s node: one from this thread's cache (`recycle.rs`) if it has one.
    pub(crate) fn new(shield: bool, deadline: Option<Instant>) -> Arc<Node> {
        match super::recycle::take() {
            Some(node) => {
                // Fresh from `Node::with(Kind::Scope, false, None)` and owned by this thread
                // alone: the stores are seen by whoever gets the node from us.
                node.shield.store(shield, Ordering::Relaxed);
                if let Some(at) = deadline {
                    node.deadline.store(encode_deadline(at), Ordering::Relaxed);
                }
                node
            }
            None => Arc::new(Node::with(Kind::Scope, shield, deadline)),
        }
    }

    /// A nursery's own node.
    pub(crate) fn new_nursery() -> Arc<Node> {
        Arc::new(Node::with(Kind::Nursery, false, None))
    }

    /// The root node of a nursery child task, attached under `parent` at once.
    pub(crate) fn new_task_root(parent: &Arc<Node>) -> Arc<Node> {
        let node = Arc::new(Node::with(Kind::TaskRoot, false, None));
        node.attach(Some(parent));
        node
    }

    fn with(kind: Kind, shield: bool, deadline: Option<Instant>) -> Node {
        let task_root = kind == Kind::TaskRoot;
        Node {
            parent: OnceLock::new(),
            kind,
            shield: AtomicBool::new(shield),
            task_root,
            cancel_called: AtomicBool::new(false),
            effective: AtomicBool::new(false),
            requested: AtomicBool::new(false),
            caught: AtomicBool::new(false),
            holds: AtomicUsize::new(0),
            deadline: AtomicI64::new(deadline.map_or(NO_DEADLINE, encode_deadline)),
            exited: AtomicBool::new(false),
            deadline_moved: AtomicBool::new(false),
            inner: Mutex::new(Inner {
                children: Vec::new(),
                prune_at: PRUNE_MIN,
                waker: None,
                task: None,
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

    /// Puts a node that nothing else references back into the state `Node::with(Kind::Scope,
    /// false, None)` makes, keeping its child list's buffer (`recycle.rs`). Every field is named,
    /// so a new field cannot be forgotten here.
    #[cfg(not(trellis_loom))]
    pub(super) fn reset(&mut self) {
        let Node {
            parent,
            kind,
            shield,
            task_root,
            cancel_called,
            effective,
            requested,
            caught,
            holds,
            deadline,
            exited,
            deadline_moved,
            inner,
        } = self;
        *parent = OnceLock::new();
        *kind = Kind::Scope;
        *task_root = false;
        for flag in [
            shield,
            cancel_called,
            effective,
            requested,
            caught,
            exited,
            deadline_moved,
        ] {
            *flag.get_mut() = false;
        }
        *holds.get_mut() = 0;
        *deadline.get_mut() = NO_DEADLINE;
        let Inner {
            children,
            prune_at,
            waker,
            task,
        } = inner.get_mut().unwrap_or_else(|e| e.into_inner());
        children.clear();
        *prune_at = PRUNE_MIN;
        *waker = None;
        *task = None;
    }

    /// Removes this node from its parent's child list (the scope has exited; `recycle.rs`).
    #[cfg(not(trellis_loom))]
    pub(super) fn leave_parent(self: &Arc<Self>) {
        let Some(parent) = self.parent.get() else {
            return;
        };
        let me = Arc::as_ptr(self);
        let mut inner = parent.lock();
        // Usually the newest entry: a scope is left before its later siblings are entered.
        if let Some(i) = inner.children.iter().rposition(|c| c.as_ptr() == me) {
            inner.children.remove(i);
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
        decode_deadline(self.deadline.load(Ordering::Acquire))
    }

    /// Sets the deadline to `deadline` or keeps an earlier one, without waking anyone (the
    /// builder and the scope's own task on entry call this); returns the earlier deadline if
    /// one was kept.
    pub(crate) fn merge_deadline(&self, deadline: Instant) -> Option<Instant> {
        let new = encode_deadline(deadline);
        let old = self.deadline.fetch_min(new, Ordering::AcqRel);
        if old < new {
            decode_deadline(old)
        } else {
            None
        }
    }

    /// Moves the deadline and wakes the scope's task so it re-arms its timer. The store comes
    /// before the waker is read under the lock, and the task reads the deadline after
    /// registering under the same lock: either the task sees the new deadline, or it is woken.
    pub(crate) fn set_deadline(&self, deadline: Option<Instant>) {
        self.deadline_moved.store(true, Ordering::Release);
        self.deadline.store(
            deadline.map_or(NO_DEADLINE, encode_deadline),
            Ordering::Release,
        );
        let waker = self.lock().waker.clone();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    pub(crate) fn kind(&self) -> Kind {
        self.kind
    }

    /// No enclosing scope: the first scope of a task (or of a `block_on` future).
    pub(crate) fn is_root(&self) -> bool {
        self.parent.get().is_none()
    }

    /// Records the task this task-root node belongs to (`tree.rs`).
    ///
    /// # Safety
    ///
    /// - `task` is the header of the task being polled on this thread, and this node's scope
    ///   is that task's own future (a nursery child's root: `Child` *is* the task's future, so
    ///   it cannot move to another task), and [`unlink_task`](Self::unlink_task) is called
    ///   when that scope future is dropped. A task's cell drops its future before it is freed,
    ///   so the header outlives the link; readers follow it only under this node's lock, which
    ///   `unlink_task` takes.
    pub(crate) unsafe fn link_task(&self, task: &Header) {
        debug_assert_eq!(self.kind, Kind::TaskRoot);
        self.lock().task = Some(TaskLink(std::ptr::NonNull::from(task)));
    }

    /// Forgets the task (its future, which owns this scope, is being dropped).
    pub(crate) fn unlink_task(&self) {
        self.lock().task = None;
    }

    /// Copies what the task-tree view shows of this node: one lock, no user code run under it
    /// (names are looked up by the caller afterwards).
    pub(crate) fn peek(&self) -> Peek {
        let (children, task) = {
            let inner = self.lock();
            let children = inner.children.iter().filter_map(Weak::upgrade).collect();
            let task = inner.task.as_ref().map(|link| {
                // SAFETY: a linked task is alive while its link is here, and we hold the lock
                // `unlink_task` takes before the task's cell can be freed (`link_task`).
                let header = unsafe { link.0.as_ref() };
                (
                    link.0.as_ptr() as usize,
                    header.state.load(),
                    header.route.domain(),
                )
            });
            (children, task)
        };
        Peek {
            kind: self.kind,
            shield: self.shield_flag(),
            deadline: self.deadline(),
            cancelled: self.is_effective() || self.cancel_called(),
            exited: self.exited.load(Ordering::Acquire),
            task,
            children,
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

    /// `cancel_called`, computed when read as Trio does: a scope not yet exited whose deadline
    /// has passed is cancelled now, even if its timer has not fired (or its task not run) yet.
    pub(crate) fn cancel_called_now(self: &Arc<Self>) -> bool {
        if self.cancel_called() {
            return true;
        }
        if self.exited.load(Ordering::Acquire) {
            return false;
        }
        match self.deadline() {
            Some(deadline) if Instant::now() >= deadline => {
                self.cancel();
                true
            }
            _ => false,
        }
    }

    pub(crate) fn deadline_moved(&self) -> bool {
        self.deadline_moved.load(Ordering::Acquire)
    }

    /// Applies every passed deadline of this scope and its enclosing scopes of the same task
    /// (up to a shield, which blocks the outer ones): a deadline that passed is a cancellation
    /// whether or not its timer has fired yet, so when an inner and an outer scope are both
    /// due, the outer one is cancelled too and catches.
    pub(crate) fn expire_deadlines_outward(self: &Arc<Self>) {
        let mut node = self.clone();
        loop {
            node.cancel_called_now();
            if node.shield_flag() || node.task_root {
                return;
            }
            match node.parent.get() {
                Some(parent) => node = parent.clone(),
                None => return,
            }
        }
    }

    pub(crate) fn set_exited(&self) {
        self.exited.store(true, Ordering::Release);
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

/// "No deadline" in [`Node::deadline`]'s encoding (later than any deadline, so `fetch_min`
/// merges).
const NO_DEADLINE: i64 = i64::MAX;

/// The origin of the deadline encoding: the first instant the process encoded.
fn epoch() -> std::time::Instant {
    static EPOCH: OnceLock<std::time::Instant> = OnceLock::new();
    *EPOCH.get_or_init(std::time::Instant::now)
}

/// Signed nanoseconds from [`epoch`]: exact for any instant within ±292 years of it (deadlines
/// are capped at about 30 years ahead by `deadline_after`); clamped beyond.
fn encode_deadline(at: Instant) -> i64 {
    let at = at.into_std();
    let epoch = epoch();
    let clamp = |d: std::time::Duration| i64::try_from(d.as_nanos()).unwrap_or(NO_DEADLINE - 1);
    match at.checked_duration_since(epoch) {
        Some(after) => clamp(after).min(NO_DEADLINE - 1),
        None => -clamp(epoch.duration_since(at)),
    }
}

fn decode_deadline(nanos: i64) -> Option<Instant> {
    if nanos == NO_DEADLINE {
        return None;
    }
    let offset = std::time::Duration::from_nanos(nanos.unsigned_abs());
    let epoch = epoch();
    Some(Instant::from(if nanos >= 0 {
        epoch + offset
    } else {
        epoch - offset
    }))
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
