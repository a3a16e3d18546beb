//! `trellis::poll_checkpoint`: the checkpoint of hand-written `poll` functions spends the
//! cooperative budget (a task that never waits still lets the other tasks of its worker run)
//! and is a cancellation point.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};

use support::Watchdog;
use trellis::{CancelScope, Runtime};

/// A checkpoint that is ready at once unless the budget or a cancellation says otherwise.
async fn hot_checkpoint() {
    std::future::poll_fn(trellis::poll_checkpoint).await;
}

/// On one worker, a task that only ever passes `poll_checkpoint` (never waits) is switched
/// out when its budget runs out, so a task queued behind it runs and can stop it. Without the
/// budget the first task would hold the worker forever (the watchdog would fire).
#[test]
fn poll_checkpoint_spends_the_budget() {
    let _wd = Watchdog::new("poll_checkpoint_spends_the_budget");
    let rt = Runtime::builder()
        .workers(1)
        .build()
        .expect("build runtime");
    let stop = Arc::new(AtomicBool::new(false));
    let passes = Arc::new(AtomicUsize::new(0));
    let (hot, stopper) = rt.block_on(async {
        let hot = trellis::spawn({
            let (stop, passes) = (stop.clone(), passes.clone());
            async move {
                while !stop.load(SeqCst) {
                    hot_checkpoint().await;
                    passes.fetch_add(1, SeqCst);
                }
            }
        });
        let stopper = trellis::spawn({
            let stop = stop.clone();
            async move { stop.store(true, SeqCst) }
        });
        (hot, stopper)
    });
    rt.block_on(async {
        stopper.await.unwrap();
        hot.await.unwrap();
    });
    assert!(passes.load(SeqCst) >= 1);
}

/// In a cancelled scope, the first `poll_checkpoint` stops the code: the scope catches.
#[test]
fn poll_checkpoint_is_a_cancellation_point() {
    let _wd = Watchdog::new("poll_checkpoint_is_a_cancellation_point");
    let passes = Arc::new(AtomicUsize::new(0));
    let out = trellis::run({
        let passes = passes.clone();
        async move {
            trellis::spawn(async move {
                let scope = CancelScope::new();
                let cancel = scope.handle();
                scope
                    .run(async move {
                        for i in 0.. {
                            if i == 3 {
                                cancel.cancel();
                            }
                            hot_checkpoint().await;
                            passes.fetch_add(1, SeqCst);
                        }
                    })
                    .await
            })
            .await
            .unwrap()
        }
    });
    assert_eq!(out, None);
    // Cancelled before the fourth checkpoint: three passes, no more.
    assert_eq!(passes.load(SeqCst), 3);
}
