//! The Trellis runtime: a work-stealing async runtime for CPU-heavy work.
//!
//! Each worker thread hosts a *domain* ([`domain`]): its own pinned, possibly `!Send` tasks and
//! its own domain-local state. `Send` tasks are shared between domains by work stealing. This
//! crate holds the scheduler, tasks and join handles, domains, timers and the blocking pool; it
//! is re-exported by the `trellis` facade crate, which is what applications use.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//!
//! let rt = trellis::Runtime::builder().workers(2).build().unwrap();
//! let total = rt.block_on(async {
//!     // Fork: one task per chunk; idle workers steal them.
//!     let handles: Vec<_> = (0..8u64)
//!         .map(|chunk| trellis::spawn(async move { (chunk * 1000..(chunk + 1) * 1000).sum::<u64>() }))
//!         .collect();
//!     trellis::time::sleep(Duration::from_millis(1)).await;
//!     // Join.
//!     let mut total = 0;
//!     for h in handles {
//!         total += h.await.unwrap();
//!     }
//!     total
//! });
//! assert_eq!(total, (0..8000u64).sum::<u64>());
//! ```
//!
//! # Guarantees
//!
//! - Every spawned future is dropped exactly once: when it completes, when it is aborted, or
//!   when the runtime shuts down. A panic in a task is caught and returned as a [`JoinError`];
//!   the worker lives on.
//! - No stranded work: a task spawned or woken by a busy task is stolen by an idle worker.
//! - No lost wakeups: idle workers sleep (an idle runtime uses no CPU) and are woken for new
//!   work by the protocol written up in `scheduler/idle.rs`.
#![doc(test(attr(deny(warnings))))]

mod blocking;
mod builder;
pub mod channel;
pub(crate) mod contain;
pub mod domain;
pub mod from_thread;
pub mod fs;
mod handle;
#[cfg(feature = "hyper")]
pub mod hyper;
mod instrument;
mod io;
mod loom;
pub mod misuse;
pub mod net;
mod panic_text;
mod runtime;
mod scheduler;
mod scope;
pub mod signal;
mod spawn;
pub mod sync;
mod task;
pub mod testing;
pub mod time;
mod to_thread;
pub mod tree;
mod tuning;

pub use builder::{BuildError, Builder, WORKERS_ENV};
pub use domain::DomainId;
pub use handle::Handle;
pub use instrument::{Instrument, TaskId, TaskInfo};
pub use runtime::{Runtime, run};
pub use scheduler::coop::poll_checkpoint;
pub use scope::{
    BoxError, CancelHandle, CancelScope, ChildHandle, HasOutput, NoValue, NotStarted, Nursery,
    NurseryClosed, NurseryError, NurseryHandle, PanicPayload, ScopeRun, TaskFailure, TaskResult,
    TaskStatus, TooSlow, cancel_requested, checkpoint, fail_after, fail_at, move_on_after,
    move_on_at, nursery, shielded,
};
pub use spawn::{TaskBuilder, spawn, spawn_blocking, spawn_local, spawn_on};
pub use task::{JoinError, JoinHandle, yield_now};
pub use to_thread::{DEFAULT_THREAD_TOKENS, ToThread, default_thread_limiter, to_thread};
