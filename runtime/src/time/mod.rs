//! Timers: [`sleep`], [`sleep_until`], [`interval`].
//!
//! Deadlines live in one ordered timer queue per runtime. The worker that holds the driver
//! role sleeps in the I/O poller until the nearest deadline; busy workers compare a cached
//! earliest deadline with the clock before every poll and fire what is due, so a due timer
//! fires within about one task slice even while every worker computes or yields in a loop
//! (`scheduler/driver.rs`). A timer costs one queue insertion when its future first waits, and
//! one removal when it fires or is dropped.
//!
//! [`Instant`] reads the runtime's clock, which is the system's, or a paused virtual clock that
//! jumps to the next timer whenever every task is blocked (`Builder::start_paused`, see
//! `clock.rs`); every deadline API takes it.

pub(crate) mod clock;
mod interval;
mod queue;
mod sleep;

pub use clock::{Instant, advance};
pub use interval::{Interval, interval};
pub(crate) use queue::TimerQueue;
pub(crate) use sleep::deadline_after;
pub use sleep::{Sleep, sleep, sleep_until};
