//! Channel errors. Every error of a failed send holds the value that was not sent, so nothing
//! is lost: take it back with `into_inner`.

use std::error::Error;
use std::fmt;

/// The error of [`Sender::send`](super::Sender::send) and
/// [`Sender::send_blocking`](super::Sender::send_blocking): the channel is closed. It holds the
/// value that was not sent.
///
/// # Examples
///
/// ```
/// use trellis::channel::{self, SendError};
///
/// trellis::run(async {
///     let (tx, rx) = channel::bounded::<String>(1);
///     drop(rx); // dropping every receiver closes the channel
///     let err: SendError<String> = tx.send("hello".to_string()).await.unwrap_err();
///     assert_eq!(err.into_inner(), "hello");
/// });
/// ```
#[derive(PartialEq, Eq, Clone, Copy)]
pub struct SendError<T>(pub T);

impl<T> SendError<T> {
    /// Takes back the value that was not sent.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = trellis::channel::SendError(7);
    /// assert_eq!(err.into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sending on a closed channel")
    }
}

impl<T> Error for SendError<T> {}

/// The error of [`Sender::try_send`](super::Sender::try_send): the channel is full or closed.
/// Both variants hold the value that was not sent.
///
/// # Examples
///
/// ```
/// use trellis::channel::{self, TrySendError};
///
/// let (tx, rx) = channel::bounded(1);
/// tx.try_send(1).unwrap();
/// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
/// rx.close();
/// assert_eq!(tx.try_send(3), Err(TrySendError::Closed(3)));
/// ```
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum TrySendError<T> {
    /// The channel has no free slot (a bounded channel at capacity, or a rendezvous channel,
    /// which never holds a value without a waiting sender).
    Full(T),
    /// The channel is closed.
    Closed(T),
}

impl<T> TrySendError<T> {
    /// Takes back the value that was not sent.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = trellis::channel::TrySendError::Full("x");
    /// assert_eq!(err.into_inner(), "x");
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(v) | TrySendError::Closed(v) => v,
        }
    }

    /// Whether the send failed because the channel was full.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(trellis::channel::TrySendError::Full(()).is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        matches!(self, TrySendError::Full(_))
    }

    /// Whether the send failed because the channel was closed.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(trellis::channel::TrySendError::Closed(()).is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        matches!(self, TrySendError::Closed(_))
    }
}

impl<T> From<SendError<T>> for TrySendError<T> {
    fn from(err: SendError<T>) -> Self {
        TrySendError::Closed(err.0)
    }
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("sending on a full channel"),
            TrySendError::Closed(_) => f.write_str("sending on a closed channel"),
        }
    }
}

impl<T> Error for TrySendError<T> {}

/// The error of [`Receiver::recv`](super::Receiver::recv) and
/// [`Receiver::recv_blocking`](super::Receiver::recv_blocking): the channel is closed and empty
/// (every value sent before it closed has been received). Also the error of a
/// [oneshot](mod@super::oneshot) receiver whose sender was dropped without sending.
///
/// # Examples
///
/// ```
/// use trellis::channel::{self, RecvError};
///
/// trellis::run(async {
///     let (tx, rx) = channel::unbounded::<u8>();
///     drop(tx); // dropping every sender closes the channel
///     assert_eq!(rx.recv().await, Err(RecvError));
/// });
/// ```
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct RecvError;

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("receiving on a closed and empty channel")
    }
}

impl Error for RecvError {}

/// The error of [`Receiver::try_recv`](super::Receiver::try_recv) (and of the oneshot
/// receiver's `try_recv`): nothing to receive now, or never again.
///
/// # Examples
///
/// ```
/// use trellis::channel::{self, TryRecvError};
///
/// let (tx, rx) = channel::unbounded::<u8>();
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
/// drop(tx);
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
/// ```
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum TryRecvError {
    /// The channel is empty but still open: a value may come later.
    Empty,
    /// The channel is closed and empty: no value will ever come.
    Closed,
}

impl TryRecvError {
    /// Whether the channel was empty but open.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(trellis::channel::TryRecvError::Empty.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        matches!(self, TryRecvError::Empty)
    }

    /// Whether the channel was closed and empty.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(trellis::channel::TryRecvError::Closed.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        matches!(self, TryRecvError::Closed)
    }
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("receiving on an empty channel"),
            TryRecvError::Closed => f.write_str("receiving on a closed and empty channel"),
        }
    }
}

impl Error for TryRecvError {}

impl From<RecvError> for TryRecvError {
    fn from(_: RecvError) -> Self {
        TryRecvError::Closed
    }
}
