//! Static Send/Sync/Unpin assertions for the public runtime types (tokio `async_send_sync.rs`
//! style). This file fails to compile, rather than fail at run time, when a bound is lost.

use std::time::Duration;

use trellis::{BuildError, Builder, JoinError, JoinHandle, Runtime};

fn assert_send<T: Send>() {}
fn assert_sync<T: Sync>() {}
fn assert_unpin<T: Unpin>() {}
fn assert_static<T: 'static>() {}
fn assert_error<T: std::error::Error + Send + Sync + 'static>() {}
fn assert_debug_display<T: std::fmt::Debug + std::fmt::Display>() {}
fn assert_value_send<T: Send>(_: &T) {}
fn assert_value_unpin<T: Unpin>(_: &T) {}

#[test]
fn public_types_have_the_documented_auto_traits() {
    // Runtime: share it across threads; several runtimes may live in one process.
    assert_send::<Runtime>();
    assert_sync::<Runtime>();
    assert_static::<Runtime>();

    // JoinHandle<T>: Send when T: Send, and Unpin (awaitable without pinning).
    assert_send::<JoinHandle<u32>>();
    assert_send::<JoinHandle<String>>();
    assert_unpin::<JoinHandle<u32>>();

    // JoinError crosses threads and formats.
    assert_send::<JoinError>();
    assert_sync::<JoinError>();
    assert_debug_display::<JoinError>();

    // Builder can be configured on one thread and built on another.
    assert_send::<Builder>();
    assert_sync::<Builder>();

    // BuildError is a proper error.
    assert_error::<BuildError>();

    assert_send::<trellis::TaskBuilder>();
    assert_sync::<trellis::TaskBuilder>();
    assert_send::<trellis::TaskId>();
    assert_sync::<trellis::TaskId>();
    assert_send::<trellis::time::Instant>();
    assert_sync::<trellis::time::Instant>();
    assert_unpin::<trellis::time::Instant>();
    assert_send::<trellis::util::TaskStats>();
    assert_sync::<trellis::util::TaskStats>();
    assert_send::<trellis::util::TaskStatsReport>();
    // An instrument is shared by every worker.
    assert_send::<std::sync::Arc<dyn trellis::Instrument>>();
    assert_sync::<std::sync::Arc<dyn trellis::Instrument>>();
}

/// Never called: only type-checked. The futures and streams of the runtime must be `Send` so
/// tasks that hold them across an `.await` can be spawned (stolen between workers).
#[allow(dead_code)]
fn runtime_futures_are_send(rt: &Runtime) {
    let d = Duration::from_millis(1);
    assert_value_send(&trellis::time::sleep(d));
    assert_value_send(&trellis::time::sleep_until(trellis::time::Instant::now()));
    assert_value_send(&trellis::time::interval(d));
    assert_value_send(&trellis::yield_now());
    assert_value_send(&trellis::spawn(async { 1 }));
    assert_value_unpin(&trellis::spawn(async { 1 }));
    assert_value_send(&trellis::spawn_blocking(|| 1));
    assert_value_send(&rt.spawn(async { 1 }));
    // A task holding every kind of runtime future across awaits is spawnable.
    drop(rt.spawn(async move {
        trellis::time::sleep(d).await;
        let mut iv = trellis::time::interval(d);
        iv.tick().await;
        trellis::yield_now().await;
        trellis::spawn(async {}).await.unwrap();
        trellis::spawn_blocking(|| ()).await.unwrap();
        iv.tick().await;
    }));
}
