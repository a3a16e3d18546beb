//! `trellis-util`: a port of trio-util to Trellis.
//!
//! Ported so far: [`AsyncValue`] (`new`, `get`, `with`, `set`, `wait_value` with `held_for`,
//! `wait_transition`, `eventual_values` with `held_for`, `transitions`, `open_transform`),
//! [`AsyncBool`], [`compose_values()`] (also as the [`compose_values!`] macro) and
//! [`RepeatedEvent`]; the awaitables [`wait_any`] and [`wait_all`]; the cancel-scope helpers
//! [`move_on_when`] and [`run_and_cancelling`]. Still to come (see the project's issue): the
//! iterators, `TaskStats`. Built only on `trellis-runtime`'s public API, with no `unsafe` code.
#![forbid(unsafe_code)]

mod async_value;
mod awaitables;
mod cancel_scopes;
mod compose_values;
mod repeated_event;

pub use async_value::{
    AsyncBool, AsyncValue, EventualValues, SharedValue, Statistics, Transform, Transitions,
    WaitTransition, WaitValue, any_transition, any_value, equal_to, transition_to,
};
pub use awaitables::{Awaitables, wait_all, wait_any};
pub use cancel_scopes::{BodyResult, move_on_when, move_on_when_in, run_and_cancelling};
#[doc(hidden)]
pub use compose_values::__compose_named;
pub use compose_values::{ComposeInputs, Composite, ValueRef, compose_values, compose_values_with};
pub use repeated_event::{Events, RepeatedEvent, UnqueuedEvents};
