//! The talk's asyncio 3.11 timeout program (`asyncio.timeout`, Trio's `fail_after`): an
//! operation that takes too long fails with an error; one that is fast enough gives its value.
//!
//! ```text
//! cargo run --example fail_after
//! ```
//!
//! Python on the left, Trellis on the right:
//!
//! ```text
//! async def main():                           trellis::run(async {
//!     try:                                        match fail_after(Duration::from_secs(1), triplet_nap()).await {
//!         async with asyncio.timeout(1):              Ok(v) => println!("{v}"),
//!             await triplet_nap()                     Err(TooSlow) => println!("timed out"),
//!     except TimeoutError:                        }
//!         print("timed out")
//!                                                 // or, where the caller's error type takes it:
//!     # trio: with trio.fail_after(1): ...        let v = fail_after(Duration::from_secs(1), read_sensor()).await?;
//!                                             })
//! ```
//!
//! # The translation
//!
//! - `fail_after(d, future)` runs `future` in a cancel scope with a deadline `d` after its first
//!   poll, like `move_on_after`, but turns "the scope caught a cancellation" into an error:
//!   `Result<T, TooSlow>`. Python raises `TimeoutError` (asyncio) or `TooSlowError` (Trio);
//!   Rust returns `Err(TooSlow)`, which is a `std::error::Error`, so `?` passes it on.
//! - As in Python, the slow operation is cancelled, not abandoned: its future is dropped at its
//!   checkpoint (the `sleep`), on its own thread, and its destructors run before `fail_after`
//!   returns. Nothing keeps running unseen.
//! - A fast operation gives `Ok(value)`, its result unchanged, and the timer is disarmed.
//! - `fail_at(instant, future)` is the absolute-deadline form (`trio.fail_at`,
//!   `asyncio.timeout_at`).

use std::error::Error;
use std::time::{Duration, Instant};

use trellis::TooSlow;
use trellis::time::sleep;

/// Prints one line of the timeline: milliseconds since the start.
fn say(t0: Instant, what: &str) {
    println!("{:>5} ms  {what}", t0.elapsed().as_millis());
}

/// Prints when the slow operation's future is dropped: the cancellation, made visible.
struct Dropped(Instant);

impl Drop for Dropped {
    fn drop(&mut self) {
        say(self.0, "triplet_nap: dropped (cancelled at its sleep)");
    }
}

/// The slow operation: three seconds.
async fn triplet_nap(t0: Instant) -> &'static str {
    let _guard = Dropped(t0);
    say(t0, "triplet_nap: zzz (3 s)");
    sleep(Duration::from_secs(3)).await;
    "slept 3 s"
}

/// A fast operation: 20 ms, then a value.
async fn read_sensor(t0: Instant) -> f64 {
    say(t0, "read_sensor: reading (20 ms)");
    sleep(Duration::from_millis(20)).await;
    21.5
}

/// Uses `?`: a timeout is an error like any other for the caller.
async fn temperature(t0: Instant) -> Result<f64, Box<dyn Error + Send + Sync>> {
    let celsius = trellis::fail_after(Duration::from_secs(1), read_sensor(t0)).await?;
    Ok(celsius)
}

fn main() {
    trellis::run(async {
        let t0 = Instant::now();

        say(t0, "main: triplet_nap under a 1 s timeout");
        let slow = trellis::fail_after(Duration::from_secs(1), triplet_nap(t0)).await;
        match slow {
            Ok(v) => say(t0, &format!("main: finished in time: {v}")),
            Err(TooSlow) => say(t0, &format!("main: Err(TooSlow): \"{TooSlow}\"")),
        }
        assert_eq!(slow, Err(TooSlow));
        let after_slow = t0.elapsed();
        assert!(after_slow >= Duration::from_secs(1) && after_slow < Duration::from_millis(1_500));

        say(t0, "main: read_sensor under a 1 s timeout");
        let t1 = Instant::now();
        let fast = trellis::fail_after(Duration::from_secs(1), read_sensor(t0)).await;
        say(
            t0,
            &format!(
                "main: {fast:?} after {} ms (the timer was disarmed)",
                t1.elapsed().as_millis()
            ),
        );
        assert_eq!(fast, Ok(21.5));

        let with_question_mark = temperature(t0).await;
        say(t0, &format!("main: temperature() = {with_question_mark:?}"));
        assert_eq!(with_question_mark.ok(), Some(21.5));
    });
}
