//! `domain_local!`: per-domain state.

use std::any::Any;
use std::fmt;
use std::rc::Rc;

use crate::scheduler::context;

/// Declares per-domain state: each domain gets its own value, created by `expr` on first use
/// in that domain and dropped on that domain's thread when the runtime shuts down (once: a
/// value dropped there is never re-created, see [`DomainLocal::with`]). The value may be
/// `!Send` (it never leaves its thread); domains and runtimes never share it.
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
///
/// trellis::domain_local! {
///     /// A per-domain scratch buffer.
///     static SCRATCH: RefCell<Vec<u32>> = RefCell::new(Vec::new());
/// }
///
/// trellis::run(async {
///     let len = trellis::spawn_on(trellis::DomainId::new(0), || async {
///         SCRATCH.with(|s| s.borrow_mut().push(7));
///         SCRATCH.with(|s| s.borrow().len())
///     })
///     .await
///     .unwrap();
///     assert_eq!(len, 1);
/// });
/// ```
#[macro_export]
macro_rules! domain_local {
    ($(#[$attr:meta])* $vis:vis static $name:ident : $t:ty = $init:expr; $($rest:tt)*) => {
        $(#[$attr])*
        $vis static $name: $crate::domain::DomainLocal<$t> = {
            fn __trellis_domain_local_init() -> $t {
                $init
            }
            $crate::domain::DomainLocal::__new(__trellis_domain_local_init)
        };
        $crate::domain_local! { $($rest)* }
    };
    () => {};
}

/// A per-domain value declared with [`domain_local!`](crate::domain_local).
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
///
/// trellis::domain_local! { static HITS: Cell<u32> = Cell::new(0); }
///
/// trellis::run(async {
///     trellis::spawn(async { HITS.with(|h| h.set(h.get() + 1)) }).await.unwrap();
/// });
/// ```
pub struct DomainLocal<T: 'static> {
    init: fn() -> T,
}

impl<T: 'static> DomainLocal<T> {
    #[doc(hidden)]
    pub const fn __new(init: fn() -> T) -> DomainLocal<T> {
        DomainLocal { init }
    }

    /// Calls `f` with this domain's value, creating it first if this domain has not used it yet.
    ///
    /// The initialiser may use other domain-local values, but not this one (that would recurse).
    ///
    /// # Panics
    ///
    /// Panics outside a domain (a `block_on` thread, a blocking thread or a plain thread): run
    /// the code in a task, or with [`spawn_on`](crate::spawn_on). Panics during the domain's
    /// shutdown if this value was already dropped there: a value is never re-created after its
    /// teardown (its `Drop` reading it, or another value's `Drop` running after it, would
    /// otherwise re-create and drop it forever). Code that may run then, such as a `Drop`,
    /// uses [`try_with`](Self::try_with). Such a panic in a domain-local's `Drop` is contained
    /// by the shutdown (reported on stderr; the other values are still dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    ///
    /// trellis::domain_local! { static NAMES: RefCell<Vec<String>> = RefCell::new(Vec::new()); }
    ///
    /// trellis::run(async {
    ///     trellis::spawn(async {
    ///         NAMES.with(|n| n.borrow_mut().push("a".into()));
    ///         assert!(NAMES.with(|n| !n.borrow().is_empty()));
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    pub fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        match self.try_with(f) {
            Ok(r) => r,
            Err(AccessError { outside: true }) => panic!(
                "a `domain_local!` value was used outside a domain: only worker threads host \
                 domains. Use it inside a task (`trellis::spawn`, `spawn_local`, `spawn_on`)"
            ),
            Err(AccessError { outside: false }) => panic!(
                "a `domain_local!` value was used during its domain's shutdown after it was \
                 dropped there (from a `Drop` that runs at shutdown?); it is not re-created. \
                 Use `DomainLocal::try_with` in code that may run then"
            ),
        }
    }

    /// Like [`with`](Self::with), but reports instead of panicking when the value cannot be
    /// reached: outside a domain, or during the domain's shutdown once the value was dropped
    /// (it is never re-created then). The way for a `Drop` that may run at shutdown to use a
    /// domain-local, including its own.
    ///
    /// # Errors
    ///
    /// [`AccessError`] in the two cases above; `f` is not called.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    ///
    /// trellis::domain_local! { static COUNT: Cell<u32> = Cell::new(0); }
    ///
    /// assert!(COUNT.try_with(Cell::get).is_err()); // not on a domain
    /// trellis::run(async {
    ///     trellis::spawn(async { assert_eq!(COUNT.try_with(Cell::get), Ok(0)) }).await.unwrap();
    /// });
    /// ```
    pub fn try_with<R>(&'static self, f: impl FnOnce(&T) -> R) -> Result<R, AccessError> {
        let key = self as *const Self as usize;
        let value: Rc<dyn Any> = context::with_core(|core| match core {
            Some(core) => core
                .home
                .domain_local(key, || Rc::new((self.init)()))
                .ok_or(AccessError { outside: false }),
            None => Err(AccessError { outside: true }),
        })?;
        let value = value
            .downcast_ref::<T>()
            .expect("a domain-local key always maps to its own type");
        Ok(f(value))
    }
}

/// A [`DomainLocal`] could not be reached: [`DomainLocal::try_with`] was called outside a
/// domain, or during the domain's shutdown after the value was dropped.
///
/// # Examples
///
/// ```
/// trellis::domain_local! { static V: u8 = 1; }
///
/// let err: trellis::domain::AccessError = V.try_with(|v| *v).unwrap_err();
/// assert!(err.to_string().contains("outside a domain"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessError {
    outside: bool,
}

impl fmt::Display for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.outside {
            "a domain-local value was used outside a domain"
        } else {
            "a domain-local value was used during its domain's shutdown after it was dropped"
        })
    }
}

impl std::error::Error for AccessError {}

impl<T: 'static> fmt::Debug for DomainLocal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DomainLocal").finish_non_exhaustive()
    }
}
