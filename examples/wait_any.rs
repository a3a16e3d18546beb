//! trio-util's awaitables and cancel-scope helpers on Trellis: `wait_any`, `wait_all`,
//! `move_on_when` and `run_and_cancelling`.
//!
//! ```text
//! cargo run --example wait_any
//! ```
//!
//! Trio on the left, Trellis on the right:
//!
//! ```text
//! await wait_any(partial(door.wait_value, True),   wait_any((door_opens, sleep(1 s))).await?;
//!                partial(trio.sleep, 1))
//!
//! await wait_all(fetch_a, fetch_b)                 wait_all((fetch(a), fetch(b))).await?;
//!
//! async with move_on_when(stop.wait_value, True):   move_on_when(stop_set, async |_scope| {
//!     await work()                                     work().await
//!                                                  }).await?;
//!
//! async with run_and_cancelling(heartbeat):        run_and_cancelling(heartbeat(), async {
//!     await work()                                     work().await
//!                                                  }).await?;
//! ```
//!
//! # The translation
//!
//! - trio-util takes zero-argument async functions (`partial` for arguments); a Rust future is
//!   already "the call, not yet run", so the helpers take futures: `fetch(a)`.
//! - `wait_any` / `wait_all` start each future as a nursery child, so they are `Send + 'static`
//!   (share state with `Arc`, move clones into `async move`) and run in parallel on the pool.
//! - The `async with` body becomes an async closure (or block) run inline in the caller's task:
//!   it may borrow locals, and its value comes back (`Some(v)`; `None` when the trigger
//!   cancelled it).
//! - Failures come out as one `NurseryError`, as trio-util's come out as an `ExceptionGroup`.

use std::sync::Arc;
use std::time::Duration;

use trellis::time::{Instant, sleep};
use trellis::util::{AsyncBool, move_on_when, run_and_cancelling, wait_all, wait_any};

fn say(t0: Instant, what: &str) {
    println!("{:>5} ms  {what}", t0.elapsed().as_millis());
}

/// A stand-in for a request: takes `ms` milliseconds.
async fn fetch(t0: Instant, name: &'static str, ms: u64) {
    sleep(Duration::from_millis(ms)).await;
    say(t0, &format!("fetched {name}"));
}

/// Waits until `flag` is true.
fn became_true(flag: &Arc<AsyncBool>) -> impl Future<Output = ()> + Send + 'static {
    let flag = flag.clone();
    async move {
        flag.wait_value(|v| *v).await;
    }
}

fn main() -> Result<(), trellis::NurseryError> {
    trellis::run(async {
        let t0 = Instant::now();

        // wait_any: the door opens after 30 ms, or we give up after 1 s.
        let door = AsyncBool::shared(false);
        let d = door.clone();
        drop(trellis::spawn(async move {
            sleep(Duration::from_millis(30)).await;
            d.set(true);
        })); // detached: it is done in 30 ms
        wait_any((became_true(&door), sleep(Duration::from_secs(1)))).await?;
        say(
            t0,
            "wait_any: the door opened (the 1 s timer was cancelled)",
        );

        // wait_all: both fetches, in parallel.
        wait_all((fetch(t0, "a", 20), fetch(t0, "b", 40))).await?;
        say(t0, "wait_all: both fetched");

        // move_on_when: work until `stop` is set (here by the work itself, after 3 rounds).
        let stop = AsyncBool::shared(false);
        let mut rounds = 0;
        let out = move_on_when(became_true(&stop), async |_scope| {
            loop {
                rounds += 1;
                if rounds == 3 {
                    stop.set(true);
                }
                sleep(Duration::from_millis(10)).await;
            }
        })
        .await?;
        say(
            t0,
            &format!("move_on_when: stopped after {rounds} rounds ({out:?})"),
        );

        // run_and_cancelling: a heartbeat runs while the body works, and stops with it.
        let beats = AsyncBool::shared(false);
        let b = beats.clone();
        let heartbeat = async move {
            loop {
                sleep(Duration::from_millis(5)).await;
                b.set(!b.get());
            }
        };
        let answer = run_and_cancelling(heartbeat, async {
            sleep(Duration::from_millis(25)).await;
            Ok::<_, std::io::Error>(42)
        })
        .await?;
        say(
            t0,
            &format!("run_and_cancelling: the body returned {answer}; heartbeat stopped"),
        );
        Ok(())
    })
}
