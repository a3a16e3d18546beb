//! The talk's first nursery program: a parent opens a nursery, four children greet, each
//! child opens a nursery of its own for a grandchild, and nobody leaves before their children.
//!
//! ```text
//! cargo run --example nursery_hello
//! ```
//!
//! Trio (PyCon JP 2024, "Python async use cases in production") on the left, Trellis on the
//! right:
//!
//! ```text
//! async def child():                          async fn child(i: usize, t: Timeline) -> Result<(), String> {
//!     print("child: hello")                       t.say(format!("child {i}"), "hello");
//!     async with trio.open_nursery() as n:        trellis::nursery(async |n| {
//!         n.start_soon(grandchild)                    n.start_soon(grandchild(i, t.clone()));
//!                                                 })
//!                                                 .await
//!                                                 .map_err(|e| e.to_string())?;
//!     print("child: bye")                         t.say(format!("child {i}"), "bye");
//!                                                 Ok(())
//!                                             }
//!
//! async def grandchild():                     async fn grandchild(i: usize, t: Timeline) {
//!     print("grandchild: hello")                  t.say(format!("grandchild {i}"), "hello");
//!     await trio.sleep(0.1)                       sleep(Duration::from_millis(100)).await;
//!     print("grandchild: bye")                    t.say(format!("grandchild {i}"), "bye");
//!                                             }
//!
//! async def main():                           trellis::run(async {
//!     async with trio.open_nursery() as n:        trellis::nursery(async |n| {
//!         for _ in range(4):                          for i in 0..4 {
//!             n.start_soon(child)                         n.start_soon(child(i, t.clone()));
//!                                                     }
//!                                                 })
//!                                                 .await.expect("nobody fails");
//!     print("closed")                             t.say("parent", "closed");
//!                                             })
//! ```
//!
//! (On the slide the child awaits the grandchild directly; here the child opens its own
//! nursery, so the example shows nurseries nesting across tasks.)
//!
//! # The translation
//!
//! - `async with trio.open_nursery() as n:` is `trellis::nursery(async |n| { .. }).await`: the
//!   block is an async closure that borrows the nursery, and the `.await` returns only when the
//!   block *and every child started in it* have finished. That is the whole point of a nursery,
//!   in Trio and here: "closed" cannot be printed while a child or grandchild still runs.
//! - `n.start_soon(child)` takes a function in Trio and a future in Rust: `child(i, t)` builds
//!   the future, the nursery spawns it as a task that any worker thread (domain) may run.
//!   Children run in parallel on the runtime's worker threads, so the hello lines of the four
//!   children come in whatever order the workers reach them; the nesting does not vary.
//! - A nursery yields `Result<(), NurseryError>`: the children's failures, all of them. Nobody
//!   fails here; the child passes its inner nursery's error on as a message (`NurseryError`
//!   holds panic payloads, which are `Send` but not `Sync`, so it does not convert into a boxed
//!   `Send + Sync` error by itself).
//! - `trio.run(main)` is `trellis::run(async { .. })`: it builds a runtime (one worker per core,
//!   or `TRELLIS_WORKERS`) and blocks on the future.
//!
//! Each line carries the milliseconds since the start. At the end the program checks the
//! structure the nurseries guarantee: every grandchild said bye before its child did, and the
//! parent's "closed" came last.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use trellis::time::sleep;

/// How many children the parent starts (the slide's `range(4)`).
const CHILDREN: usize = 4;
/// The grandchild's nap (the slide's `trio.sleep(0.1)`).
const NAP: Duration = Duration::from_millis(100);

/// The printed timeline, kept in order so the end can check the nesting.
#[derive(Clone)]
struct Timeline {
    t0: Instant,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Timeline {
    fn new() -> Timeline {
        Timeline {
            t0: Instant::now(),
            lines: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Prints `who: what` with the time since the start, and records it.
    fn say(&self, who: impl Into<String>, what: &str) {
        let who = who.into();
        // Print under the lock: the printed order is the recorded order.
        let mut lines = self.lines.lock().unwrap();
        println!(
            "{:>4} ms  {:<13} {what}",
            self.t0.elapsed().as_millis(),
            format!("{who}:")
        );
        lines.push(format!("{who}: {what}"));
    }

    /// Where `line` stands in the timeline.
    fn position(&self, line: &str) -> usize {
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .position(|l| l == line)
            .unwrap_or_else(|| panic!("`{line}` never happened"))
    }
}

async fn grandchild(i: usize, t: Timeline) {
    t.say(format!("grandchild {i}"), "hello");
    sleep(NAP).await;
    t.say(format!("grandchild {i}"), "bye");
}

async fn child(i: usize, t: Timeline) -> Result<(), String> {
    t.say(format!("child {i}"), "hello");
    trellis::nursery(async |n| {
        n.start_soon(grandchild(i, t.clone()));
    })
    .await
    .map_err(|e| e.to_string())?;
    // Only now: the inner nursery waited for the grandchild.
    t.say(format!("child {i}"), "bye");
    Ok(())
}

fn main() {
    let t = Timeline::new();
    trellis::run(async {
        t.say("parent", "opening the nursery");
        trellis::nursery(async |n| {
            for i in 0..CHILDREN {
                n.start_soon(child(i, t.clone()));
            }
        })
        .await
        .expect("nobody fails in this program");
        t.say("parent", "closed");
    });

    // The nesting the nurseries guarantee, whatever order the workers ran things in.
    let closed = t.position("parent: closed");
    for i in 0..CHILDREN {
        let child_hello = t.position(&format!("child {i}: hello"));
        let grandchild_hello = t.position(&format!("grandchild {i}: hello"));
        let grandchild_bye = t.position(&format!("grandchild {i}: bye"));
        let child_bye = t.position(&format!("child {i}: bye"));
        assert!(child_hello < grandchild_hello && grandchild_hello < grandchild_bye);
        assert!(
            grandchild_bye < child_bye,
            "child {i} left before its grandchild"
        );
        assert!(
            child_bye < closed,
            "the nursery closed before child {i} finished"
        );
    }
    println!("ok: every grandchild left before its child, every child before \"closed\"");
}
