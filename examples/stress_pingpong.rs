//! Stress: a hundred thousand ping-pongs between tasks pinned to different domains, over a
//! bounded channel and over a rendezvous channel.
//!
//! ```text
//! STRESS_SCALE=1 cargo run --release --example stress_pingpong
//! ```
//!
//! For each flavour (`bounded(1)` and `bounded(0)`), a pinger on domain 0 sends `i` and waits
//! for `i + 1` from a ponger on domain 1, `100_000 × STRESS_SCALE` times; every round trip
//! crosses threads twice (a wake through the other domain's inbox each way). Each value holds
//! a drop slot: every ping and pong is dropped exactly once. Prints
//! `RELIABILITY stress_pingpong.key=value` lines; exits 1 if an invariant failed.

#[path = "stress/common.rs"]
mod common;

use std::sync::Arc;

use common::{Report, SlotGuard, Slots};
use trellis::DomainId;
use trellis::channel::{Receiver, Sender};

const WORKERS: usize = 2;

/// A ping or pong: its number and its drop slot.
struct Ball {
    n: usize,
    _slot: SlotGuard,
}

/// Answers every ping `n` with pong `n + 1`; returns the pings seen and whether it ran off
/// domain 0.
async fn ponger(pings: Receiver<Ball>, pongs: Sender<Ball>, slots: Arc<Slots>) -> (usize, bool) {
    let mut seen = 0;
    let mut elsewhere = true;
    while let Ok(ping) = pings.recv().await {
        elsewhere &= trellis::domain::current() != Some(DomainId::new(0));
        let pong = Ball {
            n: ping.n + 1,
            _slot: slots.guard(ping.n),
        };
        drop(ping);
        seen += 1;
        if pongs.send(pong).await.is_err() {
            break;
        }
    }
    (seen, elsewhere)
}

/// `rounds` ping-pongs over channels of capacity `cap` on a runtime of its own, checked and
/// reported under `name`.
fn flavour(report: &Report, name: &str, cap: usize, rounds: usize) {
    let ping_slots = Slots::new(rounds);
    let pong_slots = Slots::new(rounds);
    let rt = common::runtime(WORKERS);
    let (ping_tx, ping_rx) = trellis::channel::bounded::<Ball>(cap);
    let (pong_tx, pong_rx) = trellis::channel::bounded::<Ball>(cap);
    let slots = pong_slots.clone();
    let pong = rt.spawn_on(DomainId::new(1), move || ponger(ping_rx, pong_tx, slots));
    let pings = ping_slots.clone();
    let ping = rt.spawn_on(DomainId::new(0), move || async move {
        let mut right = 0;
        for n in 0..rounds {
            let ball = Ball {
                n,
                _slot: pings.guard(n),
            };
            ping_tx.send(ball).await.expect("the ponger listens");
            let back = pong_rx.recv().await.expect("the ponger answers");
            if back.n == n + 1 {
                right += 1;
            }
        }
        right
    });
    let right = rt.block_on(ping).expect("the pinger");
    let (seen, elsewhere) = rt.block_on(pong).expect("the ponger");
    drop(rt);
    report.check_eq(&format!("{name}_round_trips"), right, rounds);
    report.check_eq(&format!("{name}_pings_seen"), seen, rounds);
    report.check_eq(&format!("{name}_ponger_on_other_domain"), elsewhere, true);
    ping_slots.check(report, &format!("{name}_pings"));
    pong_slots.check(report, &format!("{name}_pongs"));
}

fn main() {
    let report = Report::new("stress_pingpong");
    let baseline = common::warm_up(WORKERS);
    let rounds = common::scaled(100_000) as usize;
    report.value("ping_pongs_per_flavour", rounds);
    flavour(&report, "bounded1", 1, rounds);
    flavour(&report, "rendezvous", 0, rounds);
    report.check_eq(
        "runtime_threads_after_drop",
        common::runtime_threads_after_drop(),
        0,
    );
    report.check_memory(&baseline);
    report.finish();
}
