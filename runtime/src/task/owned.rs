//! The owned-task list: every live task of a runtime, so that shutdown can find and cancel the
//! ones no queue holds (parked on a waker somewhere).
//!
//! An intrusive doubly linked list through `Header::owned_prev/next`, split into shards, each
//! behind its own mutex, so spawns and completions on different workers rarely share a lock.
//! A task is linked the first time it goes idle (returns `Pending` with no wake pending): only
//! then can it be out of every queue, which is when shutdown needs the list to find it. Tasks
//! that finish or yield without ever waiting never touch the list. The list holds one reference
//! to each task it links. A task leaves it when it completes (`remove`, which hands the list's
//! reference to the completer) or when shutdown pops it (`pop`). Once closed, `link` refuses
//! tasks: their runner cancels them at once instead of letting them go idle.

use std::ptr::NonNull;
use std::sync::Mutex;

use crossbeam_utils::CachePadded;

use super::{Header, RawTask, Route};

/// Shards `0..domains` hold the idle pinned tasks of each domain (only that domain's worker
/// pops them, at its exit, so they are dropped at home); the rest hold stealable tasks.
pub(crate) struct OwnedTasks {
    shards: Box<[CachePadded<Mutex<Shard>>]>,
    domains: usize,
    mask: usize,
}

struct Shard {
    head: Option<NonNull<Header>>,
    closed: bool,
}

// SAFETY: the raw pointers are only followed under the shard's lock, and every linked task is
// kept alive by the list's reference.
unsafe impl Send for Shard {}

impl OwnedTasks {
    pub(crate) fn new(workers: usize) -> OwnedTasks {
        let n = (workers * 4).next_power_of_two();
        OwnedTasks {
            shards: (0..workers + n)
                .map(|_| {
                    CachePadded::new(Mutex::new(Shard {
                        head: None,
                        closed: false,
                    }))
                })
                .collect(),
            domains: workers,
            mask: n - 1,
        }
    }

    fn lock(&self, shard: usize) -> std::sync::MutexGuard<'_, Shard> {
        // The critical sections never panic; a poisoned lock is still consistent.
        self.shards[shard].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The shard a task with this route joins: its domain's own shard for a pinned task
    /// (popped only at home at shutdown), else one of the stealable shards picked by the
    /// linking thread's `hint` (`Schedule::shard_hint`), so workers rarely share a lock.
    pub(crate) fn shard_for(&self, route: Route, hint: impl FnOnce() -> usize) -> usize {
        match route.domain() {
            Some(domain) => self.pinned_shard(domain),
            None => self.domains + (hint() & self.mask),
        }
    }

    /// The shard of a domain's pinned tasks.
    pub(crate) fn pinned_shard(&self, domain: usize) -> usize {
        debug_assert!(domain < self.domains);
        domain
    }

    /// Links a task into `shard`, with a reference the caller made for the list. Returns
    /// `false` if the shard is closed: the task is not linked and the caller keeps that
    /// reference.
    pub(crate) fn link(&self, task: RawTask, shard: usize) -> bool {
        let mut guard = self.lock(shard);
        if guard.closed {
            return false;
        }
        let header = task.header();
        // SAFETY: the links are guarded by this shard's lock, which we hold; the old head is
        // alive (the list holds a reference to it).
        unsafe {
            *header.owned_prev.get() = None;
            *header.owned_next.get() = guard.head;
            if let Some(head) = guard.head {
                *head.as_ref().owned_prev.get() = Some(task.ptr());
            }
        }
        guard.head = Some(task.ptr());
        true
    }

    /// Unlinks a completed task from `shard`. Returns `true` if it was still linked: the list's
    /// reference now belongs to the caller. `false` if shutdown popped it already.
    pub(crate) fn remove(&self, task: RawTask, shard: usize) -> bool {
        let header = task.header();
        let mut guard = self.lock(shard);
        // SAFETY: links are guarded by the shard lock we hold; neighbours are alive while linked.
        unsafe {
            let prev = *header.owned_prev.get();
            let next = *header.owned_next.get();
            if prev.is_none() && guard.head != Some(task.ptr()) {
                return false;
            }
            match prev {
                Some(p) => *p.as_ref().owned_next.get() = next,
                None => guard.head = next,
            }
            if let Some(n) = next {
                *n.as_ref().owned_prev.get() = prev;
            }
            *header.owned_prev.get() = None;
            *header.owned_next.get() = None;
        }
        true
    }

    /// Closes one shard (later `link`s to it fail).
    pub(crate) fn close_shard(&self, shard: usize) {
        self.lock(shard).closed = true;
    }

    /// Closes the stealable shards.
    pub(crate) fn close_stealable(&self) {
        for shard in self.domains..self.shards.len() {
            self.close_shard(shard);
        }
    }

    /// Pops one stealable task; the list's reference goes to the caller.
    pub(crate) fn pop_stealable(&self) -> Option<RawTask> {
        (self.domains..self.shards.len()).find_map(|shard| self.pop_shard(shard))
    }

    /// Pops one task of `shard`; the list's reference goes to the caller.
    pub(crate) fn pop_shard(&self, shard: usize) -> Option<RawTask> {
        let mut guard = self.lock(shard);
        let head = guard.head?;
        // SAFETY: guarded by the shard lock; `head` is alive (the list's reference).
        unsafe {
            let next = *head.as_ref().owned_next.get();
            guard.head = next;
            if let Some(n) = next {
                *n.as_ref().owned_prev.get() = None;
            }
            *head.as_ref().owned_next.get() = None;
        }
        // SAFETY: `head` was linked, so it is a live task, and the list's reference to it is
        // handed to the caller with the result.
        Some(unsafe { RawTask::from_ptr(head) })
    }
}
