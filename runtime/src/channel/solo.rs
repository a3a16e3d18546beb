//! The solo slot of a waiter list: one waiter's waker kept in an atomic state word beside the
//! list's mutex, so that the usual case of a channel, a lone waiter (the one receiver of a
//! pipeline, a sender on a full bounded channel), registers, is notified and leaves without a
//! lock.
//!
//! # Protocol
//!
//! The slot is a state word and a cell holding `Option<Waker>`. The waiter that holds the slot
//! (its *owner*, whose key is [`Waiters`](super::Waiters)' `SOLO` key) and the notifiers hand
//! the cell to each other through the state word:
//!
//! | state | the cell | who may move it on |
//! |---|---|---|
//! | [`EMPTY`] | `None` | a new waiter: `EMPTY → BUSY` (CAS), it becomes the owner |
//! | [`BUSY`] | the owner's, being written | the owner: `→ WAITING` or `→ EMPTY` (store) |
//! | [`WAITING`] | the owner's waker | a notifier: `→ NOTIFYING` (CAS); the owner: `→ BUSY` (CAS) |
//! | [`NOTIFYING`] | the notifier's, the waker being taken | the notifier: `→ NOTIFIED` (CAS); the owner: sets [`LEFT`] (CAS) |
//! | `NOTIFYING \| LEFT` | the notifier's | the notifier: `→ EMPTY` (store): the owner has gone |
//! | [`NOTIFIED`] | `None` (the notifier took the waker) | the owner: `→ WAITING` (it waits again) or `→ EMPTY` (it leaves) |
//!
//! Each state has one party that may touch the cell, so the cell is never written and read at
//! once. Every hand-over of the cell is a `Release` store or CAS matched by the next party's
//! `Acquire` load or CAS (a new owner's `EMPTY → BUSY` sees the previous owner's or notifier's
//! last access through the `Release` store of `EMPTY`).
//!
//! **Owner** ([`Solo::claim`], [`Solo::rewait`], [`Solo::leave`]). Registering ends in
//! `WAITING` with the waker in the cell, followed by the list's `SeqCst` fence `F_w` and the
//! re-check of the chan protocol (step 2 and 3 in `chan`). A waiter that finds its slot
//! `NOTIFYING` while registering (a notifier is taking its old waker) cannot store a new one;
//! it wakes its new waker itself, so it is polled again and registers then. Leaving returns
//! whether the owner was notified (`NOTIFYING` or `NOTIFIED`), so that it passes the notification
//! on as step 5 of the chan protocol says.
//!
//! **Notifier** ([`Solo::notify`]). After the list's `SeqCst` fence `F_n`, a notifier that loads
//! `WAITING` claims the slot with a CAS, takes the waker, publishes `NOTIFIED` (or `EMPTY`, if
//! the owner left meanwhile) and wakes the waker. Any other state means nobody waits in the
//! slot, and the notifier goes on to the list.
//!
//! **No lost wakeup.** The argument of `chan` carries over with "the registration" being the
//! owner's store of `WAITING`: if `F_w` precedes `F_n`, the notifier's load after `F_n` sees
//! that store or a later state; a later state is another notifier's claim (which wakes the
//! owner) or the owner's own next registration or leave, which comes after its re-check. If
//! `F_n` precedes `F_w`, the owner's re-check sees the notifier's push. A notifier that loses
//! the claiming CAS to another notifier notifies nobody in the slot, as a list notifier does
//! when another one took the head.
//!
//! # Order
//!
//! A new waiter takes the slot only while the list is empty, and an owner that was notified
//! waits again in the slot only while the list is empty (otherwise it empties the slot and
//! joins the list's tail). So the slot's owner, while waiting, is older than every waiter in the
//! list, and notifiers look at the slot first: waiters are notified oldest first, as before.
//!
//! # Loom
//!
//! The chan models (`loom_chan_*`) run through the slot, since their first waiter takes it;
//! `loom_solo_rewait_with_a_new_waker_vs_notify` races an owner that registers a different
//! waker with a notification, and `loom_solo_leave_vs_notify` an owner's leave with one.

use std::task::Waker;

use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{
    AtomicUsize,
    Ordering::{Acquire, Relaxed, Release},
};

/// State: no owner; the cell is `None`.
const EMPTY: usize = 0;
/// State: the owner is writing the cell.
const BUSY: usize = 1;
/// State: the owner waits; the cell holds its waker.
const WAITING: usize = 2;
/// State: a notifier claimed the slot and is taking the waker out of the cell.
const NOTIFYING: usize = 3;
/// State: notified; the cell is `None`; the owner has not looked yet.
const NOTIFIED: usize = 4;
/// Bit, only with `NOTIFYING`: the owner left while it was being notified; the notifier empties
/// the slot.
const LEFT: usize = 8;

/// A single waiter's waker and its state word (see the module docs).
pub(super) struct Solo {
    state: AtomicUsize,
    waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: the cell is only accessed by the one party that the state word names (the module
// docs' table), and each hand-over is a Release/Acquire pair, so the cell is never shared
// between threads without synchronisation; `Waker` itself is `Send + Sync`.
unsafe impl Sync for Solo {}

// No waker code (clone, drop, wake) runs while the slot is `BUSY` or `NOTIFYING`, the two states
// that another party waits out, so a panic in a foreign waker leaves the slot in a state its
// owner or the next notifier moves on from, as the list's mutex leaves its list.
impl std::panic::RefUnwindSafe for Solo {}
impl std::panic::UnwindSafe for Solo {}

impl Solo {
    pub(super) fn new() -> Solo {
        Solo {
            state: AtomicUsize::new(EMPTY),
            waker: UnsafeCell::new(None),
        }
    }

    /// Whether the owner waits (a notifier's look, after its fence).
    #[inline]
    pub(super) fn is_waiting(&self) -> bool {
        self.state.load(Relaxed) == WAITING
    }

    /// A new waiter takes the empty slot with `waker`; false if somebody holds it.
    pub(super) fn claim(&self, waker: &Waker) -> bool {
        // Cloned before the claim: no waker code runs while the slot is `BUSY`.
        let waker = waker.clone();
        if self
            .state
            .compare_exchange(EMPTY, BUSY, Acquire, Relaxed)
            .is_err()
        {
            return false;
        }
        // SAFETY: `BUSY` is ours (the CAS above), and the Acquire CAS saw the last access of
        // the cell by its previous party, which left it `None`.
        self.waker.with_mut(|w| unsafe { *w = Some(waker) });
        self.state.store(WAITING, Release);
        true
    }

    /// The owner waits again with `waker`, and returns true. If it was notified and `leave`
    /// says so (the list is not empty, so it must wait behind the others there; or it only
    /// collects its notification), it leaves the slot instead and returns false. While a
    /// notifier is taking the old waker, wakes `waker` (the owner is polled again and finds
    /// itself notified then) and returns true.
    pub(super) fn rewait(&self, waker: &Waker, leave: impl FnOnce() -> bool) -> bool {
        // A clone of `waker`, made outside `BUSY` once the slot's waker is found to differ.
        let mut fresh: Option<Waker> = None;
        let mut state = self.state.load(Acquire);
        loop {
            match state {
                WAITING => match self.state.compare_exchange(WAITING, BUSY, Acquire, Acquire) {
                    Ok(_) => {
                        // `Ok(old)`: the slot keeps `waker` (the old one, if replaced, is
                        // dropped after the store); `Err`: it needs a clone, made outside `BUSY`.
                        // SAFETY: `BUSY` is ours; the Acquire CAS saw our own last write.
                        let kept = self.waker.with_mut(|w| unsafe {
                            let w = &mut *w;
                            if w.as_ref().is_some_and(|old| old.will_wake(waker)) {
                                Ok(None)
                            } else {
                                fresh.take().map(|f| w.replace(f)).ok_or(())
                            }
                        });
                        self.state.store(WAITING, Release);
                        match kept {
                            Ok(_old) => return true,
                            Err(()) => {
                                fresh = Some(waker.clone());
                                state = self.state.load(Acquire);
                            }
                        }
                    }
                    Err(now) => state = now,
                },
                NOTIFIED => {
                    if leave() {
                        self.state.store(EMPTY, Release);
                        return false;
                    }
                    let waker = fresh.take().unwrap_or_else(|| waker.clone());
                    // SAFETY: only the owner moves `NOTIFIED` on, and the Acquire load saw the
                    // notifier's take of the waker (its Release CAS to `NOTIFIED`).
                    self.waker.with_mut(|w| unsafe { *w = Some(waker) });
                    self.state.store(WAITING, Release);
                    return true;
                }
                NOTIFYING => {
                    waker.wake_by_ref();
                    return true;
                }
                s => unreachable!("solo waiter registers again in state {s}"),
            }
        }
    }

    /// The owner leaves the slot; returns whether it had been notified.
    pub(super) fn leave(&self) -> bool {
        let mut state = self.state.load(Acquire);
        loop {
            match state {
                WAITING => match self.state.compare_exchange(WAITING, BUSY, Acquire, Acquire) {
                    Ok(_) => {
                        // SAFETY: `BUSY` is ours; the Acquire CAS saw our own last write.
                        let old = self.waker.with_mut(|w| unsafe { (*w).take() });
                        self.state.store(EMPTY, Release);
                        drop(old);
                        return false;
                    }
                    Err(now) => state = now,
                },
                NOTIFYING => {
                    match self
                        .state
                        .compare_exchange(NOTIFYING, NOTIFYING | LEFT, Relaxed, Acquire)
                    {
                        Ok(_) => return true,
                        Err(now) => state = now,
                    }
                }
                NOTIFIED => {
                    self.state.store(EMPTY, Release);
                    return true;
                }
                s => unreachable!("solo waiter leaves in state {s}"),
            }
        }
    }

    /// Notifies the owner if it waits; returns whether it did. Called after the list's fence.
    pub(super) fn notify(&self) -> bool {
        if !self.is_waiting()
            || self
                .state
                .compare_exchange(WAITING, NOTIFYING, Acquire, Relaxed)
                .is_err()
        {
            return false;
        }
        // SAFETY: `NOTIFYING` is ours (the CAS above), and the Acquire CAS saw the owner's write
        // of the waker (its Release store of `WAITING`).
        let waker = self.waker.with_mut(|w| unsafe { (*w).take() });
        if self
            .state
            .compare_exchange(NOTIFYING, NOTIFIED, Release, Relaxed)
            .is_err()
        {
            // The owner left (`NOTIFYING | LEFT`): the slot is nobody's now.
            self.state.store(EMPTY, Release);
        }
        if let Some(w) = waker {
            w.wake();
        }
        true
    }
}

#[cfg(all(test, trellis_loom))]
mod loom_solo {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;
    use std::sync::atomic::{AtomicUsize as StdAtomic, Ordering::SeqCst};
    use std::task::Wake;

    struct Count(StdAtomic);
    impl Wake for Count {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    fn counting() -> (std::sync::Arc<Count>, Waker) {
        let c = std::sync::Arc::new(Count(StdAtomic::new(0)));
        (c.clone(), Waker::from(c))
    }

    #[test]
    fn loom_solo_rewait_with_a_new_waker_vs_notify() {
        // The owner registers again with another waker (as a future moved to another task
        // does) while a notification comes whose value somebody else may take: afterwards the
        // new waker was woken, or it waits in the slot where the next notifier finds it.
        // Otherwise every later notification passes the owner by.
        loom::model(|| {
            let solo = Arc::new(Solo::new());
            let (_, old) = counting();
            let (new_c, new) = counting();
            assert!(solo.claim(&old));
            let s2 = solo.clone();
            let t = thread::spawn(move || s2.notify());
            assert!(solo.rewait(&new, || false));
            t.join().unwrap();
            let waits = solo.state.load(SeqCst) == WAITING;
            assert!(waits || new_c.0.load(SeqCst) == 1, "the new waker is lost");
            solo.leave();
        });
    }

    #[test]
    fn loom_solo_leave_vs_notify() {
        // The owner leaves while a notification comes: it reports notified exactly when the
        // notifier claimed it, and the slot ends empty either way.
        loom::model(|| {
            let solo = Arc::new(Solo::new());
            let (c, w) = counting();
            assert!(solo.claim(&w));
            let s2 = solo.clone();
            let t = thread::spawn(move || s2.notify());
            let notified = solo.leave();
            let claimed = t.join().unwrap();
            assert_eq!(notified, claimed);
            assert_eq!(solo.state.load(SeqCst), EMPTY);
            assert_eq!(c.0.load(SeqCst), usize::from(claimed));
            let (_, w2) = counting();
            assert!(solo.claim(&w2), "the slot is free for the next waiter");
            assert!(!solo.leave());
        });
    }
}
