//! An idle runtime parks its workers instead of spinning.
//!
//! This binary holds a single test on purpose: it measures the CPU time of the whole process,
//! so no other test may run beside it.
#![cfg(target_os = "linux")]

mod support;

use std::time::Duration;

use support::{Watchdog, process_cpu_time};
use trellis::Runtime;

/// Spinning workers would burn about 2 s of CPU per phase (2 workers x 1 s); parked ones burn
/// next to nothing.
const BUDGET: Duration = Duration::from_millis(200);

fn cpu_during_one_second() -> Duration {
    let before = process_cpu_time().expect("read /proc/self/stat");
    std::thread::sleep(Duration::from_secs(1));
    let after = process_cpu_time().expect("read /proc/self/stat");
    after.saturating_sub(before)
}

#[test]
fn idle_runtime_does_not_spin() {
    let _wd = Watchdog::new("idle_runtime_does_not_spin");
    let rt = support::rt_named(2, "trl-idle");
    // Warm up: run some work on both workers, then let them go idle.
    let sum: u64 = rt.block_on(async {
        let hs: Vec<_> = (0..1000u64)
            .map(|i| trellis::spawn(async move { i }))
            .collect();
        let mut s = 0;
        for h in hs {
            s += h.await.unwrap();
        }
        s
    });
    assert_eq!(sum, (0..1000).sum());
    std::thread::sleep(Duration::from_millis(100));

    let idle = cpu_during_one_second();
    println!("RELIABILITY idle_cpu_ms={}", idle.as_millis());
    assert!(
        idle < BUDGET,
        "an idle runtime with 2 workers used {idle:?} of CPU in 1 s (spinning?)"
    );

    // Idle with a far timer armed and a task parked forever.
    let (_tx, rx) = tokio::sync::oneshot::channel::<()>();
    let parked = rt.spawn(async move {
        let _ = rx.await;
    });
    let sleeper = rt.spawn(async { trellis::time::sleep(Duration::from_secs(3600)).await });
    std::thread::sleep(Duration::from_millis(100));
    let idle = cpu_during_one_second();
    println!("RELIABILITY idle_cpu_with_timer_ms={}", idle.as_millis());
    assert!(
        idle < BUDGET,
        "a runtime whose tasks all wait (one on a 1 h timer) used {idle:?} of CPU in 1 s"
    );
    parked.abort();
    sleeper.abort();
    drop(rt);

    // A paused clock with every thread idle and no timer to jump to: nothing to do, so
    // nothing may spin (the last sleeper must block, not poll for a jump).
    let paused = std::sync::Arc::new(support::paused_rt(2));
    let (tx, rx) = trellis::channel::oneshot::<()>();
    let waiter = rt_thread(paused.clone(), rx);
    let stuck = paused.spawn(std::future::pending::<()>());
    std::thread::sleep(Duration::from_millis(100));
    let idle = cpu_during_one_second();
    println!("RELIABILITY idle_cpu_paused_ms={}", idle.as_millis());
    assert!(
        idle < BUDGET,
        "a paused runtime with nothing to run used {idle:?} of CPU in 1 s"
    );
    tx.send(()).unwrap();
    waiter.join().unwrap();
    stuck.abort();
}

/// `block_on(rx.recv())` on its own thread.
fn rt_thread(
    rt: std::sync::Arc<Runtime>,
    mut rx: trellis::channel::oneshot::Receiver<()>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || rt.block_on(async move { rx.recv().await.unwrap() }))
}
