//! Join-inline: a task that awaits the `JoinHandle` of a task still in its worker's LIFO slot
//! (just spawned, nothing displaced it) runs that task inside its own poll. These tests pin down
//! what that must not change: the joined task runs as itself (its own poll, its own hooks), in
//! none of the joiner's cancel scopes, the joiner's cooperative budget still runs out, and a
//! chain of joins deeper than the inline limit completes instead of overflowing the stack.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use support::Watchdog;
use trellis::{Instrument, TaskId, TaskInfo};

/// Records each poll hook as `(before?, task id)`.
#[derive(Default)]
struct Polls(Mutex<Vec<(bool, TaskId)>>);

impl Instrument for Polls {
    fn before_task_poll(&self, task: &TaskInfo<'_>) {
        self.0.lock().unwrap().push((true, task.id()));
    }
    fn after_task_poll(&self, task: &TaskInfo<'_>) {
        self.0.lock().unwrap().push((false, task.id()));
    }
}

#[test]
fn a_task_awaited_right_after_its_spawn_runs_inside_the_joiners_one_poll() {
    let _wd = Watchdog::start();
    let polls = Arc::new(Polls::default());
    let rt = support::build(support::builder(1).instrument(polls.clone()));
    let out = rt.block_on(rt.spawn(async { trellis::spawn(async { 6 * 7 }).await.unwrap() }));
    assert_eq!(out.unwrap(), 42);
    drop(rt);
    let events = polls.0.lock().unwrap().clone();
    // One poll each, the child's nested in the parent's: the parent never went back to the
    // queue to be woken by the child's completion.
    let [(true, parent), (true, child), (false, c2), (false, p2)] = events[..] else {
        panic!("expected the child's poll nested in the parent's single poll, got {events:?}");
    };
    assert_ne!(parent, child, "the child ran as its own task");
    assert_eq!((c2, p2), (child, parent), "{events:?}");
}

#[test]
fn a_joined_task_is_in_none_of_the_joiners_cancel_scopes() {
    let _wd = Watchdog::start();
    let rt = support::rt(1);
    let finished = Arc::new(AtomicBool::new(false));
    let f = finished.clone();
    let (caught, joined) = rt
        .block_on(rt.spawn(async move {
            let scope = trellis::CancelScope::new();
            let handle = scope.handle();
            let joined = Arc::new(Mutex::new(None));
            let j = joined.clone();
            let out = scope
                .run(async move {
                    let child = trellis::spawn(async move {
                        // Cancels the joiner's scope, then passes a cancellation point
                        // (one that does not yield, so the child completes in this one
                        // inline run): the scope is not this task's, so nothing here stops.
                        handle.cancel();
                        std::future::poll_fn(trellis::poll_checkpoint).await;
                        f.store(true, SeqCst);
                        7
                    });
                    *j.lock().unwrap() = Some(child.await);
                    trellis::checkpoint().await; // the joiner's cancellation lands here
                })
                .await;
            let joined = joined.lock().unwrap().take();
            (out.is_none(), joined)
        }))
        .unwrap();
    assert!(caught, "the joiner's scope caught its own cancellation");
    assert!(
        finished.load(SeqCst),
        "the child's checkpoints saw the joiner's cancelled scope"
    );
    assert_eq!(
        joined.map(Result::unwrap),
        Some(7),
        "the join delivered the child's value"
    );
}

#[test]
fn a_task_that_joins_in_a_loop_still_yields_its_worker() {
    // A budget lost across the inline runs makes the loop below spin forever.
    let _wd = Watchdog::with_timeout("joins in a loop", std::time::Duration::from_secs(10));
    let rt = support::rt(1);
    let stop = Arc::new(AtomicBool::new(false));
    let joins = rt
        .block_on(rt.spawn({
            let stop = stop.clone();
            async move {
                let other = trellis::spawn({
                    let stop = stop.clone();
                    async move { stop.store(true, SeqCst) }
                });
                // Every join below runs its child inline and completes at once; only the
                // cooperative budget (spent by each join, kept across the inline runs) makes
                // this loop yield so that `other` can run.
                let mut joins = 0u64;
                while !stop.load(SeqCst) {
                    trellis::spawn(async {}).await.unwrap();
                    joins += 1;
                }
                other.await.unwrap();
                joins
            }
        }))
        .unwrap();
    assert!(joins >= 1, "{joins}");
}

/// `n` tasks, each spawning the next and awaiting it at once.
fn chain(n: u32) -> Pin<Box<dyn Future<Output = u32> + Send>> {
    Box::pin(async move {
        if n == 0 {
            return 0;
        }
        1 + trellis::spawn(chain(n - 1)).await.unwrap()
    })
}

#[test]
fn a_chain_of_joins_deeper_than_the_inline_limit_completes() {
    let _wd = Watchdog::start();
    let rt = support::rt(1);
    // Inline without a limit nests one poll per link on the worker's stack: 20 000 of them
    // overflow it (the process aborts). Past the limit the joins wait as usual.
    assert_eq!(rt.block_on(rt.spawn(chain(20_000))).unwrap(), 20_000);
}
