//! Synchronisation shim: [`loom`](https://docs.rs/loom) under `--cfg trellis_loom`, `std`
//! otherwise.
//!
//! The protocols that loom checks (the task state word in `task::state`, the parker in
//! `scheduler::park`, the idle protocol in `scheduler::idle`, the channel waiter protocol in
//! `channel::chan`, the unit hand-off in `sync::handoff` and the timer queue's cached earliest
//! deadline in `time::queue`) take their atomics, mutexes and
//! condvars from here, so the same code runs under loom's model checker and in production.
//! Modules that loom does not model use `std` directly. Under `trellis_loom` only the loom
//! models (`cargo test -p trellis-runtime --lib loom_`) may run: loom's types panic outside
//! `loom::model`.

#[cfg(not(trellis_loom))]
pub(crate) mod sync {
    pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};
    pub(crate) mod atomic {
        pub(crate) use std::sync::atomic::{
            AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering, fence,
        };
    }
}

#[cfg(trellis_loom)]
pub(crate) mod sync {
    pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};
    pub(crate) mod atomic {
        pub(crate) use loom::sync::atomic::{
            AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering, fence,
        };
    }
}
