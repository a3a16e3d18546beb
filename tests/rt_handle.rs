//! `Handle`: `Handle::current()` inside the runtime (and its panic outside), `rt.handle()`, and
//! from a plain `std::thread`: `spawn`, `spawn_on`, `spawn_blocking`, `block_on`;
//! `trellis::from_thread` from blocking closures and plain threads.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};

use support::{Watchdog, panic_message};
use trellis::{DomainId, Handle, Runtime};

fn build() -> Runtime {
    Runtime::builder()
        .workers(2)
        .build()
        .expect("build runtime")
}

#[test]
fn handle_current_inside_tasks_and_blocking_closures() {
    let _wd = Watchdog::new("handle_current_inside_tasks_and_blocking_closures");
    let rt = build();
    let workers = rt.block_on(async {
        let in_block_on = Handle::current().workers();
        let in_task = trellis::spawn(async { Handle::current().workers() })
            .await
            .unwrap();
        let in_blocking = trellis::spawn_blocking(|| Handle::current().workers())
            .await
            .unwrap();
        (in_block_on, in_task, in_blocking)
    });
    assert_eq!(workers, (2, 2, 2));
}

#[test]
fn handle_current_outside_a_runtime_panics_clearly() {
    let _wd = Watchdog::new("handle_current_outside_a_runtime_panics_clearly");
    assert!(Handle::try_current().is_none());
    let err = std::panic::catch_unwind(Handle::current).unwrap_err();
    let msg = panic_message(&*err);
    assert!(msg.contains("Handle::current"), "{msg}");
    assert!(msg.contains("Runtime::handle"), "{msg}");
}

#[test]
fn handle_from_a_plain_thread_spawns_and_blocks_on() {
    let _wd = Watchdog::new("handle_from_a_plain_thread_spawns_and_blocks_on");
    let rt = build();
    let handle = rt.handle();
    let out = std::thread::spawn(move || {
        assert!(Handle::try_current().is_none()); // a plain thread
        let task = handle.spawn(async { trellis::domain::current().is_some() });
        let pinned = handle.spawn_on(DomainId::new(1), || async { trellis::domain::current() });
        let job = handle.spawn_blocking(|| 5);
        let inside = handle.block_on(async {
            // Inside block_on, the runtime is the current one.
            let nested = trellis::spawn(async { 1 }).await.unwrap();
            trellis::time::sleep(std::time::Duration::from_millis(1)).await;
            nested + Handle::current().workers()
        });
        (
            handle.block_on(task).unwrap(),
            handle.block_on(pinned).unwrap(),
            handle.block_on(job).unwrap(),
            inside,
        )
    })
    .join()
    .unwrap();
    assert_eq!(out, (true, Some(DomainId::new(1)), 5, 3));
}

#[test]
fn handle_block_on_from_a_worker_names_the_call() {
    let _wd = Watchdog::new("handle_block_on_from_a_worker_names_the_call");
    let rt = build();
    let handle = rt.handle();
    let err = rt.block_on(async move {
        trellis::spawn(async move { handle.block_on(async {}) })
            .await
            .unwrap_err()
    });
    let msg = panic_message(&*err.into_panic());
    assert!(
        msg.contains("`Handle::block_on` called from a Trellis worker thread"),
        "{msg}"
    );
}

/// Blocking code in `to_thread` hands a value to async code (an async send) and gets the
/// async function's result back; `run_sync` runs a closure on a worker.
#[test]
fn from_thread_run_inside_to_thread() {
    let _wd = Watchdog::new("from_thread_run_inside_to_thread");
    let rt = build();
    let (sent, on_worker, got) = rt.block_on(async {
        let (tx, rx) = trellis::channel::bounded::<u32>(0); // a rendezvous: send waits
        let receiver = trellis::spawn(async move { rx.recv().await.unwrap() });
        let (sent, on_worker) = trellis::to_thread(move || {
            let sent = trellis::from_thread::run(async move { tx.send(9).await.is_ok() });
            let on_worker = trellis::from_thread::run_sync(|| trellis::domain::current().is_some());
            (sent, on_worker)
        })
        .await;
        (sent, on_worker, receiver.await.unwrap())
    });
    assert!(sent);
    assert!(on_worker);
    assert_eq!(got, 9);
}

/// A panic of the async function is re-raised in the blocking code.
#[test]
fn from_thread_run_reraises_a_panic() {
    let _wd = Watchdog::new("from_thread_run_reraises_a_panic");
    let rt = build();
    let err = rt.block_on(async {
        trellis::spawn_blocking(|| trellis::from_thread::run(async { panic!("async boom") }))
            .await
            .unwrap_err()
    });
    assert!(panic_message(&*err.into_panic()).contains("async boom"));
}

#[test]
fn from_thread_run_on_from_a_plain_thread() {
    let _wd = Watchdog::new("from_thread_run_on_from_a_plain_thread");
    let rt = build();
    let handle = rt.handle();
    let ran = Arc::new(AtomicBool::new(false));
    let v = std::thread::spawn({
        let ran = ran.clone();
        move || {
            trellis::from_thread::run_on(&handle, async move {
                ran.store(true, SeqCst);
                trellis::domain::current().is_some()
            })
        }
    })
    .join()
    .unwrap();
    assert!(v);
    assert!(ran.load(SeqCst));
}

#[test]
fn from_thread_run_outside_a_runtime_panics_clearly() {
    let _wd = Watchdog::new("from_thread_run_outside_a_runtime_panics_clearly");
    let err = std::thread::spawn(|| trellis::from_thread::run(async { 1 }))
        .join()
        .unwrap_err();
    let msg = panic_message(&*err);
    assert!(
        msg.contains("`trellis::from_thread::run` called outside"),
        "{msg}"
    );
    assert!(msg.contains("run_on"), "{msg}");
}

#[test]
fn handle_is_send_sync_clone() {
    fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync_clone::<Handle>();
}
