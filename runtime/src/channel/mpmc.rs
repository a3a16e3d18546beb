//! The public handles of a [`bounded`](super::bounded) or [`unbounded`](super::unbounded)
//! channel, and their futures. Everything they do is implemented by the core in `chan.rs`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use futures_core::{FusedStream, Stream};

use super::blocking;
use super::chan::Chan;
use super::error::{RecvError, SendError, TryRecvError, TrySendError};
use super::rendezvous::Offer;

/// The sending half of a channel. Clone it to send from several tasks or threads (MPMC).
///
/// Dropping the last `Sender` closes the channel: receivers get the values still queued, then
/// [`RecvError`].
///
/// # Examples
///
/// ```
/// use trellis::channel;
///
/// trellis::run(async {
///     let (tx, rx) = channel::bounded(8);
///     let producers: Vec<_> = (0..4)
///         .map(|i| {
///             let tx = tx.clone();
///             trellis::spawn(async move { tx.send(i).await.unwrap() })
///         })
///         .collect();
///     drop(tx);
///     let mut sum = 0;
///     while let Ok(i) = rx.recv().await {
///         sum += i;
///     }
///     assert_eq!(sum, 6);
///     for p in producers {
///         p.await.unwrap();
///     }
/// });
/// ```
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving half of a channel. Clone it to receive from several tasks or threads (MPMC):
/// each value goes to exactly one receiver.
///
/// Dropping the last `Receiver` closes the channel and drops the values still queued; senders
/// then get their values back in [`SendError`]. A `Receiver` is also a
/// [`Stream`](futures_core::Stream) of the values, which ends when the channel is closed and
/// empty.
///
/// # Examples
///
/// ```
/// use trellis::channel;
///
/// trellis::run(async {
///     let (tx, rx) = channel::unbounded();
///     let worker = trellis::spawn(async move {
///         let mut total = 0;
///         while let Ok(n) = rx.recv().await {
///             total += n;
///         }
///         total
///     });
///     for n in 1..=10 {
///         tx.send(n).await.unwrap();
///     }
///     drop(tx);
///     assert_eq!(worker.await.unwrap(), 55);
/// });
/// ```
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
    /// The waiter entry of the `Stream` impl (the futures of `recv` have their own).
    stream_key: Option<usize>,
    /// The stream ended (`poll_next` returned `None`: closed and drained, for good).
    terminated: bool,
}

pub(crate) fn pair<T>(chan: Chan<T>) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(chan);
    (
        Sender { chan: chan.clone() },
        Receiver {
            chan,
            stream_key: None,
            terminated: false,
        },
    )
}

impl<T> Sender<T> {
    /// Sends `value`, waiting while a bounded channel is full (and, for a rendezvous channel,
    /// until a receiver has taken the value).
    ///
    /// Values from one sender are received in the order they were sent.
    ///
    /// # Errors
    ///
    /// [`SendError`] holding `value` if the channel is closed (explicitly, or because every
    /// receiver was dropped), including when it closes while this send waits.
    ///
    /// # Cancellation
    ///
    /// Every poll is a checkpoint (it spends cooperative budget). The send is atomic under
    /// cancellation: when its cancel scope is cancelled it either completed (it returns
    /// `Ok(())`, even though the scope is cancelled at that moment; the scope then stops the
    /// code at its next checkpoint) or it sent nothing (it is dropped at this checkpoint, and
    /// `value` with it). So a retry after a cancelled send never duplicates a value. On a
    /// rendezvous channel, an offered value holds the scope until the send has settled which
    /// of the two happened (one more poll of the send, which the cancel's wake-up brings).
    ///
    /// Dropping the future by other means before it completes (aborting its task, dropping it
    /// by hand) drops `value` with it unsent, except on a rendezvous channel when a receiver
    /// already took it: that value stays delivered. A pending send that had just been woken
    /// for a free slot passes the wakeup on to the next waiting sender, so no sender is
    /// stranded.
    ///
    /// # Examples
    ///
    /// ```
    /// use trellis::channel;
    ///
    /// trellis::run(async {
    ///     let (tx, rx) = channel::bounded(1);
    ///     tx.send("a").await.unwrap();
    ///     // The channel is full: this send waits until the receiver makes room.
    ///     let second = trellis::spawn(async move { tx.send("b").await });
    ///     assert_eq!(rx.recv().await, Ok("a"));
    ///     second.await.unwrap().unwrap();
    ///     assert_eq!(rx.recv().await, Ok("b"));
    /// });
    /// ```
    pub fn send(&self, value: T) -> SendFuture<'_, T> {
        SendFuture {
            chan: &self.chan,
            value: Some(value),
            key: None,
            ticket: None,
        }
    }

    /// Sends `value` if the channel has room now, without waiting. Not a checkpoint.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] if a bounded channel is full (always, for a rendezvous channel:
    /// its send must wait for a receiver to take the value), [`TrySendError::Closed`] if the
    /// channel is closed. Both hold `value`.
    ///
    /// # Examples
    ///
    /// ```
    /// use trellis::channel::{self, TrySendError};
    ///
    /// let (tx, rx) = channel::bounded(1);
    /// assert_eq!(tx.try_send(1), Ok(()));
    /// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// ```
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.chan.try_send(value)
    }

    /// Sends `value`, blocking the calling thread while the channel is full. For plain threads
    /// (and `spawn_blocking` jobs): tasks use [`send`](Self::send).
    ///
    /// # Errors
    ///
    /// [`SendError`] holding `value` if the channel is closed.
    ///
    /// # Panics
    ///
    /// If called on a worker thread of a Trellis runtime, that is, inside a task: blocking there
    /// would stall the worker. (On the thread of `Runtime::block_on`, outside the future it
    /// runs, it is allowed; inside that future it blocks that future's thread.)
    ///
    /// # Examples
    ///
    /// ```
    /// use trellis::channel;
    ///
    /// let (tx, rx) = channel::bounded(1);
    /// let producer = std::thread::spawn(move || {
    ///     for i in 0..3 {
    ///         tx.send_blocking(i).unwrap();
    ///     }
    /// });
    /// let got: Vec<i32> = (0..3).map(|_| rx.recv_blocking().unwrap()).collect();
    /// producer.join().unwrap();
    /// assert_eq!(got, [0, 1, 2]);
    /// ```
    pub fn send_blocking(&self, value: T) -> Result<(), SendError<T>> {
        blocking::block_on("Sender::send_blocking", self.send(value))
    }

    /// Closes the channel. Returns `true` if this call closed it, `false` if it was closed
    /// already.
    ///
    /// Every waiting sender and receiver is woken: pending and later sends fail with their
    /// value; receivers still get the values queued before the close, then [`RecvError`]. The
    /// queued values stay until they are received or the last receiver is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use trellis::channel;
    ///
    /// trellis::run(async {
    ///     let (tx, rx) = channel::unbounded();
    ///     tx.send(1).await.unwrap();
    ///     assert!(tx.close());
    ///     assert!(!tx.close());
    ///     assert_eq!(tx.send(2).await.unwrap_err().into_inner(), 2);
    ///     assert_eq!(rx.recv().await, Ok(1)); // drained after close
    ///     assert!(rx.recv().await.is_err());
    /// });
    /// ```
    pub fn close(&self) -> bool {
        self.chan.close()
    }

    /// Whether the channel is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = trellis::channel::bounded::<u8>(1);
    /// assert!(!tx.is_closed());
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// The number of values in the channel now (for a rendezvous channel: 1 while a sender
    /// offers a value that no receiver has taken yet, else 0).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = trellis::channel::unbounded();
    /// tx.try_send(1).unwrap();
    /// tx.try_send(2).unwrap();
    /// assert_eq!(tx.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// Whether the channel holds no value now.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = trellis::channel::unbounded::<u8>();
    /// assert!(tx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.chan.len() == 0
    }

    /// The capacity: `Some(n)` for `bounded(n)` (`Some(0)` for a rendezvous channel), `None`
    /// for an unbounded channel.
    ///
    /// # Examples
    ///
    /// ```
    /// use trellis::channel;
    ///
    /// assert_eq!(channel::bounded::<u8>(4).0.capacity(), Some(4));
    /// assert_eq!(channel::unbounded::<u8>().0.capacity(), None);
    /// ```
    pub fn capacity(&self) -> Option<usize> {
        self.chan.capacity()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.add_sender();
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.chan.release_sender();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl<T> Receiver<T> {
    /// Receives the next value, waiting while the channel is empty.
    ///
    /// # Errors
    ///
    /// [`RecvError`] once the channel is closed and every value queued before the close has
    /// been received.
    ///
    /// # Cancellation
    ///
    /// Every poll is a checkpoint (it spends cooperative budget). Dropping the future loses
    /// nothing: a value leaves the channel only in the poll that returns it. A receive that had
    /// been woken for a value and is dropped instead passes the wakeup on to the next waiting
    /// receiver, which gets the value.
    ///
    /// # Examples
    ///
    /// ```
    /// use trellis::channel;
    ///
    /// trellis::run(async {
    ///     let (tx, rx) = channel::bounded(4);
    ///     let producer = trellis::spawn(async move { tx.send(42).await.unwrap() });
    ///     assert_eq!(rx.recv().await, Ok(42));
    ///     producer.await.unwrap();
    /// });
    /// ```
    pub fn recv(&self) -> RecvFuture<'_, T> {
        RecvFuture {
            chan: &self.chan,
            key: None,
        }
    }

    /// Receives a value if one is there now, without waiting. Not a checkpoint.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if the channel is empty but open, [`TryRecvError::Closed`] if
    /// it is closed and empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use trellis::channel::{self, TryRecvError};
    ///
    /// let (tx, rx) = channel::unbounded();
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.try_send(5).unwrap();
    /// assert_eq!(rx.try_recv(), Ok(5));
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.chan.try_recv()
    }

    /// Receives the next value, blocking the calling thread while the channel is empty. For
    /// plain threads (and `spawn_blocking` jobs): tasks use [`recv`](Self::recv).
    ///
    /// # Errors
    ///
    /// [`RecvError`] once the channel is closed and empty.
    ///
    /// # Panics
    ///
    /// If called on a worker thread of a Trellis runtime (inside a task).
    ///
    /// # Examples
    ///
    /// ```
    /// use trellis::channel;
    ///
    /// let (tx, rx) = channel::unbounded();
    /// let consumer = std::thread::spawn(move || rx.recv_blocking());
    /// trellis::run(async move { tx.send("from a task").await.unwrap() });
    /// assert_eq!(consumer.join().unwrap(), Ok("from a task"));
    /// ```
    pub fn recv_blocking(&self) -> Result<T, RecvError> {
        blocking::block_on("Receiver::recv_blocking", self.recv())
    }

    /// Closes the channel. Returns `true` if this call closed it. Like
    /// [`Sender::close`]: waiters wake, sends fail, and receivers still drain what was queued.
    ///
    /// # Examples
    ///
    /// ```
    /// use trellis::channel::{self, TrySendError};
    ///
    /// let (tx, rx) = channel::bounded(2);
    /// tx.try_send(1).unwrap();
    /// assert!(rx.close());
    /// assert_eq!(tx.try_send(2), Err(TrySendError::Closed(2)));
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// ```
    pub fn close(&self) -> bool {
        self.chan.close()
    }

    /// Whether the channel is closed (there may still be values to receive).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = trellis::channel::unbounded::<u8>();
    /// drop(tx);
    /// assert!(rx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// The number of values in the channel now.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = trellis::channel::bounded(4);
    /// tx.try_send(()).unwrap();
    /// assert_eq!(rx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// Whether the channel holds no value now.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, rx) = trellis::channel::bounded::<u8>(4);
    /// assert!(rx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.chan.len() == 0
    }

    /// The capacity: `Some(n)` for `bounded(n)`, `None` for an unbounded channel.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trellis::channel::bounded::<u8>(0).1.capacity(), Some(0));
    /// ```
    pub fn capacity(&self) -> Option<usize> {
        self.chan.capacity()
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.chan.add_receiver();
        Receiver {
            chan: self.chan.clone(),
            stream_key: None,
            terminated: self.terminated,
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.chan.cancel_recv(&mut self.stream_key);
        self.chan.release_receiver();
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The values of the channel, until it is closed and empty. Each `poll_next` is a checkpoint,
/// with the cancellation behaviour of [`Receiver::recv`].
///
/// # Examples
///
/// ```
/// use std::pin::pin;
/// use std::future::poll_fn;
/// use futures_core::Stream;
///
/// trellis::run(async {
///     let (tx, rx) = trellis::channel::unbounded();
///     for i in 0..3 {
///         tx.send(i).await.unwrap();
///     }
///     drop(tx);
///     let mut rx = pin!(rx);
///     let mut got = Vec::new();
///     while let Some(v) = poll_fn(|cx| rx.as_mut().poll_next(cx)).await {
///         got.push(v);
///     }
///     assert_eq!(got, [0, 1, 2]);
/// });
/// ```
impl<T> Stream for Receiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        if this.terminated {
            return Poll::Ready(None);
        }
        let next = ready!(this.chan.poll_recv(&mut this.stream_key, cx)).ok();
        this.terminated = next.is_none();
        Poll::Ready(next)
    }
}

/// Terminated once the stream returned `None` (the channel is closed and drained, which is
/// final), so `futures::select!` takes a receiver without `.fuse()`.
///
/// # Examples
///
/// ```
/// use std::future::poll_fn;
/// use std::pin::Pin;
/// use futures_core::{FusedStream, Stream};
///
/// trellis::run(async {
///     let (tx, mut rx) = trellis::channel::unbounded::<u8>();
///     drop(tx);
///     assert!(!rx.is_terminated());
///     assert_eq!(poll_fn(|cx| Pin::new(&mut rx).poll_next(cx)).await, None);
///     assert!(rx.is_terminated());
/// });
/// ```
impl<T> FusedStream for Receiver<T> {
    fn is_terminated(&self) -> bool {
        self.terminated
    }
}

/// The future of [`Sender::send`]: completes once the value is in the channel (for a
/// rendezvous channel, once a receiver took it).
///
/// # Examples
///
/// ```
/// trellis::run(async {
///     let (tx, rx) = trellis::channel::bounded(1);
///     let fut: trellis::channel::SendFuture<'_, u8> = tx.send(1);
///     fut.await.unwrap();
///     assert_eq!(rx.recv().await, Ok(1));
/// });
/// ```
///
/// # Cancellation
///
/// Dropping it before completion drops the value with it (see [`Sender::send`]).
#[must_use = "futures do nothing unless polled; the value is dropped with the future"]
pub struct SendFuture<'a, T> {
    chan: &'a Chan<T>,
    /// The value, until it is in the channel (or handed back in the error).
    value: Option<T>,
    /// Our entry in a waiter list (see `chan.rs`, `rendezvous.rs`).
    key: Option<usize>,
    /// Rendezvous: the hand-off state while our value is offered.
    ticket: Option<Offer>,
}

// The value is never pinned: it is moved into the channel or out in the error.
impl<T> Unpin for SendFuture<'_, T> {}

impl<T> Future for SendFuture<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.chan.rendezvous.is_some() {
            this.chan
                .poll_send_rendezvous(&mut this.value, &mut this.key, &mut this.ticket, cx)
        } else {
            this.chan.poll_send(&mut this.value, &mut this.key, cx)
        }
    }
}

impl<T> Drop for SendFuture<'_, T> {
    fn drop(&mut self) {
        if self.chan.rendezvous.is_some() {
            self.chan
                .cancel_send_rendezvous(&mut self.key, &mut self.ticket);
        } else {
            self.chan.cancel_send(&mut self.key);
        }
        // `value`, if still here, is dropped with the future.
    }
}

impl<T> fmt::Debug for SendFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendFuture")
            .field("pending_value", &self.value.is_some())
            .field("registered", &self.key.is_some())
            .finish()
    }
}

/// The future of [`Receiver::recv`].
///
/// # Examples
///
/// ```
/// trellis::run(async {
///     let (tx, rx) = trellis::channel::bounded(1);
///     tx.send('x').await.unwrap();
///     let fut: trellis::channel::RecvFuture<'_, char> = rx.recv();
///     assert_eq!(fut.await, Ok('x'));
/// });
/// ```
///
/// # Cancellation
///
/// Dropping it loses nothing (see [`Receiver::recv`]).
#[must_use = "futures do nothing unless polled"]
pub struct RecvFuture<'a, T> {
    chan: &'a Chan<T>,
    key: Option<usize>,
}

impl<T> Future for RecvFuture<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.chan.poll_recv(&mut this.key, cx)
    }
}

impl<T> Drop for RecvFuture<'_, T> {
    fn drop(&mut self) {
        self.chan.cancel_recv(&mut self.key);
    }
}

impl<T> fmt::Debug for RecvFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvFuture")
            .field("registered", &self.key.is_some())
            .finish()
    }
}
