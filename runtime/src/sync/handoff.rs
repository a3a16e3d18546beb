//! The hand-off core shared by [`Lock`](super::Lock), [`Semaphore`](super::Semaphore) and
//! [`CapacityLimiter`](super::CapacityLimiter): a count of free *units* (the lock, permits,
//! tokens) and a FIFO list of the tasks (or threads) waiting for one.
//!
//! # Hand-off protocol
//!
//! **State.** The units and the waiter list ([`Waiters`], the channels' list) live under one
//! mutex: the state `S` is stored inside the list. A waiter's entry is `Waiting` (queued, with
//! its waker) or `Notified`, which here means *granted*: a unit was taken for it and is owned by
//! the entry, not yet by its future. Nobody reads the units without the mutex.
//!
//! **Who touches what.** An acquire future touches only its own entry (by its key) and, on
//! its first poll, the count; a releaser (a guard's drop, `Semaphore::release`,
//! `CapacityLimiter::set_total_tokens`, a cancelled granted entry) touches the count and the
//! head of the list. Both only under the mutex. The list's lock-free `waiting` mirror is read
//! for statistics only (`waiting()`), never to decide.
//!
//! **Why one mutex** (and not the channels' lock-free register / re-check): the decision
//! "grant to the head, or put the unit back" must be atomic with a waiter's "take a free unit,
//! or queue". Split, a release could find nobody queued and put the unit back while a waiter
//! that found none free queues: a free unit and a sleeping waiter. The channels repair that
//! with a re-check after registering, but a re-checking waiter takes whatever is free, so a
//! newcomer could overtake the queue: no FIFO. Under one mutex both steps are one decision,
//! and fairness is a property of the list order alone.
//!
//! **Acquire** ([`HandOff::poll_acquire`], every poll of an acquire future): first
//! `coop::poll_proceed` (the checkpoint: a cancelled scope stops the acquire here, and the
//! budget may make it yield); then, under the mutex, one of:
//! - the entry is granted: take the unit, free the entry, done;
//! - the entry is waiting: refresh the waker, `Pending`;
//! - no entry yet: take a free unit, but only if nobody is waiting (FIFO: a newcomer never
//!   overtakes a queued waiter), else queue at the tail, `Pending`.
//!
//! **Release** ([`HandOff::release`]): under the mutex, put the unit back and, while the list
//! has a waiting head and a unit is free, take the unit *for* the head and mark it granted
//! (Trio's `unpark`); call the wakers after the mutex is released. A released unit therefore
//! goes straight to the oldest waiter: the releaser cannot take it back by acquiring again,
//! nor can any newcomer (their first poll sees a waiter queued, or no free unit).
//!
//! **Cancel** ([`HandOff::cancel`], the drop of an acquire future that did not complete):
//! under the mutex, free the entry. If it was only waiting, nothing else changes. If it was
//! granted (the release raced with the cancellation, or the waiter was cancelled before it
//! ran), the unit is released again as above: it goes to the next waiter, or back to the free
//! count. So a cancelled acquire holds nothing, and a unit is never lost (a granted entry always
//! gives its unit to its future or back) nor duplicated (a unit is taken from the count, or
//! granted, exactly once, under the mutex). An acquire that returned `Ready` holds its unit:
//! completion and cancellation are the same future's `poll` and `drop`, never concurrent.
//!
//! **Wakers** are called with the mutex released, so a waker that re-enters (or runs the task
//! inline) cannot deadlock, and a task woken from another domain is scheduled on its own domain
//! by its waker. Plain threads wait through [`block_on`](crate::channel::block_on), whose waker
//! unparks the thread.
//!
//! The loom models at the end of this file run this code: `loom_handoff_release_vs_cancel`
//! (a release racing with the cancellation of the waiter it grants to: the unit ends with the
//! other waiter, never lost or duplicated), `loom_handoff_release_vs_new_acquire` (a release
//! racing with a newcomer's acquire: the queued waiter gets the unit first) and
//! `loom_handoff_grant_many_vs_cancel` (several units freed at once, as when a limiter's total
//! is raised, while a granted waiter is cancelled).

use std::task::{Context, Poll, ready};

pub(crate) use crate::channel::Take;
use crate::channel::Waiters;
use crate::scheduler::coop;

/// The free units of a hand-off primitive.
pub(crate) trait Units {
    /// Takes one free unit for a waiter (the head of the list, or a newcomer when nobody
    /// waits), if there is one.
    fn grant(&mut self) -> bool;
    /// Puts one unit back (it becomes free, or, for a limiter whose total shrank, disappears).
    fn put(&mut self);
}

/// The first-poll rule of a plain FIFO primitive: take a free unit only if nobody waits.
pub(crate) fn fifo<S: Units>(units: &mut S, waiting: usize) -> Take {
    if waiting == 0 && units.grant() {
        Take::Taken
    } else {
        Take::Wait
    }
}

/// A count of units and the FIFO list of their waiters (see the module docs).
pub(crate) struct HandOff<S> {
    waiters: Waiters<S>,
}

impl<S: Units> HandOff<S> {
    pub(crate) fn new(state: S) -> HandOff<S> {
        HandOff {
            waiters: Waiters::with_state(state),
        }
    }

    /// Runs `f` on the units under the mutex; `f` also gets the number of waiting waiters.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut S, usize) -> R) -> R {
        self.waiters.with(f)
    }

    /// The number of waiters queued (not yet granted).
    pub(crate) fn waiting(&self) -> usize {
        self.waiters.waiting()
    }

    /// Takes a unit now, if one is free and nobody is waiting (FIFO).
    pub(crate) fn try_acquire(&self) -> bool {
        self.waiters
            .with(|units, waiting| fifo(units, waiting) == Take::Taken)
    }

    /// One poll of an acquire (see the module docs). `key` is the caller's entry; it is `None`
    /// again once this returns `Ready(Ok)`. `first` decides a newcomer's first poll (normally
    /// [`fifo`]); `Ready(Err)` when it refused.
    pub(crate) fn poll_acquire(
        &self,
        key: &mut Option<usize>,
        cx: &mut Context<'_>,
        first: impl FnOnce(&mut S, usize) -> Take,
    ) -> Poll<Result<(), ()>> {
        let coop = ready!(coop::poll_proceed(cx));
        match self.waiters.poll_grant(key, cx.waker(), first) {
            Take::Taken => {
                coop.made_progress();
                Poll::Ready(Ok(()))
            }
            Take::Wait => Poll::Pending,
            Take::Refused => Poll::Ready(Err(())),
        }
    }

    /// Releases one unit: to the oldest waiter, or back to the count.
    pub(crate) fn release(&self) {
        self.waiters.put_and_grant(S::put, S::grant);
    }

    /// Runs `put` on the units under the mutex (it may put back units, refuse, or change the
    /// count), then grants free units to the waiters, oldest first. Returns `put`'s result.
    pub(crate) fn release_with<R>(&self, put: impl FnOnce(&mut S) -> R) -> R {
        self.waiters.put_and_grant(put, S::grant)
    }

    /// Leaves the list without releasing anything; returns whether a unit had been granted to
    /// the entry (the caller then owns it and must release it).
    pub(crate) fn withdraw(&self, key: &mut Option<usize>) -> bool {
        self.waiters.remove(key)
    }

    /// The drop of an acquire that did not complete: leaves the list, releasing the unit again
    /// if one had been granted to the entry. Returns whether one had been.
    pub(crate) fn cancel(&self, key: &mut Option<usize>) -> bool {
        let granted = self.waiters.remove(key);
        if granted {
            self.release();
        }
        granted
    }
}

/// An acquire in progress on a [`HandOff`]: the entry key, and whether the acquire completed
/// (then dropping it releases nothing). Its drop is [`HandOff::cancel`].
pub(crate) struct Acquire<'a, S: Units> {
    pub(crate) core: &'a HandOff<S>,
    key: Option<usize>,
    done: bool,
}

impl<'a, S: Units> Acquire<'a, S> {
    pub(crate) fn new(core: &'a HandOff<S>) -> Acquire<'a, S> {
        Acquire {
            core,
            key: None,
            done: false,
        }
    }

    /// Polls with the plain FIFO rule.
    pub(crate) fn poll_fifo(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.poll_with(cx, fifo)
            .map(|r| r.expect("the FIFO rule never refuses"))
    }

    /// Polls with `first` as the newcomer rule. Once this returned `Ready`, the drop does
    /// nothing.
    pub(crate) fn poll_with(
        &mut self,
        cx: &mut Context<'_>,
        first: impl FnOnce(&mut S, usize) -> Take,
    ) -> Poll<Result<(), ()>> {
        assert!(!self.done, "acquire future polled after completion");
        let out = ready!(self.core.poll_acquire(&mut self.key, cx, first));
        self.done = true;
        Poll::Ready(out)
    }

    /// Whether the acquire has an entry in the list (it waited at least once).
    pub(crate) fn is_queued(&self) -> bool {
        self.key.is_some()
    }

    /// Ends the acquire without releasing (the caller cleans up): returns whether a unit had
    /// been granted and is now the caller's.
    pub(crate) fn withdraw(&mut self) -> bool {
        self.done = true;
        self.core.withdraw(&mut self.key)
    }
}

impl<S: Units> Drop for Acquire<'_, S> {
    fn drop(&mut self) {
        if !self.done {
            self.core.cancel(&mut self.key);
        }
    }
}

/// A plain count of free units: the lock (0 or 1) and the semaphore.
#[derive(Debug)]
pub(crate) struct Count(pub(crate) usize);

impl Units for Count {
    fn grant(&mut self) -> bool {
        if self.0 > 0 {
            self.0 -= 1;
            true
        } else {
            false
        }
    }

    fn put(&mut self) {
        self.0 += 1;
    }
}

#[cfg(all(test, trellis_loom))]
mod loom_handoff {
    //! Loom models of the hand-off: a lost unit leaves a `block_on` parked forever (loom reports
    //! a deadlock); a duplicated one fails the count assertions.

    use super::*;
    use crate::channel::loom_chan::{block_on, poll_once};
    use loom::sync::Arc;
    use loom::thread;
    use std::future::Future;
    use std::pin::Pin;

    /// An acquire future over the real [`Acquire`] (what `LockFuture` is to `Lock`).
    struct Fut<'a>(Acquire<'a, Count>);

    impl Future for Fut<'_> {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.0.poll_fifo(cx)
        }
    }

    fn acquire(h: &HandOff<Count>) -> Fut<'_> {
        Fut(Acquire::new(h))
    }

    fn free(h: &HandOff<Count>) -> usize {
        h.with(|c, _| c.0)
    }

    #[test]
    fn loom_handoff_release_vs_cancel() {
        // One unit, held. Waiter A is queued first, waiter B (another thread) second. The holder
        // releases while A is cancelled: the unit goes to A (and A's drop passes it on) or past
        // A; either way B gets it, and once B releases it is free exactly once.
        loom::model(|| {
            let h = Arc::new(HandOff::new(Count(1)));
            assert!(h.try_acquire());
            let mut a = acquire(&h);
            assert!(poll_once(&mut a).is_pending());
            let h2 = h.clone();
            let b = thread::spawn(move || {
                block_on(acquire(&h2));
                assert_eq!(free(&h2), 0);
                h2.release();
            });
            let h3 = h.clone();
            let releaser = thread::spawn(move || h3.release());
            drop(a);
            releaser.join().unwrap();
            b.join().unwrap();
            assert_eq!(free(&h), 1, "a unit was lost or duplicated");
            assert_eq!(h.waiting(), 0);
        });
    }

    #[test]
    fn loom_handoff_release_vs_new_acquire() {
        // One unit, held; A is queued. The holder releases while B (a newcomer) tries to
        // acquire: B never gets the unit before A does.
        loom::model(|| {
            let h = Arc::new(HandOff::new(Count(1)));
            assert!(h.try_acquire());
            let mut a = acquire(&h);
            assert!(poll_once(&mut a).is_pending());
            let order = Arc::new(loom::sync::atomic::AtomicUsize::new(0));
            let (h2, o2) = (h.clone(), order.clone());
            let b = thread::spawn(move || {
                let got = h2.try_acquire();
                if got {
                    // Only possible once A has had the unit and released it.
                    assert_eq!(o2.load(loom::sync::atomic::Ordering::SeqCst), 1);
                    h2.release();
                }
            });
            let h3 = h.clone();
            let releaser = thread::spawn(move || h3.release());
            releaser.join().unwrap();
            // A was granted the unit: it completes without another release.
            block_on(&mut a);
            order.store(1, loom::sync::atomic::Ordering::SeqCst);
            h.release();
            b.join().unwrap();
            assert_eq!(free(&h), 1);
        });
    }

    #[test]
    fn loom_handoff_grant_many_vs_cancel() {
        // No unit free; A is queued. Two units are put at once (a limiter's total raised) while
        // A is cancelled and B (another thread) acquires: B gets a unit, and both units end free.
        loom::model(|| {
            let h = Arc::new(HandOff::new(Count(0)));
            let mut a = acquire(&h);
            assert!(poll_once(&mut a).is_pending());
            let h2 = h.clone();
            let b = thread::spawn(move || {
                block_on(acquire(&h2));
                h2.release();
            });
            let h3 = h.clone();
            let putter = thread::spawn(move || h3.release_with(|c| c.0 += 2));
            drop(a);
            putter.join().unwrap();
            b.join().unwrap();
            assert_eq!(free(&h), 2, "a unit was lost or duplicated");
            assert_eq!(h.waiting(), 0);
        });
    }
}
