//! `trellis-util`: a port of trio-util to Trellis.
//!
//! Ported so far: [`AsyncValue`] (`new`, `get`, `with`, `set`, `wait_value`, `wait_transition`)
//! and [`AsyncBool`]; the awaitables [`wait_any`] and [`wait_all`]; the cancel-scope helpers
//! [`move_on_when`] and [`run_and_cancelling`]. Still to come (see the project's issue):
//! `held_for`, `eventual_values`, `transitions`, `open_transform`, `compose_values`,
//! `RepeatedEvent`, the iterators, `TaskStats`. Built only on `trellis-runtime`'s public API,
//! with no `unsafe` code.
#![forbid(unsafe_code)]

mod async_value;
mod awaitables;
mod cancel_scopes;
mod task_stats;

pub use async_value::{AsyncBool, AsyncValue, SharedValue};
pub use awaitables::{Awaitables, wait_all, wait_any};
pub use cancel_scopes::{BodyResult, move_on_when, move_on_when_in, run_and_cancelling};
pub use task_stats::{TaskStats, TaskStatsReport};
