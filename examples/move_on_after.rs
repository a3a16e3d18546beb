//! The talk's timeout-as-a-cancel-scope program: a three-second nap under a one-second scope.
//! The scope cancels the nap at its deadline, the program moves on, and the scope tells
//! whether it was the one that caught the cancellation.
//!
//! ```text
//! cargo run --example move_on_after
//! ```
//!
//! Trio on the left, Trellis on the right:
//!
//! ```text
//! async def main():                           trellis::run(async {
//!     with trio.move_on_after(1) as scope:        let scope = CancelScope::new().timeout(Duration::from_secs(1));
//!                                                 let handle = scope.handle();
//!         await triplet_nap()                     let out = scope.run(triplet_nap()).await; // None: cancelled
//!     if scope.cancelled_caught:                  if handle.cancelled_caught() {
//!         print("wake up properly")                   println!("wake up properly");
//!                                                 }
//!                                             })
//! ```
//!
//! # The translation
//!
//! - A Trio `with` block is a region of code; in Rust the region is a future, so the scope
//!   *runs* it: `CancelScope::new().timeout(d).run(future)`. Its output is `Some(value)` when the
//!   code finished and `None` when this scope caught a cancellation.
//! - `as scope` becomes `scope.handle()`, taken before the scope consumes itself in `run`: a
//!   `CancelHandle` (`Clone + Send + Sync`) that reads `cancelled_caught()` and `cancel_called()`
//!   afterwards, and can `cancel()` or `set_deadline(..)` from any task or thread meanwhile.
//! - Cancellation is drop: at the deadline the nap's future is dropped at its checkpoint (the
//!   `sleep`), its destructors run, and `run` returns. Nothing after the `sleep` in
//!   `triplet_nap` runs.
//! - The short form, when the handle is not needed: `trellis::move_on_after(d, future)`, also
//!   `Option<T>`. The clock starts at the first poll of the scope (a relative deadline).
//!
//! The second part runs a nap that fits in the scope, to show the `Some` side.

use std::time::{Duration, Instant};

use trellis::CancelScope;
use trellis::time::sleep;

/// Prints one line of the timeline: milliseconds since the start.
fn say(t0: Instant, what: &str) {
    println!("{:>5} ms  {what}", t0.elapsed().as_millis());
}

/// Three seconds of sleep (the slide's `triplet_nap`). Returns how long it slept.
async fn triplet_nap(t0: Instant) -> Duration {
    say(t0, "triplet_nap: zzz (3 s)");
    sleep(Duration::from_secs(3)).await;
    say(t0, "triplet_nap: slept 3 s"); // never printed under a 1 s scope
    Duration::from_secs(3)
}

fn main() {
    trellis::run(async {
        let t0 = Instant::now();

        // with trio.move_on_after(1) as cancel_scope: await triplet_nap()
        let scope = CancelScope::new().timeout(Duration::from_secs(1));
        let handle = scope.handle();
        say(t0, "main: napping under a 1 s scope");
        let out = scope.run(triplet_nap(t0)).await;
        let elapsed = t0.elapsed();
        say(t0, &format!("main: the scope returned {out:?}"));
        println!(
            "          cancel_called = {}, cancelled_caught = {}, elapsed = {} ms",
            handle.cancel_called(),
            handle.cancelled_caught(),
            elapsed.as_millis()
        );
        if handle.cancelled_caught() {
            say(t0, "main: wake up properly");
        }
        assert_eq!(out, None);
        assert!(handle.cancelled_caught());
        assert!(elapsed >= Duration::from_secs(1) && elapsed < Duration::from_millis(1_500));

        // A nap that fits: the scope lets the value through and catches nothing.
        let t1 = Instant::now();
        let scope = CancelScope::new().timeout(Duration::from_secs(1));
        let handle = scope.handle();
        let out = scope
            .run(async {
                sleep(Duration::from_millis(200)).await;
                "a 200 ms power nap"
            })
            .await;
        say(
            t0,
            &format!(
                "main: the scope returned {out:?}; cancelled_caught = {}, took {} ms",
                handle.cancelled_caught(),
                t1.elapsed().as_millis()
            ),
        );
        assert_eq!(out, Some("a 200 ms power nap"));
        assert!(!handle.cancelled_caught());

        // The short form.
        let short = trellis::move_on_after(Duration::from_millis(50), triplet_nap(t0)).await;
        say(
            t0,
            &format!("main: move_on_after(50 ms, triplet_nap) = {short:?}"),
        );
        assert_eq!(short, None);
    });
}
