//! The rendezvous hand-off (`bounded(0)`): a send completes only once a receiver took its value.
//!
//! A crossbeam zero-capacity channel cannot serve here: its `try_send` succeeds only while a
//! receiver is blocked inside crossbeam's own `recv`, which an async receiver never is. Instead
//! the value goes through a one-slot queue, and the sender waits for an acknowledgement.
//!
//! # Semantics
//!
//! - `send(v).await` returns `Ok(())` only after a receiver's `recv`/`try_recv` took `v`.
//! - While a sender waits, `v` is *offered*: `len()` is 1 and any receiver may take it.
//! - One sender offers at a time; the others wait for the hand-off slot, in FIFO order (a
//!   sender that arrives while the slot is free may take it first).
//! - If the channel closes while `v` is offered and no receiver has taken it, the send takes
//!   `v` back and fails with `SendError(v)`; if a receiver took it first, the send succeeds.
//!   Receivers may take the offered value after close, like any queued value.
//! - Dropping a pending send future takes `v` back (it is dropped with the future) unless a
//!   receiver already took it, and frees the slot for the next sender.
//! - `try_send` always fails (`Full`, or `Closed`): with no waiting, a sender cannot learn that
//!   its value was taken. Receivers' `try_recv` takes an offered value.
//!
//! # Protocol
//!
//! State: `held` (a sender owns the hand-off slot), `offered` (how many values holders have
//! pushed; only the holder touches it), `taken` (how many values receivers have popped), and the
//! `ack` waiter list, where the holder waits.
//!
//! 1. *Acquire.* A sender takes the slot with a CAS on `held` (`false → true`). If it is held,
//!    the sender waits in `send_waiters` with the registration protocol of `chan.rs` (register,
//!    re-try the CAS, sleep); the condition is "the slot is free", made true by step 4.
//! 2. *Offer.* The holder takes ticket `t = offered`, sets `offered = t + 1`, and pushes its
//!    value through `Chan::push` (which fails if the channel is closed, and wakes a receiver).
//!    Holders are serialised by `held`, and a holder releases the slot only once its value has
//!    left the queue, so the one-slot queue is empty at every offer and the pushes, hence the
//!    pops, happen in ticket order.
//! 3. *Wait for the take.* The `t`-th pop (counting from 0) takes the holder's value, and every
//!    receiver increments `taken` after its pop, then notifies `ack`. `taken > t` therefore
//!    means "my value was taken": pops of later tickets cannot happen before the holder's, and
//!    an increment for an earlier ticket that lags (its holder was cancelled after the take)
//!    only delays the answer. The holder waits with the registration protocol on `ack`
//!    (register, re-check `taken` and `CLOSED`, sleep).
//! 4. *Release.* `held = false`, then notify one sender in `send_waiters`.
//!
//! *Take back* (close, or the future is dropped while offering): the holder pops from the queue
//! itself, without counting in `taken`. Only its own value can be there, and crossbeam's pop
//! gives it to exactly one of the holder and a racing receiver: if the holder gets it, it
//! restores `offered = t` (no ticket was consumed) and owns the value again; if not, a receiver
//! took it and the send succeeded. Either way the holder then releases the slot (step 4).
//!
//! # Cancellation (atomic: sent and says so, or sent nothing)
//!
//! Once its value is offered, a send has an effect in flight: a receiver may take the value at
//! any moment, also between the send's last poll and the moment its cancelled scope would drop
//! it. Dropped then, the send could not report the delivery (its scope says "cancelled"), and a
//! retry would duplicate the value. So:
//!
//! 5. *Hold.* Before the holder returns `Pending` in step 3, it takes an [`OpHold`] on its cancel
//!    scopes: a cancelled scope keeps polling its body instead of dropping it.
//! 6. *Settle.* A poll of an offering send that finds its scope cancelled settles at once, in
//!    that poll: if `taken > t`, or the take-back finds the queue empty (a receiver popped and
//!    has yet to count), the value was delivered: release the slot and return `Ok(())`. Else the
//!    take-back got the value: the send did nothing; it keeps the value, releases the slot and
//!    returns `Pending`. Either way the hold is released, so the scope drops the body at its
//!    next look (after a `Pending`) or sees it complete.
//!
//! The take-back and a receiver's pop are the two sides of one crossbeam pop of the one value,
//! so exactly one of them gets it: the outcome cannot be both "delivered" and "taken back".
//! A send future dropped by other means (its task aborted, the future dropped by hand) still
//! takes its value back when it can; a value a receiver already took stays delivered.
//!
//! The loom models `loom_rendezvous_*` in this file check the hand-off, close against an offer,
//! and a cancelled holder (the take-back racing a receiver's pop, which step 6 relies on).

use std::task::{Context, Poll, ready};

use super::chan::{Chan, Queue};
use super::error::{SendError, TrySendError};
use super::waiters::Waiters;
use crate::loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};
use crate::scheduler::coop;
use crate::scope::OpHold;

/// An offered value's hand-off state, owned by the send future (steps 2-6).
pub(crate) struct Offer {
    /// The ticket taken at the offer (step 2).
    ticket: usize,
    /// Holds the sender's cancel scopes while it waits for the take (step 5).
    hold: Option<OpHold>,
}

/// The hand-off state of a rendezvous channel (see the module docs).
pub(crate) struct Rendezvous {
    /// A sender owns the hand-off slot.
    held: AtomicBool,
    /// Values pushed by holders (wrapping). Only the holder reads or writes it; `held`'s
    /// acquire/release hand-over orders the accesses of successive holders.
    offered: AtomicUsize,
    /// Values popped by receivers (wrapping).
    taken: AtomicUsize,
    /// Where the holder waits for its value to be taken.
    pub(super) ack: Waiters,
}

impl Rendezvous {
    pub(super) fn new() -> Rendezvous {
        Rendezvous {
            held: AtomicBool::new(false),
            offered: AtomicUsize::new(0),
            taken: AtomicUsize::new(0),
            ack: Waiters::new(),
        }
    }

    /// A receiver popped a value: acknowledge it to the holder.
    pub(super) fn taken(&self) {
        self.taken.fetch_add(1, SeqCst);
        self.ack.notify_one();
    }

    fn try_acquire(&self) -> bool {
        !self.held.load(Relaxed)
            && self
                .held
                .compare_exchange(false, true, SeqCst, Relaxed)
                .is_ok()
    }

    /// Whether the value with ticket `t` has been taken (`taken > t`, wrapping).
    fn taken_past(&self, t: usize) -> bool {
        (self.taken.load(SeqCst).wrapping_sub(t.wrapping_add(1)) as isize) >= 0
    }
}

impl<T, Q: Queue<T>> Chan<T, Q> {
    fn rendezvous(&self) -> &Rendezvous {
        self.rendezvous
            .as_ref()
            .expect("rendezvous operation on a buffered channel")
    }

    /// Step 4: free the slot and wake the next sender.
    fn release_slot(&self) {
        self.rendezvous().held.store(false, SeqCst);
        self.send_waiters.notify_one();
    }

    /// Takes back the offered value with ticket `t` (`Err` holds it), or learns that a receiver
    /// took it (`Ok`). The caller still holds the slot.
    fn take_back(&self, t: usize) -> Result<(), SendError<T>> {
        match self.queue.try_pop() {
            Some(v) => {
                self.rendezvous().offered.store(t, Relaxed);
                Err(SendError(v))
            }
            None => Ok(()),
        }
    }

    /// One poll of a send on a rendezvous channel (steps 1-6 of the module docs). `key` is the
    /// entry in `send_waiters` while `offer` is `None` (waiting for the slot), and in `ack` once
    /// the value is offered (`offer` is then `Some`).
    pub(crate) fn poll_send_rendezvous(
        &self,
        value: &mut Option<T>,
        key: &mut Option<usize>,
        offer: &mut Option<Offer>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), SendError<T>>> {
        let r = self.rendezvous();
        if let Some(o) = offer.as_ref() {
            if crate::scope::is_cancelled() {
                // Step 6: settle now, before the checkpoint below would return `Pending`
                // with the hand-off undecided.
                let t = o.ticket;
                r.ack.remove(key);
                let res = if r.taken_past(t) {
                    Ok(())
                } else {
                    self.take_back(t)
                };
                *offer = None; // releases the hold
                self.release_slot();
                return match res {
                    Ok(()) => Poll::Ready(Ok(())),
                    Err(SendError(v)) => {
                        // Nothing was sent: the scope drops this future at this checkpoint.
                        *value = Some(v);
                        Poll::Pending
                    }
                };
            }
        }
        let coop = ready!(coop::poll_proceed(cx));
        let t = match offer.as_ref() {
            Some(o) => o.ticket,
            None => {
                // Checked first: a future polled after completion must not take the slot.
                assert!(
                    value.is_some(),
                    "a channel send future was polled after it completed"
                );
                // Step 1: acquire the slot (registration protocol on `send_waiters`).
                let acquired = r.try_acquire()
                    || !self.is_closed() && {
                        self.send_waiters.register(key, cx.waker());
                        if r.try_acquire() {
                            true
                        } else if self.is_closed() {
                            false
                        } else {
                            return Poll::Pending;
                        }
                    };
                let v = value.take().expect("checked above");
                if !acquired {
                    // Closed while waiting for the slot.
                    self.cancel_slot_wait(key);
                    coop.made_progress();
                    return Poll::Ready(Err(SendError(v)));
                }
                // We hold the slot: our entry leaves the list (a notification it got is the one
                // that freed the slot for us, used now).
                self.send_waiters.remove(key);
                // Step 2: offer.
                let t = r.offered.load(Relaxed);
                r.offered.store(t.wrapping_add(1), Relaxed);
                if let Err(e) = self.push(v) {
                    // Closed: the one-slot queue is empty while we hold the slot, so never full.
                    debug_assert!(e.is_closed(), "rendezvous slot occupied at offer");
                    r.offered.store(t, Relaxed);
                    self.release_slot();
                    coop.made_progress();
                    return Poll::Ready(Err(SendError(e.into_inner())));
                }
                *offer = Some(Offer {
                    ticket: t,
                    hold: None,
                });
                t
            }
        };
        // Step 3: wait until a receiver took the value (registration protocol on `ack`), or take
        // it back if the channel closes first.
        let res = if r.taken_past(t) {
            Ok(())
        } else if self.is_closed() {
            self.take_back(t)
        } else {
            r.ack.register(key, cx.waker());
            if r.taken_past(t) {
                Ok(())
            } else if self.is_closed() {
                self.take_back(t)
            } else {
                // Step 5: from now on a cancelled scope polls us (step 6) before dropping us.
                if let Some(o) = offer.as_mut() {
                    if o.hold.is_none() {
                        o.hold = OpHold::current();
                    }
                }
                return Poll::Pending;
            }
        };
        // Step 4.
        r.ack.remove(key);
        *offer = None; // releases the hold
        self.release_slot();
        coop.made_progress();
        Poll::Ready(res)
    }

    /// A sender that waited for the slot stops waiting: pass a notification on while the slot
    /// is free.
    fn cancel_slot_wait(&self, key: &mut Option<usize>) {
        if self.send_waiters.remove(key) {
            self.send_waiters
                .notify_one_if(|| !self.rendezvous().held.load(SeqCst));
        }
    }

    /// The rendezvous send future is dropped: leave the slot queue, or take the offered value
    /// back (it is dropped here, with the future) unless a receiver took it, and free the slot.
    pub(crate) fn cancel_send_rendezvous(
        &self,
        key: &mut Option<usize>,
        offer: &mut Option<Offer>,
    ) {
        match offer.take() {
            None => self.cancel_slot_wait(key),
            Some(o) => {
                self.rendezvous().ack.remove(key);
                let taken_back = self.take_back(o.ticket);
                self.release_slot();
                drop(o); // releases the hold
                drop(taken_back);
            }
        }
    }

    /// `try_send` on a rendezvous channel: never a free slot (see the module docs).
    pub(crate) fn try_send_rendezvous(&self, value: T) -> Result<(), TrySendError<T>> {
        Err(if self.is_closed() {
            TrySendError::Closed(value)
        } else {
            TrySendError::Full(value)
        })
    }
}

#[cfg(all(test, trellis_loom))]
mod loom_rendezvous {
    use super::super::chan::loom_chan::{ModelChan, block_on, chan, poll_once, recv};
    use super::*;
    use loom::thread;
    use std::future::Future;
    use std::pin::Pin;

    struct Send<'a> {
        chan: &'a ModelChan,
        value: Option<()>,
        key: Option<usize>,
        ticket: Option<Offer>,
    }

    impl Future for Send<'_> {
        type Output = Result<(), SendError<()>>;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            let this = &mut *self;
            this.chan
                .poll_send_rendezvous(&mut this.value, &mut this.key, &mut this.ticket, cx)
        }
    }

    impl Drop for Send<'_> {
        fn drop(&mut self) {
            self.chan
                .cancel_send_rendezvous(&mut self.key, &mut self.ticket);
        }
    }

    fn send(chan: &ModelChan) -> Send<'_> {
        Send {
            chan,
            value: Some(()),
            key: None,
            ticket: None,
        }
    }

    #[test]
    fn loom_rendezvous_handoff() {
        // The send completes only after the receiver took the value, and both complete.
        loom::model(|| {
            let c = chan(0);
            let c2 = c.clone();
            let t = thread::spawn(move || {
                assert_eq!(block_on(send(&c2)), Ok(()));
                assert!(
                    c2.rendezvous().taken_past(0),
                    "send completed before the take"
                );
            });
            assert_eq!(block_on(recv(&c)), Ok(()));
            t.join().unwrap();
            assert!(c.queue.is_empty());
        });
    }

    #[test]
    fn loom_rendezvous_close_vs_offer() {
        // Close races with an offer and a receiver's take: the send succeeds exactly when the
        // receiver got the value, and the value is never left in the queue.
        loom::model(|| {
            let c = chan(0);
            let (c1, c2) = (c.clone(), c.clone());
            let sender = thread::spawn(move || block_on(send(&c1)).is_ok());
            let closer = thread::spawn(move || c2.close());
            let got = block_on(recv(&c)).is_ok();
            let sent = sender.join().unwrap();
            assert!(closer.join().unwrap());
            assert_eq!(got, sent);
            assert!(c.queue.is_empty());
        });
    }

    #[test]
    fn loom_rendezvous_cancelled_holder() {
        // A holder is dropped right after its first poll, racing with a receiver's try_recv:
        // the value is received or taken back (exactly one), never left queued, and the slot
        // is free afterwards.
        loom::model(|| {
            let c = chan(0);
            let c1 = c.clone();
            let first = thread::spawn(move || {
                let mut s = send(&c1);
                let done = poll_once(&mut s);
                drop(s);
                done
            });
            let got = c.try_recv().is_ok();
            match first.join().unwrap() {
                Poll::Ready(Ok(())) => assert!(got, "send completed without a take"),
                Poll::Ready(Err(_)) => unreachable!("the channel is open"),
                Poll::Pending => {}
            }
            assert!(c.queue.is_empty());
            assert!(!c.rendezvous().held.load(SeqCst));
        });
    }

    #[test]
    fn loom_rendezvous_slot_handover() {
        // A second sender waits for the slot while the first offers; the first completes when
        // its value is taken and hands the slot over, and the second's value arrives.
        loom::model(|| {
            let c = chan(0);
            let mut first = send(&c);
            assert!(poll_once(&mut first).is_pending()); // offered, nobody took it yet
            let c2 = c.clone();
            let second = thread::spawn(move || block_on(send(&c2)));
            assert_eq!(c.try_recv(), Ok(()));
            assert_eq!(poll_once(&mut first), Poll::Ready(Ok(())));
            drop(first);
            assert_eq!(block_on(recv(&c)), Ok(()));
            assert_eq!(second.join().unwrap(), Ok(()));
        });
    }
}
