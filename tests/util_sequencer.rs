//! `trellis::util::Sequencer` (Trio's `trio.testing.Sequencer`): sections run in the order of
//! their positions across tasks and domains; a reused position and a cancelled wait (which
//! breaks the sequence) panic instead of hanging.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{Watchdog, panic_message};
use trellis::util::Sequencer;

#[test]
fn sequencer_orders_sections_across_tasks() {
    let _wd = Watchdog::new("sequencer_orders_sections_across_tasks");
    let rt = trellis::Runtime::builder().workers(2).build().unwrap();
    let log = rt.block_on(async {
        let seq = Arc::new(Sequencer::new());
        let log = Arc::new(Mutex::new(Vec::new()));
        trellis::nursery(async |n| {
            // Started in reverse order, on two workers.
            for p in (0..8).rev() {
                let (seq, log) = (seq.clone(), log.clone());
                n.start_soon(async move {
                    let _turn = seq.wait(p).await;
                    trellis::yield_now().await; // the next one still waits
                    log.lock().unwrap().push(p);
                });
            }
        })
        .await
        .unwrap();
        Arc::try_unwrap(log).unwrap().into_inner().unwrap()
    });
    assert_eq!(log, (0..8).collect::<Vec<_>>());
}

/// Trio's test: `async with seq(0): ... async with seq(1) ...` across two tasks.
#[test]
fn sequencer_reused_position_panics() {
    let _wd = Watchdog::new("sequencer_reused_position_panics");
    let err = trellis::run(async {
        trellis::spawn(async {
            let seq = Sequencer::new();
            drop(seq.wait(0).await);
            let _again = seq.wait(0).await;
        })
        .await
        .unwrap_err()
    });
    let msg = panic_message(err.into_panic().as_ref());
    assert!(msg.contains("position 0 was already used"), "{msg}");
}

/// A wait cancelled before its turn breaks the sequence: the later waiter panics (it would
/// otherwise wait forever for position 1).
#[test]
fn sequencer_cancelled_wait_breaks_the_sequence() {
    let _wd = Watchdog::new("sequencer_cancelled_wait_breaks_the_sequence");
    let err = trellis::run(async {
        let seq = Arc::new(Sequencer::new());
        let later = trellis::spawn({
            let seq = seq.clone();
            async move {
                let _turn = seq.wait(2).await;
            }
        });
        // Position 1 waits for 0, which never comes: cancelled by its deadline.
        let out = trellis::move_on_after(Duration::from_millis(5), seq.wait(1)).await;
        assert!(out.is_none());
        later.await.unwrap_err()
    });
    let msg = panic_message(err.into_panic().as_ref());
    assert!(msg.contains("the sequence is broken"), "{msg}");
}
