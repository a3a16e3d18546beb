//! Channels: how tasks on different domains (worker threads), and plain threads, pass values.
//!
//! - [`bounded(cap)`](bounded): a multi-producer multi-consumer queue of at most `cap` values;
//!   a send waits while it is full (back-pressure). `bounded(0)` is a *rendezvous* channel: a
//!   send completes only once a receiver has taken the value.
//! - [`unbounded()`](unbounded): never full; a send never waits.
//! - [`oneshot()`](oneshot()): one value, once, from one sender to one receiver (see
//!   [`oneshot`](mod@oneshot)).
//!
//! ```
//! use trellis::channel;
//!
//! let rt = trellis::Runtime::builder().workers(2).build().unwrap();
//! let (tx, rx) = channel::bounded::<u64>(16);
//!
//! // Producers on the workers, a consumer on a plain thread.
//! let consumer = std::thread::spawn(move || {
//!     let mut sum = 0;
//!     while let Ok(v) = rx.recv_blocking() {
//!         sum += v;
//!     }
//!     sum
//! });
//! rt.block_on(async move {
//!     let producers: Vec<_> = (0..4u64)
//!         .map(|p| {
//!             let tx = tx.clone();
//!             trellis::spawn(async move {
//!                 for i in 0..100 {
//!                     tx.send(p * 100 + i).await.unwrap();
//!                 }
//!             })
//!         })
//!         .collect();
//!     for p in producers {
//!         p.await.unwrap();
//!     }
//!     // The last sender is dropped here: the channel closes, the consumer drains and stops.
//! });
//! assert_eq!(consumer.join().unwrap(), (0..400).sum::<u64>());
//! ```
//!
//! # Guarantees
//!
//! - **Nothing is lost.** A value is received exactly once, or returned to the sender in the
//!   error of a failed send ([`SendError`], [`TrySendError`]), or dropped exactly once by the
//!   channel: the values still queued when the last [`Receiver`] is dropped are dropped right
//!   then (or, if a send was in progress at that moment, when it finishes), and whatever a
//!   channel holds when its last handle goes is dropped with it.
//! - **Order.** Values sent by one sender (one after the other) are received in that order.
//! - **Close.** A channel closes when [`Sender::close`] or [`Receiver::close`] is called, when
//!   the last `Sender` is dropped, or when the last `Receiver` is dropped. Closing wakes every
//!   waiting sender and receiver: sends fail from then on and return their value; receivers
//!   still get every value that was sent before the close, then [`RecvError`]. A send that
//!   returned `Ok` happened before the close, and its value is received (unless every receiver
//!   is dropped).
//! - **Cancellation.** Every async operation is a *checkpoint* (it spends the task's
//!   cooperative budget, and may yield when the budget is spent), and atomic under
//!   cancellation: when its scope is cancelled, an operation either completed and reports it
//!   (even though the scope is cancelled at that moment) or did nothing (a cancelled send sent
//!   nothing, a cancelled receive took nothing). Dropping a pending
//!   [`Sender::send`] drops its value with it, unsent; dropping a pending
//!   [`Receiver::recv`] loses no value. A dropped waiter that had already been woken passes
//!   the wakeup on, so no other waiter is stranded.
//! - **Anywhere.** Handles are `Send + Sync` (for `T: Send`): senders and receivers may live on
//!   any domain, and plain threads use [`Sender::send_blocking`] and
//!   [`Receiver::recv_blocking`] (which panic on a worker thread, where blocking would stall
//!   the domain).
//!
//! Handles of a `!Send` value type stay on their thread, as the compiler checks:
//!
//! ```compile_fail
//! use std::rc::Rc;
//!
//! let (tx, _rx) = trellis::channel::unbounded::<Rc<u8>>();
//! trellis::run(async move {
//!     // error: `Rc<u8>` cannot be sent between threads safely
//!     trellis::spawn(async move { tx.send(Rc::new(1)).await.unwrap() });
//! });
//! ```
//!
//! # Behaviour at the time of writing
//!
//! Values live in a [crossbeam-channel](https://docs.rs/crossbeam-channel) queue (its
//! lock-free array queue for `bounded`, its linked list of blocks for `unbounded`). Waiting is
//! layered on top: tasks that must wait register their waker in a per-channel list, and the
//! other side wakes one of them after each push or pop. A send or receive on a channel where
//! nobody waits takes no lock and allocates nothing (an unbounded channel allocates one block
//! per 31 values inside crossbeam). The protocol and its proof are written up in `chan.rs`,
//! the rendezvous hand-off in `rendezvous.rs`; both are checked by loom models.

mod blocking;
mod chan;
mod error;
mod mpmc;
pub mod oneshot;
mod rendezvous;
mod solo;
#[cfg(all(test, not(trellis_loom)))]
mod tests;
mod waiters;

pub(crate) use blocking::block_on;
#[cfg(all(test, trellis_loom))]
pub(crate) use chan::loom_chan;
pub(crate) use waiters::{Take, Waiters};

pub use error::{RecvError, SendError, TryRecvError, TrySendError};
pub use mpmc::{Receiver, RecvFuture, SendFuture, Sender};

/// Creates a bounded channel holding at most `cap` values, or a rendezvous channel for
/// `cap == 0`.
///
/// A send waits while the channel is full. On a rendezvous channel (`cap == 0`) a send
/// completes only once a receiver has taken its value; while it waits, the value is *offered*
/// (`len() == 1`), and if the channel closes before a receiver takes it, the send fails and
/// returns it. `try_send` on a rendezvous channel always fails with `Full` (it cannot wait
/// for the hand-off).
///
/// # Panics
///
/// If the buffer of `cap` slots cannot be allocated (it is allocated up front), with a message
/// naming `bounded` and the capacity.
///
/// # Examples
///
/// ```
/// use trellis::channel;
///
/// trellis::run(async {
///     let (tx, rx) = channel::bounded(2);
///     tx.send(1).await.unwrap();
///     tx.send(2).await.unwrap();
///     assert!(tx.try_send(3).is_err()); // full
///     assert_eq!(rx.recv().await, Ok(1));
///
///     // Rendezvous: the send completes once the receiver has the value.
///     let (tx, rx) = channel::bounded(0);
///     let receiver = trellis::spawn(async move { rx.recv().await });
///     tx.send("hand-off").await.unwrap();
///     assert_eq!(receiver.await.unwrap(), Ok("hand-off"));
/// });
/// ```
pub fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    check_buffer::<T>(cap);
    mpmc::pair(chan::Chan::bounded(cap))
}

/// Panics, naming `bounded`, if a buffer of `cap` slots of `T` cannot be allocated: the queue
/// would otherwise abort the process on allocation failure. A slot holds a `T` and a stamp.
/// Buffers under 64 MiB are not probed (their allocation failing is out-of-memory anyway);
/// larger ones are allocated once here, untouched, and freed.
fn check_buffer<T>(cap: usize) {
    const PROBE_FROM: usize = 64 << 20;
    let slot = std::alloc::Layout::new::<(usize, T)>()
        .pad_to_align()
        .size();
    let fits = match slot.checked_mul(cap) {
        None => false,
        Some(bytes) if bytes > isize::MAX as usize => false,
        Some(bytes) if bytes >= PROBE_FROM => {
            Vec::<(usize, T)>::new().try_reserve_exact(cap).is_ok()
        }
        Some(_) => true,
    };
    if !fits {
        panic!(
            "`trellis::channel::bounded({cap})`: cannot allocate a buffer of {cap} slots of \
             {slot} bytes each (the buffer is allocated up front); use a smaller capacity, or \
             `channel::unbounded()`"
        );
    }
}

/// Creates an unbounded channel: a send never waits (memory is the limit).
///
/// # Examples
///
/// ```
/// use trellis::channel;
///
/// let (tx, rx) = channel::unbounded();
/// for i in 0..1000 {
///     tx.try_send(i).unwrap();
/// }
/// assert_eq!(rx.len(), 1000);
/// assert_eq!(rx.try_recv(), Ok(0));
/// ```
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    mpmc::pair(chan::Chan::unbounded())
}

/// Creates a oneshot channel: one value, sent once, synchronously, by the sender, and awaited
/// by the receiver (see [`oneshot`](mod@oneshot) for the semantics).
///
/// # Examples
///
/// ```
/// trellis::run(async {
///     let (tx, rx) = trellis::channel::oneshot();
///     let answer = trellis::spawn(async move {
///         let _ = tx.send(6 * 7);
///     });
///     assert_eq!(rx.await, Ok(42));
///     answer.await.unwrap();
/// });
/// ```
pub fn oneshot<T>() -> (oneshot::Sender<T>, oneshot::Receiver<T>) {
    oneshot::pair()
}
