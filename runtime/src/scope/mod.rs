//! Structured concurrency: cancel scopes and nurseries (Trio's semantics on a multi-threaded
//! runtime).
//!
//! Cancellation in Rust is drop: a cancelled region's future is dropped at its next
//! *checkpoint* (an `.await` of a runtime operation), on its own thread, and its `Drop` impls
//! run. Scopes form a tree (`node.rs`) that spans tasks: a nursery's children hang below the
//! nursery's scope, whatever domain they run on, so a cancel crosses threads by waking every
//! task in the subtree.
//!
//! # How a scope stops its code
//!
//! 1. `cancel()` marks the subtree (`node.rs`) and wakes each task in it.
//! 2. Every runtime operation starts with a cooperative-budget check (`coop::poll_proceed`),
//!    which also reports `Pending` when the innermost scope of the running code is cancelled;
//!    `checkpoint()` does the same. The operation's future thus returns `Pending` at once.
//! 3. The scope's future (`ScopeRun`, a nursery, a nursery child: all three run the steps of
//!    the scope core, `body.rs`, written once) sees, after its body returned `Pending`, that it
//!    is cancelled and nothing inside holds it (no active shield, no nursery still draining
//!    children), drops the body, and completes — unless the scope enclosing this poll is
//!    cancelled too, in which case it stays pending and that outer scope, polled next in the
//!    same call stack, catches (the outermost cancelled scope catches).
//! 4. A shield or a nursery with live children *holds* its enclosing scopes of the same task:
//!    they keep polling their body, whose code runs on (the shielded region sees no
//!    cancellation; the nursery waits for its cancelled children to be dropped), and stop at the
//!    first checkpoint after the hold is released.

mod body;
mod cancel;
mod child;
mod current;
mod error;
mod node;
mod nursery;
mod recycle;
mod start;

pub use cancel::{
    CancelHandle, CancelScope, ScopeRun, TooSlow, cancel_requested, checkpoint, fail_after,
    fail_at, move_on_after, move_on_at, shielded,
};
pub use child::{ChildHandle, NoValue};
pub(crate) use current::{Enter, OpHold, is_cancelled};
pub use error::{BoxError, HasOutput, NurseryError, PanicPayload, TaskFailure, TaskResult};
pub(crate) use node::{Kind, Node};
pub use nursery::{Nursery, NurseryClosed, NurseryHandle, nursery};
pub use start::{NotStarted, TaskStatus};
