//! The channel core shared by every [`Sender`](super::Sender) and
//! [`Receiver`](super::Receiver) of one channel: the value queue (crossbeam-channel), the state
//! word (closed flag and in-flight pushes) and the two waiter lists. The public handles and
//! futures in `mpmc.rs` are thin wrappers around the methods here.
//!
//! # Registration protocol (no lost wakeup)
//!
//! The queue is crossbeam-channel's lock-free queue, used only through its non-blocking
//! `try_send` / `try_recv`. Waiting is layered on top with two [`Waiters`] lists: `recv_waiters`
//! (receivers that found the queue empty) and `send_waiters` (senders that found a bounded queue
//! full; for a rendezvous channel, senders waiting for the hand-off slot, see `rendezvous.rs`).
//! One protocol serves both directions; below, the receiver side, with "a value is available"
//! as the *condition*. For senders, swap push and pop and read "a slot is free".
//!
//! **Waiter** (a receive future's `poll`, [`Chan::poll_recv`]):
//!
//! 1. *Try.* Pop a value ([`Chan::try_recv`]). On success (or once the channel is closed and
//!    drained), go to step 5.
//! 2. *Register.* Put the task's waker in the waiter list (under the list's mutex, updating its
//!    `waiting` count; or, for a lone waiter, in the list's solo slot with a CAS, see `solo`);
//!    then issue a `SeqCst` fence, `F_w` ([`Waiters::register`]).
//! 3. *Re-check.* Try again, exactly as in step 1 (this reads the queue and the state word after
//!    `F_w`). On success, go to step 5.
//! 4. *Sleep.* Return `Pending`. When woken (its entry is then `Notified`), the task polls
//!    again from step 1; step 2 puts the entry back in the list.
//! 5. *Complete.* Remove the entry ([`Waiters::remove`]). If it had been notified, pass the
//!    notification on ([`Waiters::notify_one_if`]): after a `SeqCst` fence, if some other waiter
//!    waits and the condition may still hold for it (the queue is not empty), notify it (the
//!    queue is looked at only when someone waits). A future dropped while registered
//!    (cancelled) does the same.
//!
//! **Notifier** (a sender after a successful push, [`Chan::push`]; a receiver after a
//! successful pop of a bounded channel, waking a sender):
//!
//! - N1. Make the condition true: push the value.
//! - N2. Issue a `SeqCst` fence, `F_n`, then load the solo slot's state and `waiting`. Nobody
//!   waits: done. This is the warm path of every send and receive: one fence, two loads, no
//!   lock, no allocation.
//! - N3. Otherwise claim the solo slot's waiter if it waits, or else lock the list, unlink its
//!   oldest waiting entry (it becomes `Notified`) and unlock; then call the waker.
//!
//! **Why no wakeup is lost.** Take a waiter that returns `Pending` in step 4 and a notifier whose
//! push in N1 it did not see in step 3. `F_w` and `F_n` are `SeqCst` fences, so they are
//! totally ordered. If `F_n` came first, the waiter's step-3 pop (sequenced after `F_w`) would
//! observe the push (sequenced before `F_n`), so the value was seen, or taken by some other
//! receiver, in which case nobody needs this notification. So `F_w` came first, and the
//! notifier's load in N2 observes the registration: `waiting` is not zero unless another
//! notifier already took this entry, and that notifier wakes it. Either way N3 wakes one waiter
//! for the new value: perhaps not this one, but every woken waiter either takes a value or, in
//! step 5, passes the notification on while values remain, so a value never sits in the queue
//! while every waiter sleeps. Without the re-check (step 3), a push between steps 1 and 2 would
//! be missed: the notifier finds nobody waiting, and the waiter sleeps on a non-empty queue.
//! Without the fences, the registration and the re-check (or the push and the load of
//! `waiting`) could be reordered, with the same outcome. Without the pass-on in step 5, a
//! notified waiter that is cancelled, or that took an earlier value in its re-check, would
//! swallow the only wakeup of a value still queued.
//!
//! # Closing
//!
//! The state word holds the `CLOSED` bit and the number of pushes in flight (`PUSH` each).
//! Every push is bracketed: `fetch_add(PUSH)` (if `CLOSED` is already set, the push fails and
//! returns the value), the crossbeam push, `fetch_sub(PUSH)` ([`Chan::push`]). Closing is one
//! `fetch_or(CLOSED)` ([`Chan::close`]). A receiver reports `Closed` only after it saw the
//! state word equal to `CLOSED` exactly (closed, nothing in flight) and *then* found the queue
//! empty ([`Chan::try_recv`]): no push can start after that, and every push that started before
//! it has finished, so its value would have been seen. The bracket makes "check closed, then
//! push" atomic with respect to that decision; without it, a sender could read "open", a
//! receiver could decide "closed and empty", and the sender's push would then succeed with no
//! receiver left to take the value.
//!
//! The closing transition (the `fetch_or` when nothing is in flight, or else the `fetch_sub` of
//! the last push in flight) is a notifier for receivers, with `notify_all`; the `fetch_or`
//! itself notifies every waiting sender. The proof above applies unchanged: the waiter's
//! re-check reads the state word after `F_w`, and the notifier's transition is an `SeqCst` RMW
//! followed by `F_n`.
//!
//! Values still queued when the last receiver is dropped can never be received: they are
//! dropped at once, by the receiver's `Drop` or, if a push was in flight at that moment, by the
//! last push in flight when it finishes ([`Chan::release_receiver`], [`Chan::end_push`]). What
//! the queue holds when the channel itself is freed is dropped by crossbeam with it.
//!
//! # Loom
//!
//! The protocol is generic over the [`Queue`] it wraps, so the loom models at the end of this
//! file run this very code on a loom-modelled stand-in queue (crossbeam-channel cannot be
//! modelled): `loom_chan_send_vs_register`, `loom_chan_close_vs_register`,
//! `loom_chan_close_vs_inflight_send`, `loom_chan_full_send_vs_recv`,
//! `loom_chan_cancelled_waiter_passes_on`, `loom_chan_last_receiver_drop_vs_send`, and
//! `loom_rendezvous_*` for the hand-off; `loom_solo_*` in `solo.rs` for the solo slot.

use std::marker::PhantomData;
use std::task::{Context, Poll, ready};

use crossbeam_utils::CachePadded;

use super::error::{RecvError, SendError, TryRecvError, TrySendError};
use super::rendezvous::Rendezvous;
use super::waiters::Waiters;
use crate::loom::sync::atomic::{AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};
use crate::scheduler::coop;

/// State bit: the channel is closed; no push may start.
const CLOSED: usize = 1;
/// State unit: one push in flight (between its `fetch_add` and its `fetch_sub`).
const PUSH: usize = 2;

/// The storage a channel wraps: a lock-free MPMC queue with non-blocking operations.
pub(crate) trait Queue<T> {
    /// Pushes `value`, or gives it back if the queue is full.
    fn try_push(&self, value: T) -> Result<(), T>;
    /// Pops the oldest value, if any.
    fn try_pop(&self) -> Option<T>;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool;
    fn is_full(&self) -> bool;
}

/// A crossbeam-channel queue. The core holds both ends, so crossbeam never sees a disconnect:
/// closing is the core's own state word.
pub(crate) struct CbQueue<T> {
    tx: crossbeam_channel::Sender<T>,
    rx: crossbeam_channel::Receiver<T>,
}

impl<T> CbQueue<T> {
    pub(crate) fn bounded(cap: usize) -> CbQueue<T> {
        let (tx, rx) = crossbeam_channel::bounded(cap);
        CbQueue { tx, rx }
    }

    pub(crate) fn unbounded() -> CbQueue<T> {
        let (tx, rx) = crossbeam_channel::unbounded();
        CbQueue { tx, rx }
    }
}

impl<T> Queue<T> for CbQueue<T> {
    #[inline]
    fn try_push(&self, value: T) -> Result<(), T> {
        self.tx.try_send(value).map_err(|e| match e {
            crossbeam_channel::TrySendError::Full(v)
            | crossbeam_channel::TrySendError::Disconnected(v) => v,
        })
    }

    #[inline]
    fn try_pop(&self) -> Option<T> {
        self.rx.try_recv().ok()
    }

    fn len(&self) -> usize {
        self.rx.len()
    }

    fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }

    fn is_full(&self) -> bool {
        self.tx.is_full()
    }
}

/// The shared state of one channel (see the module docs).
pub(crate) struct Chan<T, Q = CbQueue<T>> {
    /// `CLOSED` bit | `PUSH` × pushes in flight. Written by every push: padded away from the
    /// fields that receivers read.
    state: CachePadded<AtomicUsize>,
    pub(super) queue: Q,
    pub(super) recv_waiters: CachePadded<Waiters>,
    pub(super) send_waiters: CachePadded<Waiters>,
    /// Live `Sender` handles; the last one to drop closes the channel.
    senders: AtomicUsize,
    /// Live `Receiver` handles; the last one to drop closes the channel and drops what is queued.
    receivers: AtomicUsize,
    /// `None`: unbounded; `Some(0)`: rendezvous.
    capacity: Option<usize>,
    /// The hand-off state of a rendezvous channel (`capacity == Some(0)`).
    pub(super) rendezvous: Option<Rendezvous>,
    _values: PhantomData<fn(T) -> T>,
}

impl<T> Chan<T> {
    /// A channel holding up to `cap` values, or a rendezvous channel for `cap == 0`.
    pub(crate) fn bounded(cap: usize) -> Chan<T> {
        if cap == 0 {
            // The hand-off goes through a one-slot queue; see `rendezvous.rs`.
            Chan::new(CbQueue::bounded(1), Some(0))
        } else {
            Chan::new(CbQueue::bounded(cap), Some(cap))
        }
    }

    pub(crate) fn unbounded() -> Chan<T> {
        Chan::new(CbQueue::unbounded(), None)
    }
}

impl<T, Q: Queue<T>> Chan<T, Q> {
    /// A channel with one sender and one receiver handle.
    pub(crate) fn new(queue: Q, capacity: Option<usize>) -> Chan<T, Q> {
        Chan {
            state: CachePadded::new(AtomicUsize::new(0)),
            queue,
            recv_waiters: CachePadded::new(Waiters::new()),
            send_waiters: CachePadded::new(Waiters::new()),
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
            capacity,
            rendezvous: (capacity == Some(0)).then(Rendezvous::new),
            _values: PhantomData,
        }
    }

    pub(crate) fn capacity(&self) -> Option<usize> {
        self.capacity
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state.load(SeqCst) & CLOSED != 0
    }

    // -----------------------------------------------------------------------------------------
    // Handles

    pub(crate) fn add_sender(&self) {
        self.senders.fetch_add(1, Relaxed);
    }

    /// A `Sender` was dropped; the last one closes the channel.
    pub(crate) fn release_sender(&self) {
        if self.senders.fetch_sub(1, SeqCst) == 1 {
            self.close();
        }
    }

    pub(crate) fn add_receiver(&self) {
        self.receivers.fetch_add(1, Relaxed);
    }

    /// A `Receiver` was dropped; the last one closes the channel and drops every queued value
    /// (now or, if a push is in flight, when the last push in flight ends).
    pub(crate) fn release_receiver(&self) {
        if self.receivers.fetch_sub(1, SeqCst) != 1 {
            return;
        }
        // `close` drains itself when nothing is in flight. If the channel was already closed,
        // drain here when idle; otherwise the last push in flight sees `receivers == 0` (the
        // SeqCst `fetch_sub` above precedes our load below, and its `fetch_sub` precedes its
        // load of `receivers`: one of the two sees the other) and drains.
        if !self.close() && self.state.load(SeqCst) == CLOSED {
            self.drain();
        }
    }

    // -----------------------------------------------------------------------------------------
    // Close

    /// Closes the channel; returns whether this call closed it. Wakes every waiting sender now,
    /// and every waiting receiver once no push is in flight.
    pub(crate) fn close(&self) -> bool {
        let prev = self.state.fetch_or(CLOSED, SeqCst);
        if prev & CLOSED != 0 {
            return false;
        }
        self.send_waiters.notify_all();
        if let Some(r) = &self.rendezvous {
            r.ack.notify_all();
        }
        if prev == 0 {
            self.closed_and_idle();
        }
        true
    }

    /// The channel is closed and no push is in flight (this runs once per such transition):
    /// receivers can now tell "closed and empty" for sure.
    fn closed_and_idle(&self) {
        self.recv_waiters.notify_all();
        if self.receivers.load(SeqCst) == 0 {
            self.drain();
        }
    }

    /// Drops every queued value (no receiver is left to take them). A rendezvous channel's
    /// offered value belongs to its waiting sender, which takes it back (`rendezvous.rs`).
    fn drain(&self) {
        if self.rendezvous.is_none() {
            while let Some(v) = self.queue.try_pop() {
                drop(v);
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Push and pop

    /// Pushes `value` unless the channel is closed or full, then notifies one receiver.
    pub(super) fn push(&self, value: T) -> Result<(), TrySendError<T>> {
        // Start the bracket: from here until `end_push`, receivers do not conclude "closed".
        let prev = self.state.fetch_add(PUSH, SeqCst);
        let res = if prev & CLOSED != 0 {
            Err(TrySendError::Closed(value))
        } else {
            self.queue.try_push(value).map_err(TrySendError::Full)
        };
        self.end_push();
        if res.is_ok() {
            self.recv_waiters.notify_one();
        }
        res
    }

    /// Ends a push bracket. The last push in flight after close is the closing transition.
    fn end_push(&self) {
        if self.state.fetch_sub(PUSH, SeqCst) == CLOSED | PUSH {
            self.closed_and_idle();
        }
    }

    /// Pops a value; after a pop, a bounded channel has room, so it notifies one sender (a
    /// rendezvous channel acknowledges the hand-off instead).
    #[inline]
    fn pop(&self) -> Option<T> {
        let v = self.queue.try_pop()?;
        if let Some(r) = &self.rendezvous {
            r.taken();
        } else if self.capacity.is_some() {
            self.send_waiters.notify_one();
        }
        Some(v)
    }

    /// `Sender::try_send`.
    pub(crate) fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        if self.rendezvous.is_some() {
            return self.try_send_rendezvous(value);
        }
        self.push(value)
    }

    /// `Receiver::try_recv`: a value, or `Empty`, or `Closed` once closed, idle and empty.
    pub(crate) fn try_recv(&self) -> Result<T, TryRecvError> {
        if let Some(v) = self.pop() {
            return Ok(v);
        }
        if self.state.load(SeqCst) == CLOSED {
            // Closed and nothing in flight: no push can start, and every push that ran is
            // visible now (it ended with a SeqCst `fetch_sub` that this load reads or follows),
            // so one more look settles it.
            return self.pop().ok_or(TryRecvError::Closed);
        }
        Err(TryRecvError::Empty)
    }

    // -----------------------------------------------------------------------------------------
    // Waiting (the protocol in the module docs)

    /// One poll of a receive: steps 1-5 of the protocol. `key` is the caller's waiter entry.
    pub(crate) fn poll_recv(
        &self,
        key: &mut Option<usize>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, RecvError>> {
        let coop = ready!(coop::poll_proceed(cx));
        let res = match self.try_recv() {
            Err(TryRecvError::Empty) => {
                self.recv_waiters.register(key, cx.waker());
                match self.try_recv() {
                    Err(TryRecvError::Empty) => return Poll::Pending,
                    res => res,
                }
            }
            res => res,
        };
        self.cancel_recv(key);
        coop.made_progress();
        Poll::Ready(res.map_err(|_| RecvError))
    }

    /// Step 5 for a receiver that stops waiting (it completed, or its future is dropped):
    /// leave the list, passing a notification on while values remain.
    pub(crate) fn cancel_recv(&self, key: &mut Option<usize>) {
        if self.recv_waiters.remove(key) {
            self.recv_waiters.notify_one_if(|| !self.queue.is_empty());
        }
    }

    /// One poll of a send on a bounded or unbounded channel: the protocol with the roles
    /// swapped. The value stays in `value` while pending.
    pub(crate) fn poll_send(
        &self,
        value: &mut Option<T>,
        key: &mut Option<usize>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), SendError<T>>> {
        let coop = ready!(coop::poll_proceed(cx));
        let v = value
            .take()
            .expect("a channel send future was polled after it completed");
        let res = match self.push(v) {
            Err(TrySendError::Full(v)) => {
                self.send_waiters.register(key, cx.waker());
                match self.push(v) {
                    Err(TrySendError::Full(v)) => {
                        *value = Some(v);
                        return Poll::Pending;
                    }
                    res => res,
                }
            }
            res => res,
        };
        self.cancel_send(key);
        coop.made_progress();
        Poll::Ready(res.map_err(|e| SendError(e.into_inner())))
    }

    /// Step 5 for a sender that stops waiting: leave the list, passing a notification on while
    /// there is room.
    pub(crate) fn cancel_send(&self, key: &mut Option<usize>) {
        if self.send_waiters.remove(key) {
            self.send_waiters.notify_one_if(|| !self.queue.is_full());
        }
    }
}

#[cfg(all(test, trellis_loom))]
pub(crate) mod loom_chan {
    //! Loom models of the registration and close protocols, on the real `Chan` code with a
    //! modelled queue. A lost wakeup leaves `block_on` parked forever, which loom reports as a
    //! deadlock.

    use super::*;
    use crate::loom::sync::atomic::Ordering::{Acquire, Release};
    use crate::loom::sync::{Condvar, Mutex};
    use loom::sync::Arc;
    use loom::thread;
    use std::future::Future;
    use std::pin::{Pin, pin};
    use std::task::{Wake, Waker};

    /// Runs `fut` to completion on this loom thread. Unlike `loom::future::block_on`, it never
    /// wakes up spuriously: a spurious wakeup re-polls the future and would hide exactly the
    /// lost wakeups these models look for (a waiter whose notification went astray finds the
    /// value when it is polled again anyway).
    pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
        struct Flag {
            woken: Mutex<bool>,
            cv: Condvar,
        }
        impl Wake for Flag {
            fn wake(self: std::sync::Arc<Self>) {
                self.wake_by_ref();
            }
            fn wake_by_ref(self: &std::sync::Arc<Self>) {
                *self.woken.lock().unwrap() = true;
                self.cv.notify_one();
            }
        }
        let flag = std::sync::Arc::new(Flag {
            woken: Mutex::new(false),
            cv: Condvar::new(),
        });
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        let mut fut = pin!(fut);
        loop {
            if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                return out;
            }
            let mut woken = flag.woken.lock().unwrap();
            while !*woken {
                woken = flag.cv.wait(woken).unwrap();
            }
            *woken = false;
        }
    }

    /// A queue of `()` as a counter: `try_push` and `try_pop` are CAS loops that start with a
    /// plain (non-`SeqCst`) load, so the model does not lend the protocol any ordering that
    /// crossbeam's queue does not promise.
    pub(crate) struct ModelQueue {
        len: AtomicUsize,
        cap: usize,
    }

    impl ModelQueue {
        pub(crate) fn new(cap: usize) -> ModelQueue {
            ModelQueue {
                len: AtomicUsize::new(0),
                cap,
            }
        }
    }

    impl Queue<()> for ModelQueue {
        fn try_push(&self, (): ()) -> Result<(), ()> {
            let mut n = self.len.load(Relaxed);
            loop {
                if n == self.cap {
                    return Err(());
                }
                match self.len.compare_exchange(n, n + 1, Release, Relaxed) {
                    Ok(_) => return Ok(()),
                    Err(actual) => n = actual,
                }
            }
        }
        fn try_pop(&self) -> Option<()> {
            let mut n = self.len.load(Acquire);
            loop {
                if n == 0 {
                    return None;
                }
                match self.len.compare_exchange(n, n - 1, Acquire, Acquire) {
                    Ok(_) => return Some(()),
                    Err(actual) => n = actual,
                }
            }
        }
        fn len(&self) -> usize {
            self.len.load(Acquire)
        }
        fn is_empty(&self) -> bool {
            self.len() == 0
        }
        fn is_full(&self) -> bool {
            self.len() == self.cap
        }
    }

    pub(crate) type ModelChan = Chan<(), ModelQueue>;

    pub(crate) fn chan(cap: usize) -> Arc<ModelChan> {
        Arc::new(Chan::new(ModelQueue::new(cap.max(1)), Some(cap)))
    }

    /// A receive future on the model channel (what `RecvFuture` is to `Chan`).
    pub(crate) struct Recv<'a> {
        pub(crate) chan: &'a ModelChan,
        pub(crate) key: Option<usize>,
    }

    impl Future for Recv<'_> {
        type Output = Result<(), RecvError>;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            let this = &mut *self;
            this.chan.poll_recv(&mut this.key, cx)
        }
    }

    impl Drop for Recv<'_> {
        fn drop(&mut self) {
            self.chan.cancel_recv(&mut self.key);
        }
    }

    pub(crate) fn recv(chan: &ModelChan) -> Recv<'_> {
        Recv { chan, key: None }
    }

    /// A send future on the model channel (bounded, not rendezvous).
    struct Send<'a> {
        chan: &'a ModelChan,
        value: Option<()>,
        key: Option<usize>,
    }

    impl Future for Send<'_> {
        type Output = Result<(), SendError<()>>;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            let this = &mut *self;
            this.chan.poll_send(&mut this.value, &mut this.key, cx)
        }
    }

    impl Drop for Send<'_> {
        fn drop(&mut self) {
            self.chan.cancel_send(&mut self.key);
        }
    }

    /// Polls `fut` once with a no-op waker.
    pub(crate) fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        Pin::new(fut).poll(&mut cx)
    }

    #[test]
    fn loom_chan_send_vs_register() {
        // A push racing with a receiver's registration: the receiver must wake up.
        loom::model(|| {
            let c = chan(1);
            let c2 = c.clone();
            let t = thread::spawn(move || c2.try_send(()).unwrap());
            assert_eq!(block_on(recv(&c)), Ok(()));
            t.join().unwrap();
        });
    }

    #[test]
    fn loom_chan_close_vs_register() {
        // A close racing with a receiver's registration: the receiver must see `Closed`.
        loom::model(|| {
            let c = chan(1);
            let c2 = c.clone();
            let t = thread::spawn(move || assert!(c2.close()));
            assert_eq!(block_on(recv(&c)), Err(RecvError));
            t.join().unwrap();
        });
    }

    #[test]
    fn loom_chan_close_vs_inflight_send() {
        // A send racing with close and a waiting receiver: a send that succeeded is received
        // before `Closed`; a send that failed is not. Then the channel is closed and empty.
        loom::model(|| {
            let c = chan(1);
            let (c1, c2) = (c.clone(), c.clone());
            let sender = thread::spawn(move || c1.try_send(()).is_ok());
            let closer = thread::spawn(move || c2.close());
            let mut received = 0;
            while block_on(recv(&c)).is_ok() {
                received += 1;
            }
            let sent = sender.join().unwrap();
            assert!(closer.join().unwrap());
            assert_eq!(received, usize::from(sent));
            assert!(c.queue.is_empty());
        });
    }

    #[test]
    fn loom_chan_full_send_vs_recv() {
        // A sender waiting on a full channel must wake when a receiver frees the slot.
        loom::model(|| {
            let c = chan(1);
            c.try_send(()).unwrap();
            let c2 = c.clone();
            let t = thread::spawn(move || {
                let send = Send {
                    chan: &c2,
                    value: Some(()),
                    key: None,
                };
                assert_eq!(block_on(send), Ok(()));
            });
            assert_eq!(block_on(recv(&c)), Ok(()));
            t.join().unwrap();
            assert_eq!(c.try_recv(), Ok(()));
        });
    }

    #[test]
    fn loom_chan_cancelled_waiter_passes_on() {
        // Two receivers wait, the cancelled one first in line; one value arrives. If the
        // notification goes to the cancelled receiver, its drop must pass it on, or the other
        // one sleeps forever.
        loom::model(|| {
            let c = chan(1);
            let mut first = recv(&c);
            assert!(poll_once(&mut first).is_pending()); // registered, head of the list
            let (c1, c2) = (c.clone(), c.clone());
            let waiter = thread::spawn(move || block_on(recv(&c1)));
            let sender = thread::spawn(move || c2.try_send(()).unwrap());
            drop(first); // cancelled: before, or after, it is notified
            assert_eq!(waiter.join().unwrap(), Ok(()));
            sender.join().unwrap();
        });
    }

    #[test]
    fn loom_chan_last_receiver_drop_vs_send() {
        // The last receiver drops while a push may be in flight: the value is returned to the
        // sender or dropped (drained), never left queued.
        loom::model(|| {
            let c = chan(1);
            let c2 = c.clone();
            let t = thread::spawn(move || c2.try_send(()).is_ok());
            c.release_receiver();
            let _sent = t.join().unwrap();
            assert!(c.is_closed());
            assert!(c.queue.is_empty(), "a value outlived the last receiver");
        });
    }
}
