//! Allocation counts of the hot paths, with a counting global allocator: after a warm-up,
//! `yield_now` and a warm bounded send and receive allocate nothing, an unbounded channel one
//! block per 31 values (crossbeam's list), a spawned task its one task cell, and that cell
//! stays small (the task header's size, `task/raw.rs`, plus the future).
//!
//! A warm cross-domain wake allocates nothing: the entry goes into the domain's inbox through
//! the task's own cell.
//!
//! A warm cancel scope (with or without a deadline, so a ready `move_on_after` too) allocates
//! nothing either: its node of the cancel tree comes from the worker's node cache
//! (`scope/recycle.rs`), also when the scope has a parent (inside a nursery child).
//!
//! Measured, not yet zero: a nursery child allocates a scope node of its own (its task root)
//! besides its task cell, plus its place in the nursery node's child list (a `Vec`, grown as
//! it fills). The test asserts this count so that a change to it is seen.
//!
//! Counting is per thread: each measured operation runs in a task on a one-worker runtime, so
//! every allocation it causes happens on that worker thread (the only thread that polls, wakes
//! and frees there), and libtest's other test threads cannot disturb the count. Set
//! `TRELLIS_ALLOC_TRACE=1` to print a backtrace of every allocation counted by a failing
//! measurement.

mod support;

use std::future::Future;
use std::time::Duration;

use support::Watchdog;
use support::alloc::{self, Counting};
use trellis::DomainId;

#[global_allocator]
static ALLOC: Counting = Counting;

/// Rounds of the operation before counting starts: lazily grown buffers (the worker's queue,
/// a channel's first block, thread-locals) reach their steady size here.
const WARM_UP: usize = 64;

/// Rounds counted.
const ROUNDS: usize = 256;

/// Allocations and bytes on this thread while `op` runs `ROUNDS` times after `WARM_UP` rounds.
/// With `TRELLIS_ALLOC_TRACE` set, a second counted pass prints a backtrace per allocation.
async fn count<F, Fut>(mut op: F) -> (u64, u64)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let thread = std::thread::current().id();
    for _ in 0..WARM_UP {
        op().await;
    }
    let (allocs, bytes) = (alloc::thread_allocs(), alloc::thread_bytes());
    for _ in 0..ROUNDS {
        op().await;
    }
    let counted = (
        alloc::thread_allocs() - allocs,
        alloc::thread_bytes() - bytes,
    );
    assert_eq!(
        std::thread::current().id(),
        thread,
        "the measured task stayed on its worker"
    );
    if counted.0 != 0 && std::env::var_os("TRELLIS_ALLOC_TRACE").is_some() {
        alloc::trace_this_thread(true);
        op().await;
        alloc::trace_this_thread(false);
    }
    counted
}

/// Runs `body` as a task of a fresh one-worker runtime and returns its output.
fn on_one_worker<T: Send + 'static>(body: impl Future<Output = T> + Send + 'static) -> T {
    let rt = support::rt(1);
    rt.block_on(rt.spawn(body)).expect("the measured task")
}

#[test]
fn yield_now_allocates_nothing() {
    let _w = Watchdog::new("yield_now_allocates_nothing");
    let (allocs, _) = on_one_worker(count(trellis::yield_now));
    assert_eq!(allocs, 0, "allocations in {ROUNDS} yields");
}

#[test]
fn a_warm_bounded_send_and_recv_allocate_nothing() {
    let _w = Watchdog::new("a_warm_bounded_send_and_recv_allocate_nothing");
    let (allocs, _) = on_one_worker(async {
        let (tx, rx) = trellis::channel::bounded::<u64>(4);
        count(|| async {
            tx.send(7).await.unwrap();
            assert_eq!(rx.recv().await.unwrap(), 7);
        })
        .await
    });
    assert_eq!(allocs, 0, "allocations in {ROUNDS} send+recv pairs");
}

#[test]
fn a_warm_unbounded_send_and_recv_allocate_one_block_per_31_values() {
    let _w = Watchdog::new("a_warm_unbounded_send_and_recv_allocate_one_block_per_31_values");
    let (allocs, _) = on_one_worker(async {
        let (tx, rx) = trellis::channel::unbounded::<u64>();
        count(|| async {
            tx.send(7).await.unwrap();
            assert_eq!(rx.recv().await.unwrap(), 7);
        })
        .await
    });
    // crossbeam's unbounded queue is a list of blocks of 31 slots: a new block each time the
    // tail crosses a block boundary, the emptied one freed.
    let blocks = (ROUNDS / 31) as u64;
    assert!(
        (blocks..=blocks + 1).contains(&allocs),
        "{allocs} allocations in {ROUNDS} send+recv pairs"
    );
}

#[test]
fn a_warm_cross_domain_wake_allocates_nothing() {
    let _w = Watchdog::new("a_warm_cross_domain_wake_allocates_nothing");
    // Every send from domain 0 wakes the echo task waiting on domain 1: its entry goes through
    // domain 1's inbox, linked through the task's own cell (`domain/inbox.rs`), so the
    // waking thread allocates nothing.
    let rt = support::rt(2);
    let (ping_tx, ping_rx) = trellis::channel::bounded::<u64>(1);
    let (pong_tx, pong_rx) = trellis::channel::bounded::<u64>(1);
    let echo = rt.spawn_on(DomainId::new(1), move || async move {
        while let Ok(v) = ping_rx.recv().await {
            pong_tx.send(v).await.unwrap();
        }
    });
    let measured = rt.spawn_on(DomainId::new(0), move || async move {
        count(|| async {
            ping_tx.send(7).await.unwrap();
            assert_eq!(pong_rx.recv().await.unwrap(), 7);
        })
        .await
    });
    let (allocs, _) = rt.block_on(measured).expect("the measured task");
    rt.block_on(echo).expect("the echo task");
    assert_eq!(
        allocs, 0,
        "allocations in {ROUNDS} cross-domain round trips"
    );
}

#[test]
fn a_warm_scope_without_a_deadline_allocates_nothing() {
    let _w = Watchdog::new("a_warm_scope_without_a_deadline_allocates_nothing");
    let (allocs, _) = on_one_worker(count(|| async {
        assert_eq!(trellis::CancelScope::new().run(async { 1 }).await, Some(1));
    }));
    // The scope's node comes from the worker's node cache (`scope/recycle.rs`) and goes back
    // to it when the scope future drops.
    assert_eq!(allocs, 0, "allocations in {ROUNDS} scopes");
}

#[test]
fn a_warm_ready_move_on_after_allocates_nothing() {
    let _w = Watchdog::new("a_warm_ready_move_on_after_allocates_nothing");
    let (allocs, _) = on_one_worker(count(|| async {
        let out = trellis::move_on_after(Duration::from_secs(3600), async { 1 }).await;
        assert_eq!(out, Some(1));
    }));
    // The node as above; a ready future never registers the deadline's timer.
    assert_eq!(allocs, 0, "allocations in {ROUNDS} ready move_on_after");
}

#[test]
fn scopes_inside_a_nursery_child_allocate_nothing_once_warm() {
    let _w = Watchdog::new("scopes_inside_a_nursery_child_allocate_nothing_once_warm");
    // A scope with a parent (the child's task root) leaves the parent's child list when it
    // drops, so its node is reused too, and the parent's list does not grow.
    let (allocs, _) = on_one_worker(async {
        let (tx, rx) = trellis::channel::bounded(1);
        trellis::nursery(async |n| {
            n.start_soon(async move {
                let counted = count(|| async {
                    let out = trellis::move_on_after(Duration::from_secs(3600), async {
                        trellis::CancelScope::new().run(async { 1 }).await
                    })
                    .await;
                    assert_eq!(out, Some(Some(1)));
                })
                .await;
                tx.send(counted).await.unwrap();
            });
        })
        .await
        .unwrap();
        rx.recv().await.unwrap()
    });
    assert_eq!(
        allocs, 0,
        "allocations in {ROUNDS} nested scopes in a nursery child"
    );
}

/// Allocations of one nursery with `children` empty children, averaged over `ROUNDS`.
async fn nursery_allocs(children: usize) -> u64 {
    let (allocs, _) = count(|| async {
        trellis::nursery(async |n| {
            for _ in 0..children {
                n.start_soon(async {});
            }
        })
        .await
        .unwrap();
    })
    .await;
    assert_eq!(allocs % ROUNDS as u64, 0, "the same count every round");
    allocs / ROUNDS as u64
}

#[test]
fn a_nursery_child_allocates_its_task_cell_and_its_scope_node() {
    let _w = Watchdog::new("a_nursery_child_allocates_its_task_cell_and_its_scope_node");
    let (empty, four) = on_one_worker(async { (nursery_allocs(0).await, nursery_allocs(4).await) });
    // Per child: its task cell and its task-root scope node; per nursery with children: its
    // node's child list, allocated at the first child with room for four.
    assert_eq!(
        four - empty,
        4 * 2 + 1,
        "allocations of four children (a nursery alone: {empty}, with four children: {four})"
    );
}

#[test]
fn a_spawned_task_is_one_small_allocation() {
    let _w = Watchdog::new("a_spawned_task_is_one_small_allocation");
    let (allocs, bytes) = on_one_worker(count(|| async {
        trellis::spawn(async {}).await.unwrap();
    }));
    assert_eq!(allocs, ROUNDS as u64, "one task cell per spawn");
    // The cell of an empty future: the header (at most a cache line, `task/raw.rs`'s
    // `header_fits_a_cache_line`) and the stage with its output slot.
    let cell = bytes / ROUNDS as u64;
    assert!(cell <= 128, "an empty task's cell takes {cell} bytes");
}
