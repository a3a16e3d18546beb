//! Scope nodes are reused from a per-thread cache (`scope/recycle.rs`): a scope entered after
//! another one left never inherits anything of it (a cancellation, a shield, a deadline, a
//! caught flag), and a scope whose `CancelHandle` outlives it keeps its own state, whatever
//! scopes come after it. Each check runs many scopes in a row on one worker, so that the
//! later ones are certainly served from the cache.

mod support;

use std::time::Duration;

use support::Watchdog;
use trellis::{CancelScope, checkpoint, move_on_after, shielded};

const ROUNDS: usize = 100;

/// Runs `body` as a task on a one-worker runtime (so every scope uses that worker's cache).
fn on_one_worker(body: impl std::future::Future<Output = ()> + Send + 'static) {
    let rt = support::rt(1);
    rt.block_on(rt.spawn(body)).expect("the test's task");
}

#[test]
fn a_scope_after_a_cancelled_one_starts_clean() {
    let _w = Watchdog::new("a_scope_after_a_cancelled_one_starts_clean");
    on_one_worker(async {
        for round in 0..ROUNDS {
            // Cancelled by its passed deadline at its first checkpoint, caught here; its node
            // goes back to the cache.
            assert_eq!(move_on_after(Duration::ZERO, checkpoint()).await, None);
            // The next scope, without a handle, gets that node and sees no cancellation and
            // no deadline.
            let out = CancelScope::new()
                .run(async {
                    checkpoint().await;
                    trellis::yield_now().await;
                    7
                })
                .await;
            assert_eq!(
                out,
                Some(7),
                "round {round}: a reused node carried a cancellation"
            );
            // Again, and this time one with a handle gets the node: a fresh state from its
            // entry on.
            assert_eq!(move_on_after(Duration::ZERO, checkpoint()).await, None);
            let scope = CancelScope::new();
            let handle = scope.handle();
            assert!(!handle.cancel_called(), "round {round}");
            assert_eq!(handle.deadline(), None, "round {round}");
            assert_eq!(scope.run(checkpoint()).await, Some(()), "round {round}");
            assert!(!handle.cancelled_caught(), "round {round}");
        }
    });
}

#[test]
fn a_scope_after_a_shielded_one_is_not_shielded() {
    let _w = Watchdog::new("a_scope_after_a_shielded_one_is_not_shielded");
    on_one_worker(async {
        let outer = CancelScope::new();
        let handle = outer.handle();
        let out = outer
            .run(async {
                handle.cancel();
                // Inside the cancelled outer scope, shields run their checkpoints...
                for round in 0..ROUNDS {
                    let shielded_out = shielded(async {
                        checkpoint().await;
                        round
                    })
                    .await;
                    assert_eq!(shielded_out, round);
                }
                // ...and the plain scope entered next (on the last shield's node) is cancelled
                // with the outer one, which catches.
                CancelScope::new().run(checkpoint()).await;
                unreachable!("a scope entered after a shield was shielded too");
            })
            .await;
        assert_eq!(out, None);
        assert!(handle.cancelled_caught());
    });
}

#[test]
fn a_handle_keeps_its_scopes_state_while_later_scopes_come_and_go() {
    let _w = Watchdog::new("a_handle_keeps_its_scopes_state_while_later_scopes_come_and_go");
    on_one_worker(async {
        let scope = CancelScope::new().timeout(Duration::from_secs(3600));
        let kept = scope.handle();
        let out = scope
            .run(async {
                kept.cancel();
                checkpoint().await;
            })
            .await;
        assert_eq!(out, None);
        let deadline = kept.deadline();
        assert!(deadline.is_some());
        for _ in 0..ROUNDS {
            assert_eq!(
                move_on_after(Duration::from_secs(1), async { 1 }).await,
                Some(1)
            );
            assert_eq!(move_on_after(Duration::ZERO, checkpoint()).await, None);
        }
        // Its node was never handed to another scope.
        assert!(kept.cancel_called());
        assert!(kept.cancelled_caught());
        assert_eq!(kept.deadline(), deadline);
    });
}

#[test]
fn scopes_left_inside_a_cancelled_nursery_child_do_not_hide_it_from_the_cancel() {
    let _w = Watchdog::new("scopes_left_inside_a_cancelled_nursery_child_do_not_hide_it");
    // Scopes entered and left in a child leave its child list; a later cancel of the nursery
    // still reaches the child and a scope it is parked in.
    let rt = support::rt(2);
    let (left_tx, left_rx) = trellis::channel::bounded::<()>(1);
    let err = rt
        .block_on(trellis::nursery(async |n| {
            n.start_soon(async move {
                for _ in 0..ROUNDS {
                    let out = move_on_after(Duration::from_secs(1), async { 1 }).await;
                    assert_eq!(out, Some(1));
                }
                left_tx.send(()).await.unwrap();
                CancelScope::new().run(std::future::pending::<()>()).await;
            });
            n.start_soon(async move {
                left_rx.recv().await.unwrap();
                Err::<(), _>("boom")
            });
        }))
        .unwrap_err();
    assert_eq!(err.failures().len(), 1, "{err:?}");
}
