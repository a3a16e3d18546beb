//! `domain_local!`: per-domain state.

use std::any::Any;
use std::fmt;
use std::rc::Rc;

use crate::scheduler::context;

/// Declares per-domain state: each domain gets its own value, created by `expr` on first use
/// in that domain and dropped on that domain's thread when the runtime shuts down. The value may
/// be `!Send` (it never leaves its thread); domains and runtimes never share it.
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
    /// the code in a task, or with [`spawn_on`](crate::spawn_on).
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
        let key = self as *const Self as usize;
        let value: Rc<dyn Any> = context::with_core(|core| match core {
            Some(core) => core.domain_local(key, || Rc::new((self.init)())),
            None => panic!(
                "a `domain_local!` value was used outside a domain: only worker threads host \
                 domains. Use it inside a task (`trellis::spawn`, `spawn_local`, `spawn_on`)"
            ),
        });
        let value = value
            .downcast_ref::<T>()
            .expect("a domain-local key always maps to its own type");
        f(value)
    }
}

impl<T: 'static> fmt::Debug for DomainLocal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DomainLocal").finish_non_exhaustive()
    }
}
