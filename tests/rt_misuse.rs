//! The misuse table (`trellis::misuse`): one test per row that no other test file covers, each
//! checking the exact message (or error) the misuse gives. Rows covered elsewhere are listed
//! with their tests in the table.
#![cfg(panic = "unwind")]

mod support;

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::time::Duration;

use support::{Watchdog, panic_message, wait_until};
use trellis::Runtime;

const LIMIT: Duration = Duration::from_secs(30);

/// The message of the panic `f` raises.
fn panic_of<R>(f: impl FnOnce() -> R) -> String {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected a panic"),
        Err(payload) => panic_message(&*payload),
    }
}

/// The panic of a runtime-only call made outside any runtime, naming `call`.
fn outside_message(call: &str) -> String {
    format!(
        "`{call}` must be called from within a Trellis runtime (a task, or a future run by \
         `Runtime::block_on` / `trellis::run`); from outside, use `Runtime::spawn` or enter the \
         runtime with `Runtime::block_on`"
    )
}

fn rt(workers: usize) -> Runtime {
    Runtime::builder()
        .workers(workers)
        .thread_name("trl-misuse")
        .build()
        .unwrap()
}

#[test]
#[cfg_attr(
    miri,
    ignore = "sockets, child processes and a deliberately blocked thread"
)]
fn a_socket_created_outside_a_runtime_panics_naming_the_call() {
    let _wd = Watchdog::new("a_socket_created_outside_a_runtime_panics_naming_the_call");
    let msg =
        panic_of(|| futures_lite::future::block_on(trellis::net::TcpListener::bind("127.0.0.1:0")));
    assert_eq!(msg, outside_message("TcpListener::from_std"));
}

#[test]
#[cfg_attr(
    miri,
    ignore = "sockets, child processes and a deliberately blocked thread"
)]
fn a_socket_used_after_its_runtime_dropped_fails_with_an_error() {
    let _wd = Watchdog::new("a_socket_used_after_its_runtime_dropped_fails_with_an_error");
    let rt = rt(1);
    let (listener, stream) = rt.block_on(async {
        let listener = trellis::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let stream = trellis::net::TcpStream::connect(addr).await.unwrap();
        (listener, stream)
    });
    drop(rt);
    let expect = |r: io::Result<()>| {
        let err = r.expect_err("the runtime is gone");
        assert_eq!(err.kind(), io::ErrorKind::Other);
        assert_eq!(
            err.to_string(),
            "the Trellis runtime this socket was created in has shut down"
        );
    };
    expect(futures_lite::future::block_on(async {
        listener.accept().await.map(drop)
    }));
    expect(futures_lite::future::block_on(async {
        stream.peek(&mut [0u8; 4]).await.map(drop)
    }));
}

#[test]
fn a_join_handle_polled_after_its_output_panics() {
    let _wd = Watchdog::new("a_join_handle_polled_after_its_output_panics");
    let rt = rt(1);
    let msg = panic_of(|| {
        rt.block_on(async {
            let mut h = trellis::spawn(async { 1 });
            assert_eq!((&mut h).await.unwrap(), 1);
            futures_lite::future::poll_once(&mut h).await
        })
    });
    assert_eq!(msg, "JoinHandle polled after it returned the output");
}

#[test]
fn into_panic_on_a_cancelled_task_s_error_panics() {
    let _wd = Watchdog::new("into_panic_on_a_cancelled_task_s_error_panics");
    let rt = rt(1);
    let err = rt.block_on(async {
        let h = trellis::spawn(std::future::pending::<()>());
        h.abort();
        h.await.unwrap_err()
    });
    let msg = panic_of(move || err.into_panic());
    assert_eq!(
        msg,
        "JoinError::into_panic called on a cancelled task's error: JoinError::Cancelled"
    );
}

#[test]
fn spawn_from_a_detached_blocking_thread_after_shutdown_is_cancelled() {
    let _wd = Watchdog::new("spawn_from_a_detached_blocking_thread_after_shutdown_is_cancelled");
    let rt = rt(1);
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (res_tx, res_rx) = mpsc::channel();
    let _detached = rt.spawn_blocking(move || {
        started_tx.send(()).unwrap();
        go_rx.recv_timeout(LIMIT).expect("go");
        let h = trellis::spawn(async { 5 });
        let finished = wait_until(Duration::from_secs(5), || h.is_finished());
        let result = finished.then(|| futures_lite::future::block_on(h));
        res_tx
            .send(result.map(|r| r.map_err(|e| e.is_cancelled())))
            .unwrap();
    });
    started_rx
        .recv_timeout(LIMIT)
        .expect("blocking job started");
    rt.shutdown_timeout(Duration::from_millis(10));
    go_tx.send(()).unwrap();
    let result = res_rx
        .recv_timeout(LIMIT)
        .expect("the detached job reports");
    assert_eq!(result, Some(Err(true)), "a cancelled handle, at once");
}
