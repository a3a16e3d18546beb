//! Trellis: a work-stealing async runtime for CPU-heavy work, with Trio-style structured
//! concurrency.
//!
//! This facade re-exports the runtime (`trellis-runtime`) at the top level and the trio-util
//! port (`trellis-util`) as [`util`].
//!
//! ```
//! let v = trellis::run(async { trellis::spawn(async { 1 + 1 }).await.unwrap() });
//! assert_eq!(v, 2);
//! ```

pub use trellis_runtime::*;

/// The trio-util port (`trellis-util`).
pub use trellis_util as util;

/// The README's code blocks, compiled and run as doctests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
