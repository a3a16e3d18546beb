//! The talk's error program: in one nursery a child succeeds, two fail with different error
//! types, and a napping sibling is cancelled (it never prints). The errors come out together,
//! and the caller picks them apart by type: Python's `except*`.
//!
//! ```text
//! cargo run --example nursery_errors
//! ```
//!
//! Trio on the left, Trellis on the right:
//!
//! ```text
//! async def main():                               let result = trellis::nursery(async |n| {
//!     try:
//!         async with trio.open_nursery() as n:
//!             n.start_soon(coro_success)                  n.start_soon(coro_success(t));
//!             n.start_soon(coro_value_err)                n.start_soon(coro_value_err(t));
//!             n.start_soon(coro_type_err)                 n.start_soon(coro_type_err(t));
//!             n.start_soon(triplet_nap)                   n.start_soon(triplet_nap(t));
//!                                                 })
//!                                                 .await;
//!     except* ValueError as group:                let Err(err) = result else { .. };
//!         print(group.exceptions)                 let (value_errors, rest) = err.split::<ValueError>();
//!     except* TypeError as group:                 let (type_errors, rest) = rest.unwrap().split::<TypeError>();
//!         print(group.exceptions)                 assert!(rest.is_none()); // nothing else failed
//!
//! async def coro_value_err():                     async fn coro_value_err(t: Instant) -> Result<(), ValueError> {
//!     raise ValueError("bad value")                   Err(ValueError("bad value".into()))
//!                                                 }
//!
//! async def triplet_nap():                        async fn triplet_nap(t: Instant) {
//!     await trio.sleep(3)                             sleep(Duration::from_secs(3)).await;
//!     print("slept well")                             say(t, "triplet_nap", "slept well"); // never printed
//!                                                 }
//! ```
//!
//! # The translation
//!
//! - An exception is an `Err`: a child returns `Result<(), E>` for any error type `E` (it is
//!   boxed as `Box<dyn Error + Send + Sync>`); a panic counts as a failure too.
//! - The first failure cancels the nursery's scope: the napping sibling is dropped at its
//!   `sleep`, on its own thread, so "slept well" never prints (its drop guard says so instead),
//!   and the nursery returns at once instead of after three seconds.
//! - Both errors come out, in one [`trellis::NurseryError`], as Trio's exception group (Trio
//!   always wraps; so does Trellis). A child that was cancelled is not a failure. Both failing
//!   children fail in their first poll, before any checkpoint, and a child's first poll always
//!   runs (as in Trio, code runs until its first checkpoint), so both errors are always there.
//!   Their order in the group is completion order: the two workers race, as Trio's tasks would.
//! - `except* ValueError` is `err.split::<ValueError>()`: the `ValueError`s, and the rest of
//!   the group (`None` when nothing is left). `err.find::<E>()` looks one up without taking
//!   the group apart; `err.failures()` lists every `TaskFailure`; `Display` prints them all.
//! - Python's exception classes become small error types, here `ValueError` and `TypeError`.

use std::error::Error;
use std::fmt;
use std::time::{Duration, Instant};

use trellis::time::sleep;

/// Python's `ValueError`.
#[derive(Debug)]
struct ValueError(String);

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ValueError: {}", self.0)
    }
}

impl Error for ValueError {}

/// Python's `TypeError`.
#[derive(Debug)]
struct TypeError(String);

impl fmt::Display for TypeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TypeError: {}", self.0)
    }
}

impl Error for TypeError {}

/// Prints one line of the timeline: milliseconds since the start, who, what.
fn say(t0: Instant, who: &str, what: &str) {
    println!(
        "{:>4} ms  {:<15} {what}",
        t0.elapsed().as_millis(),
        format!("{who}:")
    );
}

/// Prints when the napping task is dropped: that is what its cancellation looks like.
struct Dropped {
    t0: Instant,
    who: &'static str,
}

impl Drop for Dropped {
    fn drop(&mut self) {
        say(self.t0, self.who, "cancelled: dropped at its checkpoint");
    }
}

async fn coro_success(t0: Instant) {
    say(t0, "coro_success", "done");
}

async fn coro_value_err(t0: Instant) -> Result<(), ValueError> {
    say(t0, "coro_value_err", "raising ValueError");
    Err(ValueError(
        "invalid literal for int() with base 10: 'x'".into(),
    ))
}

async fn coro_type_err(t0: Instant) -> Result<(), TypeError> {
    say(t0, "coro_type_err", "raising TypeError");
    Err(TypeError(
        "can only concatenate str (not \"int\") to str".into(),
    ))
}

async fn triplet_nap(t0: Instant) {
    let _guard = Dropped {
        t0,
        who: "triplet_nap",
    };
    say(t0, "triplet_nap", "napping for 3 s");
    sleep(Duration::from_secs(3)).await;
    say(t0, "triplet_nap", "slept well"); // never printed: cancelled in the sleep
}

fn main() {
    let t0 = Instant::now();
    let result = trellis::run(trellis::nursery(async |n| {
        n.start_soon(coro_success(t0));
        n.start_soon(coro_value_err(t0));
        n.start_soon(coro_type_err(t0));
        n.start_soon(triplet_nap(t0));
    }));
    let elapsed = t0.elapsed();
    say(t0, "main", "the nursery returned");

    let Err(err) = result else {
        panic!("two children failed, the nursery must report it");
    };
    // Everything at once, in completion order (Display lists every failure).
    println!("\n{err}\n");
    assert_eq!(
        err.len(),
        2,
        "both errors, and nothing for the cancelled nap"
    );
    assert!(err.find::<TypeError>().is_some());

    // except* ValueError / except* TypeError
    let (value_errors, rest) = err.split::<ValueError>();
    for e in &value_errors {
        println!("except* ValueError: caught {e}");
    }
    let rest = rest.expect("the TypeError is still in the group");
    let (type_errors, rest) = rest.split::<TypeError>();
    for e in &type_errors {
        println!("except* TypeError:  caught {e}");
    }
    assert_eq!((value_errors.len(), type_errors.len()), (1, 1));
    assert!(rest.is_none(), "nothing else failed");

    assert!(
        elapsed < Duration::from_secs(1),
        "the nap was cancelled, not waited for"
    );
    println!(
        "\nok: two errors matched by type; the 3 s nap was cancelled (nursery returned after {} ms)",
        elapsed.as_millis()
    );
}
