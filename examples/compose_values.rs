//! The talk's `AsyncValue` program: two values fed by a message source, composed into one,
//! and the composite followed with `eventual_values`.
//!
//! ```text
//! cargo run --example compose_values
//! ```
//!
//! Trio (PyCon JP 2024, "Python async use cases in production") on the left, Trellis on the
//! right:
//!
//! ```text
//! async def main():                                  trellis::run(async {
//!   async with trio.open_nursery() as nursery:         trellis::nursery(async |n| {
//!     ws = await connect_websocket(                      let ws = connect(MESSAGES);
//!         nursery, "localhost", 8888, "/")
//!     event1 = AsyncValue("baby")                        let event1 = AsyncValue::shared("baby");
//!     event2 = AsyncValue("bottle")                      let event2 = AsyncValue::shared("bottle");
//!     nursery.start_soon(fetch, ws, event1, event2)      n.start_soon(fetch(ws, event1.clone(), event2.clone(), n.handle()));
//!     with compose_values(event1=event1,                 let composite = compose_values!(event1: &event1, event2: &event2);
//!                         event2=event2) as composite:
//!       async for v in composite.eventual_values():      let mut values = composite.eventual_values(any_value);
//!         print(f"{v=}")                                 while let Some(v) = values.next().await {
//!                                                            println!("v={v:?}");
//!                                                        }
//!                                                      })
//!                                                      .await
//!                                                  })
//! ```
//!
//! # The translation
//!
//! - `compose_values(event1=..., event2=...)` is the `compose_values!` macro with the same
//!   names: the composite's value is a struct `CompositeValue { event1, event2 }`, as trio-util's
//!   is a namedtuple. The `with` block is the guard's scope: while it lives, every change of
//!   `event1` or `event2` updates the composite synchronously, inside their `set`.
//! - `eventual_values()` without a predicate follows every value: `any_value`.
//! - The websocket is a stand-in here: a list of timed messages, each naming the value it
//!   updates. When it runs out ("the connection closes") `fetch` cancels the nursery, which
//!   ends the `async for` loop that would otherwise wait forever.
//! - One message updates both values with no await in between. In Trio the listener cannot
//!   run between the two assignments, so it sees only the combined state; on Trellis it may
//!   run in parallel on another worker and catch the state in between too. Either way it is
//!   eventually consistent: intermediate states may be skipped (or seen), the latest one never
//!   is: the last line is always the final state.
//!
//! The runtime runs on the paused clock (`Builder::start_paused`): time jumps to the next
//! timer whenever every task waits, so the 0.75 s timeline prints at once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use trellis::NurseryHandle;
use trellis::time::{Instant, sleep};
use trellis::util::{AsyncValue, SharedValue, any_value, compose_values};

/// The "websocket": `(milliseconds after the previous message, updates)`.
const MESSAGES: &[(u64, &[(&str, &str)])] = &[
    (100, &[("event1", "baby crying")]),
    (100, &[("event2", "bottle warm")]),
    (
        150,
        &[("event1", "baby drinking"), ("event2", "bottle half")],
    ),
    (200, &[("event2", "bottle empty")]),
    (100, &[("event1", "baby asleep")]),
];

/// Reads the messages and updates the two values, then "closes the connection".
async fn fetch(
    event1: SharedValue<&'static str>,
    event2: SharedValue<&'static str>,
    nursery: NurseryHandle,
) {
    for &(delay, updates) in MESSAGES {
        sleep(Duration::from_millis(delay)).await;
        for &(name, text) in updates {
            match name {
                "event1" => event1.set(text),
                _ => event2.set(text),
            }
        }
    }
    sleep(Duration::from_millis(100)).await;
    nursery.cancel();
}

fn main() {
    let rt = trellis::Runtime::builder()
        .workers(2)
        .start_paused(true)
        .build()
        .expect("build the runtime");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    rt.block_on(async move {
        let t0 = Instant::now();
        trellis::nursery(async |n| {
            let event1 = AsyncValue::shared("baby");
            let event2 = AsyncValue::shared("bottle");
            n.start_soon(fetch(event1.clone(), event2.clone(), n.handle()));
            let composite = compose_values!(event1: &event1, event2: &event2);
            let mut values = composite.eventual_values(any_value);
            while let Some(v) = values.next().await {
                println!("{:>4} ms  v={v:?}", t0.elapsed().as_millis());
                s.lock().unwrap().push((v.event1, v.event2));
            }
        })
        .await
        .expect("nobody fails");
    });

    let seen = seen.lock().unwrap();
    // Every state seen is one the composite had, the first is the initial one, and the last is
    // the final one (which states in between show depends on scheduling, see above).
    let states = [
        ("baby", "bottle"),
        ("baby crying", "bottle"),
        ("baby crying", "bottle warm"),
        ("baby drinking", "bottle warm"), // between the two updates of one message
        ("baby drinking", "bottle half"),
        ("baby drinking", "bottle empty"),
        ("baby asleep", "bottle empty"),
    ];
    assert!(seen.iter().all(|state| states.contains(state)));
    assert_eq!(seen.first(), Some(&("baby", "bottle")));
    assert_eq!(seen.last(), Some(&("baby asleep", "bottle empty")));
    println!("ok: the listener ended on the latest state");
}
