//! Prints the live task tree of a running pipeline: a producer, workers pinned over the
//! domains and a collector, joined by channels, in nested nurseries under a `move_on_after`.
//!
//! ```text
//! cargo run --example task_tree
//! ```
//!
//! The collector dumps the tree (`trellis::tree::dump`) once, mid-run, from inside its own
//! task, and prints it; after that many more results it cancels the pipeline. The runtime is
//! built with `task_tree(true)`, which records the tree (names, task links, the task-level
//! scopes) as tasks come and go.

use std::time::Duration;

use trellis::DomainId;
use trellis::channel::bounded;

/// Squares the collector waits for before it prints the tree, and before it stops.
const DUMP_AT: u64 = 500;
const STOP_AT: u64 = 2_000;
const WORKERS_PER_DOMAIN: usize = 2;

fn main() {
    let domains = 2;
    let rt = trellis::Runtime::builder()
        .workers(domains)
        .task_tree(true)
        .build()
        .expect("build the runtime");
    rt.block_on(async {
        trellis::nursery(async |pipeline| {
            let (jobs_tx, jobs_rx) = bounded::<u64>(8);
            let (squares_tx, squares_rx) = bounded::<u64>(8);

            pipeline.start_soon_named("producer", async move {
                for job in 0.. {
                    if jobs_tx.send(job).await.is_err() {
                        return; // the workers are gone
                    }
                }
            });

            pipeline.start_soon_named("workers", async move {
                // The whole pool has a minute; the collector stops it long before.
                trellis::move_on_after(Duration::from_secs(60), async {
                    trellis::nursery(async |pool| {
                        for d in 0..domains {
                            for k in 0..WORKERS_PER_DOMAIN {
                                let (jobs, squares) = (jobs_rx.clone(), squares_tx.clone());
                                pool.start_soon_on_named(
                                    format!("worker {d}.{k}"),
                                    DomainId::new(d),
                                    move || async move {
                                        while let Ok(job) = jobs.recv().await {
                                            if squares.send(job * job).await.is_err() {
                                                return;
                                            }
                                        }
                                    },
                                );
                            }
                        }
                    })
                    .await
                })
                .await;
            });

            let stop = pipeline.handle();
            pipeline.start_soon_named("collector", async move {
                let mut seen = 0;
                let mut sum = 0u64;
                while let Ok(square) = squares_rx.recv().await {
                    sum = sum.wrapping_add(square);
                    seen += 1;
                    if seen == DUMP_AT {
                        let tree = trellis::tree::dump().expect("built with task_tree(true)");
                        println!("the task tree after {seen} results:\n{tree}");
                    }
                    if seen == STOP_AT {
                        break;
                    }
                }
                println!("collected {seen} squares (sum {sum}); cancelling the pipeline");
                stop.cancel(); // the producer and the workers stop at their next checkpoint
            });
        })
        .await
        .expect("the pipeline fails only by a bug");
    });
    println!("done: the nursery returned once every task was gone");
}
