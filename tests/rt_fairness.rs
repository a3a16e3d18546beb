//! Fairness of `yield_now` between tasks queued in different places: a task that yields goes
//! behind the tasks injected from outside the workers, as in tokio and Trio.
//!
//! Regression test: a yielder used to run three times before a task injected from `block_on`.

mod support;

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{Watchdog, spin_until};

#[test]
fn yield_now_alternates_with_tasks_from_block_on() {
    let _wd = Watchdog::new("yield_now_alternates_with_tasks_from_block_on");
    let rt = support::rt(1);
    for round in 0..5 {
        let log = Arc::new(Mutex::new(Vec::new()));
        rt.block_on(async {
            // Hold the only worker until both tasks are queued, so both start from the injector.
            let (started, go) = (
                Arc::new(AtomicBool::new(false)),
                Arc::new(AtomicBool::new(false)),
            );
            let (s2, g2) = (started.clone(), go.clone());
            let blocker = trellis::spawn(async move {
                s2.store(true, SeqCst);
                spin_until(Duration::from_secs(5), || g2.load(SeqCst));
            });
            assert!(spin_until(Duration::from_secs(5), || started.load(SeqCst)));
            let tasks: Vec<_> = ['a', 'b']
                .into_iter()
                .map(|name| {
                    let log = log.clone();
                    trellis::spawn(async move {
                        for i in 0..3 {
                            log.lock().unwrap().push(format!("{name}{i}"));
                            trellis::yield_now().await;
                        }
                    })
                })
                .collect();
            go.store(true, SeqCst);
            blocker.await.unwrap();
            for t in tasks {
                t.await.unwrap();
            }
        });
        let log = log.lock().unwrap().clone();
        assert_eq!(log.len(), 6);
        assert!(
            log.windows(2).all(|w| w[0][..1] != w[1][..1]),
            "round {round}: two yielding tasks did not alternate: {log:?}"
        );
    }
}
