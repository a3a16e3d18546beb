//! A domain's home: the state behind the routing and shutdown protocol of `domain/mod.rs`.
//!
//! [`Home`] is the home thread's side, owned by the domain's worker (`scheduler/worker.rs`):
//! the ready queue of pinned entries, the taking side of the inbox and the domain-local values.
//! [`Mailbox`] is what other threads may touch, kept in the scheduler's shared state: the
//! inbox's pushing side, the count of live pinned tasks and the closed flag. Both queues are
//! the intrusive ones of `inbox.rs`, linked through the pinned tasks' cells. The worker loop
//! decides *when* to look at the ready queue (its fairness rule, `worker.rs`); what a domain
//! is, and how it shuts down, is here.

use std::any::Any;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::inbox::{Fifo, Link, Stack};
use crate::loom::sync::atomic::AtomicPtr;
use crate::task::owned::OwnedTasks;
use crate::task::{Header, Notified, RawTask};

/// A pinned entry is linked into its domain's queues through its task's cell (the slot after
/// the header, `task/raw.rs`).
// SAFETY: a node is a queue entry's reference, a `Notified`, which is `Send` (`task/mod.rs`
// says why that is sound for pinned tasks: entries travel, futures stay home).
unsafe impl Link for Header {
    unsafe fn link<'a>(node: NonNull<Header>) -> &'a AtomicPtr<Header> {
        // SAFETY: only pinned entries enter a domain's queues (the routing protocol), and they
        // come as task pointers (`Notified::into_raw`); the caller keeps the task alive.
        unsafe { crate::task::queue_link(node) }
    }

    unsafe fn release(node: NonNull<Header>) {
        // SAFETY: the caller owns the node, which is a queue entry's reference.
        drop(unsafe { Notified::from_raw(RawTask::from_ptr(node)) });
    }
}

/// A new domain: its inbox's consuming side (moved to its worker's thread, which builds its
/// [`Home`] from it) and its mailbox (for everyone else).
pub(crate) fn new() -> (Inbox, Mailbox) {
    let stack = Arc::new(Stack::new());
    let mailbox = Mailbox {
        inbox: stack.clone(),
        live_pinned: AtomicUsize::new(0),
        closed: AtomicBool::new(false),
    };
    (Inbox(stack), mailbox)
}

/// The consuming side of a domain's inbox, on its way to the worker thread (a [`Home`] holds
/// `!Send` domain-local values, so it is built there).
pub(crate) struct Inbox(Arc<Stack<Header>>);

/// What other threads may touch of a domain (protocol steps 1 and 2 in `domain/mod.rs`).
pub(crate) struct Mailbox {
    /// Pinned entries for this domain from other threads; its worker takes them.
    inbox: Arc<Stack<Header>>,
    /// Pinned tasks of this domain not yet complete. The worker exits only when it is zero.
    live_pinned: AtomicUsize,
    /// Set by the worker when it exits: later `spawn_on`s to this domain are cancelled.
    closed: AtomicBool,
}

impl Mailbox {
    /// Counts a new pinned task of this domain in. `false`: the domain is closed (its worker
    /// has exited), and the caller cancels the task on the spot (it was never polled); the
    /// completion counts it out again.
    #[inline]
    pub(crate) fn count_in(&self) -> bool {
        self.live_pinned.fetch_add(1, Ordering::SeqCst);
        !self.closed.load(Ordering::SeqCst)
    }

    /// A pinned task of this domain completed. `true` if it was the last live one.
    #[inline]
    pub(crate) fn count_out(&self) -> bool {
        self.live_pinned.fetch_sub(1, Ordering::SeqCst) == 1
    }

    /// Sends an entry from another thread; the caller then unparks the domain's worker.
    #[inline]
    pub(crate) fn send(&self, task: Notified) {
        // SAFETY: the entry's reference moves into the inbox; a task has one queue entry at a
        // time, so its link is in no other queue.
        if let Err(refused) = unsafe { self.inbox.push(task.into_raw().ptr()) } {
            // The worker outlives every incomplete pinned task of its domain (`live_pinned`),
            // so its inbox is open; were it not, the entry is just released (`Notified: Send`
            // in `task/mod.rs` says why that drops no future).
            // SAFETY: refused, so the reference is ours again.
            drop(unsafe { Notified::from_raw(RawTask::from_ptr(refused)) });
        }
    }
}

/// The home thread's side of a domain. Lives in its worker's core; only that thread uses it.
pub(crate) struct Home {
    /// Pinned tasks of this domain, ready to run (never stolen), oldest first.
    ready: RefCell<Fifo<Header>>,
    /// Pinned entries sent by other threads; only this side takes them.
    inbox: Arc<Stack<Header>>,
    /// `domain_local!` values of this domain, keyed by the address of their static.
    locals: RefCell<HashMap<usize, Rc<dyn Any>>>,
    /// Keys of `locals` in initialisation order: they are dropped in reverse, so a value's
    /// `Drop` can still use the values its initialiser used.
    local_order: RefCell<Vec<usize>>,
    /// Keys of `locals` that the shutdown dropped: never initialised again (a `Drop` that
    /// read its own value would otherwise re-create it, forever).
    locals_dropped: RefCell<HashSet<usize>>,
}

impl Home {
    /// The home side of a domain, on its worker's thread.
    pub(crate) fn new(inbox: Inbox) -> Home {
        Home {
            ready: RefCell::new(Fifo::new()),
            inbox: inbox.0,
            locals: RefCell::new(HashMap::new()),
            local_order: RefCell::new(Vec::new()),
            locals_dropped: RefCell::new(HashSet::new()),
        }
    }

    /// Queues a pinned task of this domain (on the home thread).
    #[inline]
    pub(crate) fn push(&self, task: Notified) {
        // SAFETY: the entry's reference moves into the queue; a task has one queue entry at a
        // time, so its link is in no other queue.
        unsafe { self.ready.borrow_mut().push_back(task.into_raw().ptr()) }
    }

    /// Moves what the inbox holds to the back of the ready queue (every tick of the worker).
    #[inline]
    pub(crate) fn drain_inbox(&self) {
        if !self.inbox.is_empty() {
            self.ready.borrow_mut().append(self.inbox.take());
        }
    }

    /// The next pinned task to run.
    #[inline]
    pub(crate) fn pop(&self) -> Option<Notified> {
        let task = self.ready.borrow_mut().pop_front()?;
        // SAFETY: the queue held the entry's reference; it is ours now.
        Some(unsafe { Notified::from_raw(RawTask::from_ptr(task)) })
    }

    /// The oldest entry of the inbox (a searching worker leaves its search for it; the ready
    /// queue is empty then, or the worker would not be searching).
    #[inline]
    pub(crate) fn take_inbox(&self) -> Option<Notified> {
        if self.inbox.is_empty() {
            return None;
        }
        self.drain_inbox();
        self.pop()
    }

    /// Is a pinned task ready, queued or in the inbox? (A parked worker re-checks this after
    /// its unpark.)
    #[inline]
    pub(crate) fn has_work(&self) -> bool {
        !self.ready.borrow().is_empty() || !self.inbox.is_empty()
    }

    /// The value of a `domain_local!` in this domain, initialised by `init` on first use;
    /// `None` if the shutdown already dropped it (it is not re-created).
    pub(crate) fn domain_local(
        &self,
        key: usize,
        init: impl FnOnce() -> Rc<dyn Any>,
    ) -> Option<Rc<dyn Any>> {
        if let Some(value) = self.locals.borrow().get(&key) {
            return Some(value.clone());
        }
        if self.locals_dropped.borrow().contains(&key) {
            return None;
        }
        // Initialise outside the borrow: `init` may use other domain-local values (which are
        // then recorded first, and so dropped after this one).
        let value = init();
        let mut locals = self.locals.borrow_mut();
        let entry = locals.entry(key).or_insert_with(|| {
            self.local_order.borrow_mut().push(key);
            value
        });
        Some(entry.clone())
    }

    /// The domain's shutdown (protocol step 2 in `domain/mod.rs`), on the home thread, after
    /// the worker loop stopped: cancels every pinned task of domain `index` (queued, in the
    /// inbox, or idle in the domain's shard of `owned`, which `shutdown_owned` cancels) and
    /// whatever `drain_worker` still yields (the worker's own queues: dropping a future may
    /// wake or spawn more), until no pinned task is left anywhere; then drops the domain-local
    /// values and closes the domain. `park` sleeps until the worker is unparked (by an entry's
    /// arrival or the last pinned task's completion).
    pub(crate) fn shut_down(
        &self,
        index: usize,
        mailbox: &Mailbox,
        owned: &OwnedTasks,
        mut drain_worker: impl FnMut() -> Option<Notified>,
        mut shutdown_owned: impl FnMut(RawTask),
        mut park: impl FnMut(),
    ) {
        let shard = owned.pinned_shard(index);
        owned.close_shard(shard);
        loop {
            while let Some(task) = drain_worker().or_else(|| {
                self.drain_inbox();
                self.pop()
            }) {
                task.cancel();
            }
            if let Some(task) = owned.pop_shard(shard) {
                shutdown_owned(task);
                continue;
            }
            if mailbox.live_pinned.load(Ordering::SeqCst) == 0 {
                if self.drop_newest_local() {
                    continue;
                }
                mailbox.closed.store(true, Ordering::SeqCst);
                if mailbox.live_pinned.load(Ordering::SeqCst) == 0 && self.inbox.is_empty() {
                    // Nothing can arrive any more (no pinned task is left to be woken); later
                    // sends are refused and released by their sender.
                    self.ready.borrow_mut().append(self.inbox.close());
                    while let Some(task) = self.pop() {
                        task.cancel();
                    }
                    break;
                }
            }
            // A pinned task is still alive elsewhere (its wake or spawn is on the way): its
            // entry's arrival or its completion unparks us.
            park();
        }
    }

    /// Every pinned task is gone: drops the newest domain-local value, here on its domain.
    /// `false` if none is left. A `Drop` may use older values, create new ones (dropped in a
    /// later round) or spawn and wake tasks (drained by the caller), but not re-create a value
    /// dropped here (`domain_local` refuses, with a panic that is contained here), so the
    /// rounds end.
    fn drop_newest_local(&self) -> bool {
        let Some(key) = self.local_order.borrow_mut().pop() else {
            return false;
        };
        self.locals_dropped.borrow_mut().insert(key);
        let value = self.locals.borrow_mut().remove(&key);
        if let Err(payload) = crate::contain::catch(|| drop(value)) {
            crate::contain::report("dropping a domain-local value at shutdown", &payload);
        }
        true
    }
}
