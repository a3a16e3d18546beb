//! `trellis-util`: a port of trio-util to Trellis.
//!
//! Ported so far: [`AsyncValue`] (`new`, `get`, `with`, `set`, `wait_value`, `wait_transition`)
//! and [`AsyncBool`]. Still to come (see the project's issue): `held_for`, `eventual_values`,
//! `transitions`, `open_transform`, `compose_values`, `RepeatedEvent`, the awaitables and
//! iterators, `TaskStats`. Built only on `trellis-runtime`'s public API, with no `unsafe` code.
#![forbid(unsafe_code)]

mod async_value;

pub use async_value::{AsyncBool, AsyncValue, SharedValue};
