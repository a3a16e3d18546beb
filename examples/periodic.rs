//! trio-util's iterators on Trellis: a `periodic` loop whose body sometimes overruns, a sensor
//! read through `iter_move_on_after`, and two sensors zipped with `azip`.
//!
//! ```text
//! cargo run --example periodic
//! ```
//!
//! Trio on the left, Trellis on the right:
//!
//! ```text
//! async for elapsed, dt in periodic(0.1):        let mut ticks = periodic(Duration::from_millis(100));
//!     ...                                         while let Some((elapsed, dt)) = ticks.next().await { ... }
//!
//! @trio_async_generator                           with_async_generator(
//! async def sensor(): ... yield reading               |y| sensor(y),
//! async with sensor() as readings:                    async |readings| {
//!     async for r in iter_move_on_after(              let mut r = iter_move_on_after(d, readings);
//!             0.25, readings): ...                     while let Some(v) = r.next().await { ... }
//!                                                     },
//!                                                 ).await
//! ```
//!
//! The program runs on a paused virtual clock (`start_paused`), so it finishes at once and
//! prints exact times; drop `.start_paused(true)` to watch it in real time.

use std::time::Duration;

use futures_lite::StreamExt;
use trellis::time::{Instant, sleep};
use trellis::util::{
    GeneratorClosed, Yielder, azip, iter_move_on_after, periodic, with_async_generator,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A sensor that reports every `every`, and stops reporting after `count` readings (it hangs).
async fn sensor(y: Yielder<u32>, every: Duration, count: u32) -> Result<(), GeneratorClosed> {
    for reading in 0..count {
        sleep(every).await;
        y.yield_(reading * 10).await?;
    }
    std::future::pending::<()>().await;
    Ok(())
}

fn main() {
    let rt = trellis::Runtime::builder()
        .workers(2)
        .start_paused(true)
        .build()
        .expect("build the runtime");
    rt.block_on(async {
        println!("periodic(100 ms), with a 250 ms body on the third iteration:");
        let mut ticks = periodic(ms(100));
        for i in 0..5 {
            let (elapsed, dt) = ticks.next().await.expect("periodic never ends");
            println!("  elapsed {elapsed:>9.3?}  delta {dt:?}");
            if i == 2 {
                sleep(ms(250)).await; // overrun: the next iteration starts at once
            }
        }

        println!("a sensor that stops reporting, read with iter_move_on_after(250 ms):");
        let t0 = Instant::now();
        let readings = with_async_generator(
            |y| sensor(y, ms(100), 3),
            async |readings| {
                let mut readings = iter_move_on_after(ms(250), readings);
                let mut got = Vec::new();
                while let Some(v) = readings.next().await {
                    println!("  {:>4} ms  reading {v}", t0.elapsed().as_millis());
                    got.push(v);
                }
                println!(
                    "  {:>4} ms  silent for 250 ms: moved on",
                    t0.elapsed().as_millis()
                );
                got
            },
        )
        .await
        .expect("the sensor does not fail");
        assert_eq!(readings, [0, 10, 20]);

        println!("two sensors zipped with azip (each round waits for the slower one):");
        let t0 = Instant::now();
        with_async_generator(
            |fast| sensor(fast, ms(100), 4),
            async |fast| {
                with_async_generator(
                    |slow| sensor(slow, ms(300), 2),
                    async |slow| {
                        let mut pairs = iter_move_on_after(ms(1000), azip((fast, slow)));
                        while let Some((a, b)) = pairs.next().await {
                            println!(
                                "  {:>4} ms  fast {a:>2}, slow {b:>2}",
                                t0.elapsed().as_millis()
                            );
                        }
                        println!(
                            "  {:>4} ms  no round for 1 s: moved on (both sensors are cancelled)",
                            t0.elapsed().as_millis()
                        );
                    },
                )
                .await
                .expect("the slow sensor does not fail");
            },
        )
        .await
        .expect("the fast sensor does not fail");
    });
}
