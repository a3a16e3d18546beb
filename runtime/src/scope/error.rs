//! Nursery failures: `TaskResult`, `TaskFailure`, `NurseryError`.

use std::any::Any;
use std::error::Error;
use std::fmt;

/// A boxed error that can cross threads.
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// What a nursery body or child may return: `()`, `Result<(), E>` with `E` convertible into a
/// boxed error, or the never type (a child that loops forever). An `Err` is a failure.
///
/// # Examples
///
/// ```
/// use trellis::TaskResult;
///
/// assert!(().into_failure().is_none());
/// assert!(Err::<(), _>("boom").into_failure().is_some());
/// ```
pub trait TaskResult {
    /// `Some` if this outcome is a failure.
    fn into_failure(self) -> Option<TaskFailure>;
}

impl TaskResult for () {
    fn into_failure(self) -> Option<TaskFailure> {
        None
    }
}

impl<E: Into<BoxError>> TaskResult for Result<(), E> {
    fn into_failure(self) -> Option<TaskFailure> {
        self.err().map(|e| TaskFailure::Error(e.into()))
    }
}

/// Names a function's output type; used to name the never type `!` on stable Rust
/// (`<fn() -> ! as HasOutput>::Output`).
///
/// # Examples
///
/// ```
/// fn assert_task_result<T: trellis::TaskResult>() {}
/// assert_task_result::<<fn() -> ! as trellis::HasOutput>::Output>();
/// ```
pub trait HasOutput {
    /// The output type.
    type Output;
}

impl<O> HasOutput for fn() -> O {
    type Output = O;
}

impl TaskResult for <fn() -> ! as HasOutput>::Output {
    fn into_failure(self) -> Option<TaskFailure> {
        self
    }
}

/// The payload of a caught panic, as `std::panic::catch_unwind` gave it. Unlike a bare
/// `Box<dyn Any + Send>` it is `Sync`, so failures (and a [`NurseryError`]) can themselves be
/// returned as errors, for instance by a child that runs a nested nursery.
///
/// # Examples
///
/// ```
/// let payload = trellis::PanicPayload::new(Box::new("boom"));
/// assert_eq!(payload.message().as_deref(), Some("boom"));
/// let raw: Box<dyn std::any::Any + Send> = payload.into_inner();
/// assert!(raw.is::<&str>());
/// ```
pub struct PanicPayload(std::sync::Mutex<Box<dyn Any + Send + 'static>>);

impl PanicPayload {
    /// Wraps a payload.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = trellis::PanicPayload::new(Box::new(String::from("bad")));
    /// assert_eq!(p.message().as_deref(), Some("bad"));
    /// ```
    pub fn new(payload: Box<dyn Any + Send + 'static>) -> PanicPayload {
        PanicPayload(std::sync::Mutex::new(payload))
    }

    /// The payload, e.g. to resume the panic with `std::panic::resume_unwind`.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = trellis::PanicPayload::new(Box::new(7u8));
    /// assert_eq!(*p.into_inner().downcast::<u8>().unwrap(), 7);
    /// ```
    pub fn into_inner(self) -> Box<dyn Any + Send + 'static> {
        self.0.into_inner().unwrap_or_else(|e| e.into_inner())
    }

    /// The panic message, when the payload is a `&str` or a `String` (what `panic!` makes).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trellis::PanicPayload::new(Box::new(1)).message(), None);
    /// ```
    pub fn message(&self) -> Option<String> {
        let payload = self.0.lock().unwrap_or_else(|e| e.into_inner());
        payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
    }
}

impl fmt::Debug for PanicPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PanicPayload")
            .field(&self.message())
            .finish()
    }
}

/// One failure inside a nursery: an error returned by a child or the body, or a panic.
///
/// # Examples
///
/// ```
/// let failure = trellis::TaskFailure::Error("disk full".into());
/// assert_eq!(failure.to_string(), "error: disk full");
/// ```
pub enum TaskFailure {
    /// The task returned `Err`.
    Error(BoxError),
    /// The task panicked.
    Panic(PanicPayload),
}

impl TaskFailure {
    fn panic_message(&self) -> Option<String> {
        match self {
            TaskFailure::Panic(p) => p.message(),
            TaskFailure::Error(_) => None,
        }
    }
}

impl fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskFailure::Error(e) => write!(f, "error: {e}"),
            TaskFailure::Panic(p) => {
                let payload = p.0.lock().unwrap_or_else(|e| e.into_inner());
                write!(f, "panic: {}", crate::panic_text::describe(&**payload))
            }
        }
    }
}

impl fmt::Debug for TaskFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskFailure::Error(e) => f.debug_tuple("Error").field(e).finish(),
            TaskFailure::Panic(_) => f.debug_tuple("Panic").field(&self.panic_message()).finish(),
        }
    }
}

/// Every failure of a nursery, in completion order (Trio's always-wrapped exception group).
/// Cancelled children are not failures.
///
/// # Examples
///
/// ```
/// use std::io;
///
/// trellis::run(async {
///     let err = trellis::nursery(async |n| {
///         n.start_soon(async { Err::<(), _>(io::Error::other("no disk")) });
///         Ok::<(), io::Error>(())
///     })
///     .await
///     .unwrap_err();
///     assert_eq!(err.len(), 1);
///     assert!(err.find::<io::Error>().is_some());
/// });
/// ```
pub struct NurseryError {
    failures: Vec<TaskFailure>,
}

impl NurseryError {
    pub(crate) fn new(failures: Vec<TaskFailure>) -> NurseryError {
        debug_assert!(!failures.is_empty());
        NurseryError { failures }
    }

    /// The failures, in the order they happened.
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     let err = trellis::nursery(async |_| Err::<(), _>("body failed")).await.unwrap_err();
    ///     assert_eq!(err.failures()[0].to_string(), "error: body failed");
    /// });
    /// ```
    pub fn failures(&self) -> &[TaskFailure] {
        &self.failures
    }

    /// The number of failures (at least one).
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     let err = trellis::nursery(async |_| Err::<(), _>("x")).await.unwrap_err();
    ///     assert_eq!(err.len(), 1);
    /// });
    /// ```
    #[allow(clippy::len_without_is_empty)] // never empty
    pub fn len(&self) -> usize {
        self.failures.len()
    }

    /// The first failure whose error is an `E`, if any (panics are skipped).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::fmt;
    ///
    /// #[derive(Debug)]
    /// struct Timeout;
    /// impl fmt::Display for Timeout {
    ///     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str("timeout") }
    /// }
    /// impl std::error::Error for Timeout {}
    ///
    /// trellis::run(async {
    ///     let err = trellis::nursery(async |_| Err::<(), _>(Timeout)).await.unwrap_err();
    ///     assert!(err.find::<Timeout>().is_some());
    /// });
    /// ```
    pub fn find<E: Error + 'static>(&self) -> Option<&E> {
        self.failures.iter().find_map(|f| match f {
            TaskFailure::Error(e) => e.downcast_ref::<E>(),
            TaskFailure::Panic(_) => None,
        })
    }

    /// Splits off the errors of type `E` (Python's `except*`): returns them, and the remaining
    /// failures as a `NurseryError` if any are left.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    ///
    /// trellis::run(async {
    ///     let err = trellis::nursery(async |n| {
    ///         n.start_soon(async { Err::<(), _>(io::Error::other("a")) });
    ///         Err::<(), _>("b")
    ///     })
    ///     .await
    ///     .unwrap_err();
    ///     let (io_errors, rest) = err.split::<io::Error>();
    ///     assert_eq!(io_errors.len() + rest.map_or(0, |r| r.len()), 2);
    /// });
    /// ```
    pub fn split<E: Error + 'static>(self) -> (Vec<Box<E>>, Option<NurseryError>) {
        let mut matched = Vec::new();
        let mut rest = Vec::new();
        for failure in self.failures {
            match failure {
                TaskFailure::Error(e) if e.is::<E>() => match e.downcast::<E>() {
                    Ok(e) => matched.push(e),
                    Err(e) => rest.push(TaskFailure::Error(e)),
                },
                other => rest.push(other),
            }
        }
        let rest = (!rest.is_empty()).then(|| NurseryError::new(rest));
        (matched, rest)
    }

    /// The failures, by value.
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     let err = trellis::nursery(async |_| Err::<(), _>("x")).await.unwrap_err();
    ///     assert_eq!(err.into_failures().len(), 1);
    /// });
    /// ```
    pub fn into_failures(self) -> Vec<TaskFailure> {
        self.failures
    }
}

impl fmt::Display for NurseryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failure(s) in nursery", self.failures.len())?;
        for (i, failure) in self.failures.iter().enumerate() {
            write!(f, "\n  [{i}] {failure}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for NurseryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NurseryError")
            .field("failures", &self.failures)
            .finish()
    }
}

impl Error for NurseryError {}
