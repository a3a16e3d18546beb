//! One `AsyncValue`, three ways to watch it: `wait_value` (with `held_for`), `eventual_values`
//! and `transitions`, side by side on a temperature fed by a producer.
//!
//! ```text
//! cargo run --example async_value
//! ```
//!
//! trio-util on the left, Trellis on the right:
//!
//! ```text
//! temperature = AsyncValue(20)                    let temperature = AsyncValue::shared(20);
//! temperature.value = 31                          temperature.set(31);
//!
//! v = await temperature.wait_value(               let v = temperature.wait_value(|t| *t > 30)
//!         lambda t: t > 30, held_for=0.25)            .held_for(Duration::from_millis(250)).await;
//!
//! async for t in temperature.eventual_values():   let mut values = temperature.eventual_values(any_value);
//!     await show(t)                               while let Some(t) = values.next().await {
//!                                                     show(t).await;
//!                                                 }
//!
//! async for new, old in temperature.transitions(  let mut rises = temperature.transitions(|new, old| new > old);
//!         lambda new, old: new > old):            while let Some((new, old)) = rises.next().await {
//!     print(new, old)                                 println!("{new} {old}");
//!                                                 }
//! ```
//!
//! What to look for in the output:
//!
//! - `wait_value` returns once; with `held_for` it returns the reading that *started* the
//!   250 ms hold (33 at 600 ms), not the latest one (38), and the dip to 28 at 500 ms restarted
//!   the hold.
//! - `eventual_values` has a slow body (230 ms): it skips the readings that came and went
//!   while it was busy, but it always catches up with the current one, and its last item is
//!   the final reading.
//! - `transitions` sees every rise, because its body is instant; a change during a slow body
//!   would be lost.
//!
//! The runtime runs on the paused clock (`Builder::start_paused`): time jumps to the next
//! timer whenever every task waits, so the 1.2 s timeline prints at once, with the same times
//! on every run (lines printed at the same instant by different tasks may swap).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use trellis::time::{Instant, sleep};
use trellis::util::{AsyncValue, any_value};

/// The producer's readings, one every `STEP`.
const READINGS: [i32; 9] = [22, 25, 31, 35, 28, 33, 40, 38, 20];
const STEP: Duration = Duration::from_millis(100);
/// The `eventual_values` watcher's body.
const SLOW_BODY: Duration = Duration::from_millis(230);
/// How long the `held_for` watcher needs the temperature to stay over 30.
const HOLD: Duration = Duration::from_millis(250);

/// What each watcher saw, in order, for the checks at the end.
#[derive(Clone)]
struct Log {
    t0: Instant,
    lines: Arc<Mutex<Vec<(&'static str, String)>>>,
}

impl Log {
    fn say(&self, who: &'static str, what: String) {
        let mut lines = self.lines.lock().unwrap();
        println!("{:>5} ms  {who:<16} {what}", self.t0.elapsed().as_millis());
        lines.push((who, what));
    }

    fn of(&self, who: &str) -> Vec<String> {
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .filter(|(w, _)| *w == who)
            .map(|(_, what)| what.clone())
            .collect()
    }
}

fn main() {
    let rt = trellis::Runtime::builder()
        .workers(2)
        .start_paused(true)
        .build()
        .expect("build the runtime");
    let log = rt.block_on(async {
        let temperature = AsyncValue::shared(20);
        let log = Log {
            t0: Instant::now(),
            lines: Arc::default(),
        };
        trellis::nursery(async |n| {
            let stop = n.handle();
            let (t, l) = (temperature.clone(), log.clone());
            n.start_soon(async move {
                for reading in READINGS {
                    sleep(STEP).await;
                    t.set(reading);
                    l.say("producer", format!("set {reading}"));
                }
                sleep(3 * STEP).await;
                stop.cancel(); // the watchers loop forever: stop them
            });

            let (t, l) = (temperature.clone(), log.clone());
            n.start_soon(async move {
                let hot = t.wait_value(|v| *v > 30).await;
                l.say("wait_value", format!("over 30: {hot}"));
                let steady = t.wait_value(|v| *v > 30).held_for(HOLD).await;
                l.say(
                    "wait_value",
                    format!("over 30 for 250 ms since {steady} (now {})", t.get()),
                );
            });

            let (t, l) = (temperature.clone(), log.clone());
            n.start_soon(async move {
                let mut values = t.eventual_values(any_value);
                while let Some(v) = values.next().await {
                    l.say("eventual_values", format!("{v}"));
                    sleep(SLOW_BODY).await; // busy: readings come and go meanwhile
                }
            });

            let (t, l) = (temperature.clone(), log.clone());
            n.start_soon(async move {
                let mut rises = t.transitions(|new, old| new > old);
                while let Some((new, old)) = rises.next().await {
                    l.say("transitions", format!("rose {old} -> {new}"));
                }
            });
        })
        .await
        .expect("nobody fails");
        log
    });

    // What each watcher saw (virtual times make it the same on every run).
    assert_eq!(
        log.of("wait_value"),
        ["over 30: 31", "over 30 for 250 ms since 33 (now 38)"]
    );
    assert_eq!(log.of("eventual_values"), ["20", "25", "35", "33", "20"]);
    assert_eq!(
        log.of("transitions"),
        [
            "rose 20 -> 22",
            "rose 22 -> 25",
            "rose 25 -> 31",
            "rose 31 -> 35",
            "rose 28 -> 33",
            "rose 33 -> 40"
        ]
    );
    println!("ok: eventual_values ended on the final reading, 20");
}
