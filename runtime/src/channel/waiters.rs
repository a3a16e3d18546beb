//! A list of waiting tasks (or threads): the wakers of the receivers that found a channel empty,
//! or of the senders that found it full.
//!
//! The list is the "register" half of the registration protocol written up in
//! [`chan`](super::chan); this file only keeps the list itself consistent.
//!
//! # The solo slot
//!
//! Before the list, a [`Solo`] slot holds one waiter outside the mutex: a waiter that
//! registers while the list is empty takes it, and its key is `SOLO`. A channel's waiters are
//! most often one at a time (the receiver of a pipeline stage), and that one then registers, is
//! notified and leaves with a CAS each instead of three lock round trips. Notifiers look at the
//! slot first and then at the list; the slot's protocol, and why the order stays oldest first,
//! are written up in [`solo`](super::solo). The hand-off primitives never call `register`,
//! so their slot stays empty and `put_and_grant` grants from the list only; `poll_grant` also
//! lets a waiter that registered (a `Condition`'s wait) collect its notification from the slot.
//!
//! # Entries
//!
//! A waiter owns a *key* (`Option<usize>`, `None` while it is not in the list) that names its
//! slot. A slot is in one of three states:
//!
//! - `Free`: on the free list, owned by nobody.
//! - `Waiting`: linked in the FIFO list, with the waker to call. Counted in `waiting`.
//! - `Notified`: unlinked by a notifier, which took the waker and called it (after releasing
//!   the lock). The slot stays allocated until its owner calls [`Waiters::remove`] (or
//!   re-registers), so the owner learns that it was notified and can pass the notification on if
//!   it no longer needs it.
//!
//! Transitions, all under the mutex: `register` takes `Free → Waiting` (a new key) or
//! `Notified → Waiting` (a woken waiter waits again) or refreshes the waker of a `Waiting` slot;
//! `notify_*` takes `Waiting → Notified` from the head of the list; `remove` takes `Waiting` or
//! `Notified → Free` and reports which it was. Only the owner of a key passes it to `register`
//! or `remove`, so a slot is never freed under a live key.
//!
//! `waiting` mirrors the number of `Waiting` slots. It is written only under the mutex and read
//! without it by notifiers, after a `SeqCst` fence, so that notifying an empty list costs one
//! fence and two loads (this count and the solo slot's state): no lock, no allocation. Slots are reused through the free list, so a warm
//! list (one that has held as many waiters before) allocates nothing either.
//!
//! # Hand-off
//!
//! The same list serves the fair primitives of [`sync`](crate::sync), with their count of
//! free units kept *inside* the mutex (the `S` of [`Waiters<S>`]): there a `Notified` slot is
//! a waiter that was *granted* a unit, taken for it under the mutex by [`Waiters::put_and_grant`]
//! and collected by its owner in [`Waiters::poll_grant`] (or released again by the owner's
//! drop, via [`Waiters::remove`]). The protocol is written up in `sync::handoff`.

use std::task::Waker;

use super::solo::Solo;
use crate::loom::sync::Mutex;
use crate::loom::sync::atomic::{AtomicUsize, Ordering::Relaxed, Ordering::SeqCst, fence};

/// The outcome of one [`Waiters::poll_grant`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Take {
    /// The caller holds a unit.
    Taken,
    /// The caller waits in the list.
    Wait,
    /// The caller may not wait (the primitive refused it; it is not in the list).
    Refused,
}

/// No slot (end of a list).
const NIL: usize = usize::MAX;
/// The key of the waiter in the solo slot (never a list index).
const SOLO: usize = usize::MAX - 1;

use crate::tuning::WAKE_BATCH;

/// The waiters of one side of a channel (see the module docs).
///
/// `S` is state that lives under the same mutex as the list: `()` for the channels, the count of
/// free units for the hand-off primitives of [`sync`](crate::sync) (see the `grant` methods).
pub(crate) struct Waiters<S = ()> {
    /// The one waiter kept outside the list (see the module docs).
    solo: Solo,
    /// The number of `Waiting` slots. Written under `list`'s lock, read without it after a fence.
    waiting: AtomicUsize,
    list: Mutex<List<S>>,
}

struct List<S> {
    slots: Vec<Slot>,
    /// Oldest `Waiting` slot (notified first), or `NIL`.
    head: usize,
    /// Newest `Waiting` slot, or `NIL`.
    tail: usize,
    /// First `Free` slot, or `NIL`.
    free: usize,
    /// The number of `Waiting` slots (the value mirrored in `Waiters::waiting`).
    waiting: usize,
    /// The caller's state, guarded with the list.
    state: S,
}

enum Slot {
    Free {
        next: usize,
    },
    Waiting {
        waker: Waker,
        prev: usize,
        next: usize,
    },
    Notified,
}

impl Waiters {
    pub(crate) fn new() -> Waiters {
        Waiters::with_state(())
    }
}

impl<S> Waiters<S> {
    /// An empty list guarding `state`.
    pub(crate) fn with_state(state: S) -> Waiters<S> {
        Waiters {
            solo: Solo::new(),
            waiting: AtomicUsize::new(0),
            list: Mutex::new(List {
                slots: Vec::new(),
                head: NIL,
                tail: NIL,
                free: NIL,
                waiting: 0,
                state,
            }),
        }
    }

    fn lock(&self) -> crate::loom::sync::MutexGuard<'_, List<S>> {
        // No code panics while holding this lock (wakers are called after it is released), so
        // it is never poisoned; recover anyway rather than propagate a foreign panic.
        self.list.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers `waker` under `key` (a new slot when `key` is `None`; a waiter that was notified
    /// goes back to the end of the list; a waiting one keeps its place and gets the new waker),
    /// then issues a `SeqCst` fence: the caller's re-check that follows cannot be reordered
    /// before the registration (step 2 of the protocol in `chan`).
    #[inline]
    pub(crate) fn register(&self, key: &mut Option<usize>, waker: &Waker) {
        match *key {
            None if self.waiting.load(Relaxed) == 0 && self.solo.claim(waker) => {
                *key = Some(SOLO);
                fence(SeqCst);
                return;
            }
            Some(SOLO) => {
                if self.solo.rewait(waker, || self.waiting.load(Relaxed) != 0) {
                    fence(SeqCst);
                    return;
                }
                // Notified while others joined the list: wait behind them.
                *key = None;
            }
            _ => {}
        }
        self.register_listed(key, waker);
    }

    /// `register` in the list, under its lock.
    fn register_listed(&self, key: &mut Option<usize>, waker: &Waker) {
        {
            let mut list = self.lock();
            match *key {
                None => *key = Some(list.link_new(waker.clone())),
                Some(k) => match &mut list.slots[k] {
                    Slot::Waiting { waker: old, .. } => {
                        if !old.will_wake(waker) {
                            old.clone_from(waker);
                        }
                    }
                    Slot::Notified => list.link(k, waker.clone()),
                    Slot::Free { .. } => unreachable!("waiter key {k} names a free slot"),
                },
            }
            self.waiting.store(list.waiting, Relaxed);
        }
        fence(SeqCst);
    }

    /// Takes the waiter named by `key` out of the list (no-op when `key` is `None`) and returns
    /// whether it had been notified. A waiter that was notified but no longer needs to wait (it
    /// completed by other means, or is being dropped) must pass the notification on if the
    /// condition it was notified for may still hold (see `chan`, step 5).
    #[inline]
    pub(crate) fn remove(&self, key: &mut Option<usize>) -> bool {
        match key.take() {
            None => false,
            Some(SOLO) => self.solo.leave(),
            Some(k) => self.remove_listed(k),
        }
    }

    /// `remove` from the list, under its lock.
    fn remove_listed(&self, k: usize) -> bool {
        let mut list = self.lock();
        let notified = match list.slots[k] {
            Slot::Waiting { .. } => {
                list.unlink(k);
                false
            }
            Slot::Notified => true,
            Slot::Free { .. } => unreachable!("waiter key {k} names a free slot"),
        };
        list.free_slot(k);
        self.waiting.store(list.waiting, Relaxed);
        notified
    }

    /// Whether any waiter is registered and not yet notified. Preceded by a `SeqCst` fence (step
    /// 4 of the protocol in `chan`): the caller's state change before this call cannot be
    /// reordered after the load.
    fn has_waiting(&self) -> bool {
        fence(SeqCst);
        self.solo.is_waiting() || self.waiting.load(Relaxed) != 0
    }

    /// Notifies the oldest waiting waiter, if any: marks it `Notified` and wakes it. Returns
    /// whether one was notified. Without waiters this is one fence and two loads.
    pub(crate) fn notify_one(&self) -> bool {
        self.has_waiting() && (self.solo.notify() || self.wake_head())
    }

    /// Passes a notification on (step 5 of the protocol in `chan`): notifies the oldest waiting
    /// waiter if there is one and `holds()` says that the condition it waits for may hold.
    /// `holds` runs only when somebody waits, after the fence, so a passed-on notification
    /// costs the condition's check only when it can matter; a waiter that registers after the
    /// fence re-checks the condition itself.
    pub(crate) fn notify_one_if(&self, holds: impl FnOnce() -> bool) -> bool {
        self.has_waiting() && holds() && (self.solo.notify() || self.wake_head())
    }

    /// Unlinks the oldest waiting waiter of the list, if any, and wakes it after releasing the
    /// lock.
    fn wake_head(&self) -> bool {
        let waker = {
            let mut list = self.lock();
            let waker = list.pop_head();
            self.waiting.store(list.waiting, Relaxed);
            waker
        };
        match waker {
            Some(w) => {
                w.wake();
                true
            }
            None => false,
        }
    }

    /// Notifies every waiter that is waiting when the call starts (waiters that register while
    /// it runs may be notified too, which is harmless: they re-check).
    pub(crate) fn notify_all(&self) {
        if !self.has_waiting() {
            return;
        }
        self.solo.notify();
        let mut budget = usize::MAX;
        loop {
            let mut batch: [Option<Waker>; WAKE_BATCH] = [const { None }; WAKE_BATCH];
            let mut n = 0;
            {
                let mut list = self.lock();
                if budget == usize::MAX {
                    budget = list.waiting;
                }
                while n < WAKE_BATCH && budget > 0 {
                    match list.pop_head() {
                        Some(w) => batch[n] = Some(w),
                        None => break,
                    }
                    n += 1;
                    budget -= 1;
                }
                self.waiting.store(list.waiting, Relaxed);
            }
            for w in batch.iter_mut().take(n) {
                if let Some(w) = w.take() {
                    w.wake();
                }
            }
            if n < WAKE_BATCH || budget == 0 {
                return;
            }
        }
    }
    // -----------------------------------------------------------------------------------------
    // Hand-off: the `sync` primitives (the protocol is written up in `sync::handoff`). The
    // state `S` counts free units; a `Notified` slot is a waiter that was *granted* a unit.

    /// The number of waiters waiting (registered and not yet granted or notified).
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Relaxed) + usize::from(self.solo.is_waiting())
    }

    /// Runs `f` on the state under the lock; `f` also gets the number of waiting waiters.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut S, usize) -> R) -> R {
        let mut guard = self.lock();
        let list = &mut *guard;
        f(&mut list.state, list.waiting)
    }

    /// One poll of an acquire, under the lock: a waiter that was granted (`Notified`) takes its
    /// unit and leaves the list (`key` becomes `None`): `Taken`; a waiting one refreshes its
    /// waker: `Wait`. A new one (`key` is `None`) asks `first`, which gets the state and the
    /// number of waiting waiters (a FIFO primitive takes a unit only when that is 0): on `Wait`
    /// the caller joins the tail of the list. A waiter that joined with [`Waiters::register`]
    /// (and may sit in the solo slot) collects its notification here the same way.
    pub(crate) fn poll_grant(
        &self,
        key: &mut Option<usize>,
        waker: &Waker,
        first: impl FnOnce(&mut S, usize) -> Take,
    ) -> Take {
        if *key == Some(SOLO) {
            // A waiter that joined with `register` (a `Condition`'s wait) and now collects its
            // notification.
            if self.solo.rewait(waker, || true) {
                return Take::Wait;
            }
            *key = None;
            return Take::Taken;
        }
        let mut guard = self.lock();
        let list = &mut *guard;
        let took = match *key {
            Some(k) => match &mut list.slots[k] {
                Slot::Notified => {
                    list.free_slot(k);
                    *key = None;
                    Take::Taken
                }
                Slot::Waiting { waker: old, .. } => {
                    if !old.will_wake(waker) {
                        old.clone_from(waker);
                    }
                    Take::Wait
                }
                Slot::Free { .. } => unreachable!("waiter key {k} names a free slot"),
            },
            None => {
                let took = first(&mut list.state, list.waiting);
                if let Take::Wait = took {
                    *key = Some(list.link_new(waker.clone()));
                }
                took
            }
        };
        self.waiting.store(list.waiting, Relaxed);
        took
    }

    /// Under the lock: runs `put` on the state (units become free), then grants units to the
    /// waiting waiters, oldest first, while `take` succeeds: each granted slot becomes
    /// `Notified`, and its waker is called after the lock is released. Returns `put`'s result.
    /// A release grants at most one unit, so the usual case collects one waker on the stack;
    /// only a change that frees several units at once (a limiter's total raised) collects the
    /// rest in a vector.
    pub(crate) fn put_and_grant<R>(
        &self,
        put: impl FnOnce(&mut S) -> R,
        mut take: impl FnMut(&mut S) -> bool,
    ) -> R {
        let mut first = None;
        let mut rest = Vec::new();
        let out = {
            let mut guard = self.lock();
            let list = &mut *guard;
            let out = put(&mut list.state);
            while list.head != NIL && take(&mut list.state) {
                let waker = list.pop_head();
                if first.is_none() {
                    first = waker;
                } else {
                    rest.extend(waker);
                }
            }
            self.waiting.store(list.waiting, Relaxed);
            out
        };
        if let Some(w) = first {
            w.wake();
        }
        for w in rest {
            w.wake();
        }
        out
    }
}

impl<S> List<S> {
    /// Puts slot `k` (not `Waiting`) back on the free list.
    fn free_slot(&mut self, k: usize) {
        self.slots[k] = Slot::Free { next: self.free };
        self.free = k;
    }

    /// Takes a free slot (or grows the vector) and links it as `Waiting`.
    fn link_new(&mut self, waker: Waker) -> usize {
        let k = if self.free != NIL {
            let k = self.free;
            let Slot::Free { next } = self.slots[k] else {
                unreachable!("free list names a used slot");
            };
            self.free = next;
            k
        } else {
            self.slots.push(Slot::Notified);
            self.slots.len() - 1
        };
        self.link(k, waker);
        k
    }

    /// Links slot `k` at the tail as `Waiting`.
    fn link(&mut self, k: usize, waker: Waker) {
        self.slots[k] = Slot::Waiting {
            waker,
            prev: self.tail,
            next: NIL,
        };
        match self.tail {
            NIL => self.head = k,
            t => self.set_next(t, k),
        }
        self.tail = k;
        self.waiting += 1;
    }

    /// Unlinks the `Waiting` slot `k`, leaving it `Notified`; returns its waker.
    fn unlink(&mut self, k: usize) -> Waker {
        let Slot::Waiting { waker, prev, next } =
            std::mem::replace(&mut self.slots[k], Slot::Notified)
        else {
            unreachable!("unlinking a slot that is not waiting");
        };
        match prev {
            NIL => self.head = next,
            p => self.set_next(p, next),
        }
        match next {
            NIL => self.tail = prev,
            n => self.set_prev(n, prev),
        }
        self.waiting -= 1;
        waker
    }

    /// Unlinks the oldest waiting slot (it becomes `Notified`) and returns its waker.
    fn pop_head(&mut self) -> Option<Waker> {
        match self.head {
            NIL => None,
            k => Some(self.unlink(k)),
        }
    }

    fn set_next(&mut self, k: usize, to: usize) {
        if let Slot::Waiting { next, .. } = &mut self.slots[k] {
            *next = to;
        }
    }

    fn set_prev(&mut self, k: usize, to: usize) {
        if let Slot::Waiting { prev, .. } = &mut self.slots[k] {
            *prev = to;
        }
    }
}

#[cfg(all(test, not(trellis_loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize as StdAtomic;
    use std::task::Wake;

    struct Count(StdAtomic);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    fn counting() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(StdAtomic::new(0)));
        (c.clone(), Waker::from(c))
    }

    #[test]
    fn fifo_notify_and_remove() {
        let w = Waiters::new();
        let (c1, w1) = counting();
        let (c2, w2) = counting();
        let (c3, w3) = counting();
        let (mut k1, mut k2, mut k3) = (None, None, None);
        w.register(&mut k1, &w1);
        w.register(&mut k2, &w2);
        w.register(&mut k3, &w3);
        assert_eq!(w.waiting(), 3);
        // Removing the middle one keeps the order of the others.
        assert!(!w.remove(&mut k2));
        assert!(w.notify_one());
        assert_eq!(c1.0.load(SeqCst), 1);
        assert_eq!(c3.0.load(SeqCst), 0);
        // k1 was notified; re-registering puts it behind k3.
        w.register(&mut k1, &w1);
        assert!(w.notify_one());
        assert_eq!(c3.0.load(SeqCst), 1);
        assert!(w.remove(&mut k3));
        w.notify_all();
        assert_eq!(c1.0.load(SeqCst), 2);
        assert!(!w.notify_one());
        assert!(w.remove(&mut k1));
        assert_eq!(c2.0.load(SeqCst), 0);
        // Slots are reused: no growth after warm-up (the first of three takes the solo slot,
        // as k1 did, and the list has held two before).
        let mut keys: Vec<Option<usize>> = (0..3).map(|_| None).collect();
        for k in &mut keys {
            w.register(k, &w1);
        }
        assert_eq!(keys[0], Some(SOLO));
        assert_eq!(w.lock().slots.len(), 2);
        for k in &mut keys {
            w.remove(k);
        }
        assert_eq!(w.waiting(), 0);
    }

    #[test]
    fn a_lone_waiter_never_touches_the_list() {
        let w = Waiters::new();
        let (c, waker) = counting();
        let mut key = None;
        for round in 1..=3 {
            w.register(&mut key, &waker);
            assert_eq!(key, Some(SOLO));
            assert_eq!(w.waiting(), 1);
            // A second registration of the same waiter keeps its place.
            w.register(&mut key, &waker);
            assert!(w.notify_one());
            assert_eq!(c.0.load(SeqCst), round);
            assert_eq!(w.waiting(), 0);
            assert!(w.remove(&mut key));
        }
        // Leaving without a notification, and the pass-on check of an empty list.
        w.register(&mut key, &waker);
        assert!(!w.remove(&mut key));
        assert!(!w.notify_one_if(|| true));
        assert!(w.lock().slots.is_empty(), "the list was used");
    }

    #[test]
    fn a_solo_waiter_polled_from_another_task_is_woken_there() {
        let w = Waiters::new();
        let (c1, w1) = counting();
        let (c2, w2) = counting();
        let mut key = None;
        w.register(&mut key, &w1);
        w.register(&mut key, &w2);
        assert_eq!(key, Some(SOLO));
        assert!(w.notify_one());
        assert_eq!((c1.0.load(SeqCst), c2.0.load(SeqCst)), (0, 1));
        // Notified, then registered again: it waits in the slot with the newest waker.
        w.register(&mut key, &w1);
        assert!(w.notify_one());
        assert_eq!((c1.0.load(SeqCst), c2.0.load(SeqCst)), (1, 1));
        assert!(w.remove(&mut key));
    }

    #[test]
    fn notify_all_in_batches() {
        let w = Waiters::new();
        let (c, waker) = counting();
        let mut keys: Vec<Option<usize>> = (0..100).map(|_| None).collect();
        for k in &mut keys {
            w.register(k, &waker);
        }
        w.notify_all();
        assert_eq!(c.0.load(SeqCst), 100);
        assert_eq!(w.waiting(), 0);
        for k in &mut keys {
            assert!(w.remove(k));
        }
    }
}
