//! Chaos mode (`Builder::chaos`): the same seed on one worker replays the same poll order, and
//! chaos changes the order against the usual rules.

mod support;

use std::sync::{Arc, Mutex};

use support::Watchdog;
use trellis::{Instrument, TaskBuilder, TaskInfo, channel};

/// Records the name of every named task polled, in order.
#[derive(Default)]
struct PollLog(Mutex<Vec<Arc<str>>>);

impl Instrument for PollLog {
    fn before_task_poll(&self, task: &TaskInfo<'_>) {
        if let Some(name) = task.name() {
            self.0.lock().unwrap().push(name.into());
        }
    }
}

/// Runs a fixed workload (8 tasks that yield, send and receive on channels, spawned by one root
/// task, all on the one worker) and returns the order in which the tasks were polled.
fn poll_order(chaos: Option<u64>) -> Vec<Arc<str>> {
    let log = Arc::new(PollLog::default());
    let mut builder = support::builder(1).instrument(log.clone());
    if let Some(seed) = chaos {
        builder = builder.chaos(seed);
    }
    let rt = support::build(builder);
    let root = rt.spawn(async {
        let (tx, rx) = channel::unbounded::<usize>();
        let mut tasks = Vec::new();
        for i in 0..8 {
            let tx = tx.clone();
            let name = format!("t{i}");
            tasks.push(TaskBuilder::new().name(name).spawn(async move {
                for round in 0..4 {
                    if (i + round) % 3 == 0 {
                        trellis::yield_now().await;
                    }
                    tx.send(i * 10 + round).await.unwrap();
                }
            }));
        }
        drop(tx);
        let mut got = 0;
        while rx.recv().await.is_ok() {
            got += 1;
        }
        for task in tasks {
            task.await.unwrap();
        }
        got
    });
    assert_eq!(rt.block_on(root).unwrap(), 32);
    drop(rt);
    Arc::try_unwrap(log).ok().unwrap().0.into_inner().unwrap()
}

#[test]
fn the_same_seed_on_one_worker_replays_the_same_poll_order() {
    let _w = Watchdog::new("the_same_seed_on_one_worker_replays_the_same_poll_order");
    for seed in [1, 2, 3, 0xDEAD_BEEF] {
        let first = poll_order(Some(seed));
        for _ in 0..5 {
            assert_eq!(poll_order(Some(seed)), first, "seed {seed}");
        }
    }
}

#[test]
fn chaos_changes_the_poll_order() {
    let _w = Watchdog::new("chaos_changes_the_poll_order");
    let usual = poll_order(None);
    assert_eq!(
        poll_order(None),
        usual,
        "one worker without chaos is deterministic too"
    );
    let orders: Vec<_> = (1..=4).map(|seed| poll_order(Some(seed))).collect();
    for (seed, order) in (1..).zip(&orders) {
        assert_ne!(order, &usual, "seed {seed} left the order as without chaos");
    }
    assert!(
        orders.iter().any(|o| o != &orders[0]),
        "different seeds gave the same order"
    );
}
