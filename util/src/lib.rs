//! `trellis-util`: a port of trio-util to Trellis.
//!
//! Ported so far: [`AsyncValue`] (`new`, `get`, `with`, `set`, `wait_value` with `held_for`,
//! `wait_transition`, `eventual_values` with `held_for`, `transitions`, `open_transform`),
//! [`AsyncBool`], [`compose_values()`] (also as the [`compose_values!`] macro) and
//! [`RepeatedEvent`]; the awaitables [`wait_any`] (and [`wait_any_value`]) and [`wait_all`]; the cancel-scope helpers
//! [`move_on_when`] and [`run_and_cancelling`]; the iterators [`periodic`],
//! [`iter_move_on_after`], [`iter_fail_after`], [`azip`], [`azip_longest`] (and [`try_azip`]),
//! and [`with_async_generator`] (trio-util's `@trio_async_generator`); [`TaskStats`]; and `trio.testing`'s [`Sequencer`]. Built
//! only on `trellis-runtime`'s public API, with no `unsafe` code.
#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

mod async_generator;
mod async_itertools;
mod async_value;
mod awaitables;
mod cancel_scopes;
mod compose_values;
mod iterators;
mod periodic;
mod repeated_event;
mod sequencer;
mod task_stats;

pub use async_generator::{AsyncGenerator, GeneratorClosed, Yielder, with_async_generator};
pub use async_itertools::{
    Azip, AzipLongest, TryAzip, TryZipStreams, ZipStreams, azip, azip_longest, try_azip,
};
pub use async_value::{
    AsyncBool, AsyncValue, EventualValues, SharedValue, Statistics, Transform, Transitions,
    WaitTransition, WaitValue, any_transition, any_value, equal_to, transition_to,
};
pub use awaitables::{Awaitables, wait_all, wait_any, wait_any_value};
pub use cancel_scopes::{BodyResult, move_on_when, move_on_when_in, run_and_cancelling};
#[doc(hidden)]
pub use compose_values::__compose_named;
pub use compose_values::{ComposeInputs, Composite, ValueRef, compose_values, compose_values_with};
pub use iterators::{IterFailAfter, IterMoveOnAfter, iter_fail_after, iter_move_on_after};
pub use periodic::{Periodic, periodic};
pub use repeated_event::{Events, RepeatedEvent, UnqueuedEvents};
pub use sequencer::{Sequencer, SequencerGuard};
pub use task_stats::{TaskStats, TaskStatsReport};
