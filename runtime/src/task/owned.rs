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

use super::{Header, RawTask};

pub(crate) struct OwnedTasks {
    shards: Box<[CachePadded<Mutex<Shard>>]>,
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
            shards: (0..n)
                .map(|_| {
                    CachePadded::new(Mutex::new(Shard {
                        head: None,
                        closed: false,
                    }))
                })
                .collect(),
            mask: n - 1,
        }
    }

    fn lock(&self, shard: usize) -> std::sync::MutexGuard<'_, Shard> {
        // The critical sections never panic; a poisoned lock is still consistent.
        self.shards[shard].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The shard a hint maps to.
    pub(crate) fn shard_of(&self, hint: usize) -> usize {
        hint & self.mask
    }

    /// Links a task into shard `shard_of(hint)`, with a reference the caller made for the list.
    /// Returns `false` if the list is closed: the task is not linked and the caller keeps that
    /// reference.
    pub(crate) fn link(&self, task: RawTask, hint: usize) -> bool {
        let mut guard = self.lock(self.shard_of(hint));
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

    /// Unlinks a completed task linked with `hint`. Returns `true` if it was still linked: the
    /// list's reference now belongs to the caller. `false` if shutdown popped it already.
    pub(crate) fn remove(&self, task: RawTask, hint: u32) -> bool {
        let header = task.header();
        let mut guard = self.lock(self.shard_of(hint as usize));
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

    /// Closes every shard (later `bind`s fail).
    pub(crate) fn close(&self) {
        for shard in 0..self.shards.len() {
            self.lock(shard).closed = true;
        }
    }

    /// Pops one task; the list's reference goes to the caller. Call after `close`.
    pub(crate) fn pop(&self) -> Option<RawTask> {
        for shard in 0..self.shards.len() {
            let mut guard = self.lock(shard);
            if let Some(head) = guard.head {
                // SAFETY: guarded by the shard lock; `head` is alive (the list's reference).
                unsafe {
                    let next = *head.as_ref().owned_next.get();
                    guard.head = next;
                    if let Some(n) = next {
                        *n.as_ref().owned_prev.get() = None;
                    }
                    *head.as_ref().owned_next.get() = None;
                }
                return Some(RawTask::from_ptr(head));
            }
        }
        None
    }
}
