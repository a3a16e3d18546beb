//! `trellis-util`: a port of trio-util to Trellis (`AsyncValue`, `compose_values`,
//! `RepeatedEvent`, `periodic`, `wait_any`, ...).
//!
//! Not yet written: this crate is a skeleton so the workspace has its final shape. It is built
//! only on `trellis-runtime`'s public API and contains no `unsafe` code.
#![forbid(unsafe_code)]
