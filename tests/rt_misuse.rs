//! The misuse table (`trellis::misuse`): one test per row that no other test file covers, each
//! checking the exact message (or error) the misuse gives. Rows covered elsewhere are listed
//! with their tests in the table.
#![cfg(panic = "unwind")]

mod support;

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, mpsc};
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
fn a_timer_created_outside_a_runtime_panics_naming_the_call() {
    let _wd = Watchdog::new("a_timer_created_outside_a_runtime_panics_naming_the_call");
    let msg = panic_of(|| trellis::time::sleep(Duration::from_millis(1)));
    assert_eq!(msg, outside_message("trellis::time::sleep"));
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

#[test]
fn bounded_with_usize_max_panics() {
    let _wd = Watchdog::new("bounded_with_usize_max_panics");
    let msg = panic_of(|| trellis::channel::bounded::<u64>(usize::MAX));
    assert_eq!(msg, "bounded channel capacity is too large");
}

/// The environment variable that makes this test binary run one abort case as a child.
const CHILD: &str = "TRELLIS_MISUSE_CHILD";

#[test]
#[cfg_attr(
    miri,
    ignore = "sockets, child processes and a deliberately blocked thread"
)]
fn bounded_with_a_huge_capacity_aborts_the_process() {
    let _wd = Watchdog::new("bounded_with_a_huge_capacity_aborts_the_process");
    if std::env::var_os(CHILD).is_some() {
        // The child: allocates every slot up front (2^40 slots of 16 bytes), which aborts.
        let _ = trellis::channel::bounded::<u64>(1 << 40);
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "bounded_with_a_huge_capacity_aborts_the_process",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .expect("run the child");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the child survived: {stderr}");
    assert!(
        stderr.contains("memory allocation of 17592186044416 bytes failed"),
        "{stderr}"
    );
}

#[test]
#[cfg_attr(
    miri,
    ignore = "sockets, child processes and a deliberately blocked thread"
)]
fn a_predicate_that_reads_its_own_async_value_deadlocks() {
    let _wd = Watchdog::new("a_predicate_that_reads_its_own_async_value_deadlocks");
    let value = Arc::new(trellis::util::AsyncValue::new(0u32));
    let (done_tx, done_rx) = mpsc::channel::<()>();
    // Left blocked on purpose (the process ends with the test binary).
    std::thread::spawn(move || {
        trellis::run(async move {
            let inner = value.clone();
            let waiter = trellis::spawn({
                let value = value.clone();
                async move {
                    value
                        .wait_value(move |v: &u32| inner.get() == *v && *v == 1)
                        .await;
                }
            });
            trellis::yield_now().await;
            value.set(1);
            let _ = waiter.await;
        });
        let _ = done_tx.send(());
    });
    assert_eq!(
        done_rx.recv_timeout(Duration::from_secs(2)),
        Err(mpsc::RecvTimeoutError::Timeout),
        "the predicate's read of its own value takes the lock the predicate runs under"
    );
}
