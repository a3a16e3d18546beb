//! Synchronisation shim: [`loom`](https://docs.rs/loom) under `--cfg trellis_loom`, `std`
//! otherwise.
//!
//! The protocols that loom checks (the task state word in `task::state`, the parker in
//! `scheduler::park`, the idle protocol in `scheduler::idle`, the channel waiter protocol in
//! `channel::chan` and its solo slot in `channel::solo`, the oneshot's state word in `channel::oneshot`, the unit hand-off in
//! `sync::handoff`, the timer queue's cached earliest deadline in `time::queue` and a domain's
//! inbox in `domain::inbox`) take their atomics, mutexes, condvars and cells from here, so the
//! same code runs under loom's model checker and in production.
//! Modules that loom does not model use `std` directly. Under `trellis_loom` only the loom
//! models (`cargo test -p trellis-runtime --lib loom_`) may run: loom's types panic outside
//! `loom::model`.

#[cfg(not(trellis_loom))]
pub(crate) mod sync {
    pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};
    pub(crate) mod atomic {
        pub(crate) use std::sync::atomic::{
            AtomicBool, AtomicI64, AtomicPtr, AtomicU64, AtomicUsize, Ordering, fence,
        };
    }
}

#[cfg(trellis_loom)]
pub(crate) mod sync {
    pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};
    pub(crate) mod atomic {
        pub(crate) use loom::sync::atomic::{
            AtomicBool, AtomicI64, AtomicPtr, AtomicU64, AtomicUsize, Ordering, fence,
        };
    }
}

/// An `UnsafeCell` whose accesses loom checks under `--cfg trellis_loom` (a concurrent write and
/// read of one cell fails the model); `std`'s, behind the same closure API, otherwise.
#[cfg(not(trellis_loom))]
pub(crate) mod cell {
    /// `std::cell::UnsafeCell` with loom's access API.
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(value: T) -> UnsafeCell<T> {
            UnsafeCell(std::cell::UnsafeCell::new(value))
        }

        /// Runs `f` with a pointer for reading.
        #[inline]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        /// Runs `f` with a pointer for writing.
        #[inline]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

#[cfg(trellis_loom)]
pub(crate) mod cell {
    pub(crate) use loom::cell::UnsafeCell;
}
