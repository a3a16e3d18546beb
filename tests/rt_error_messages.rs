//! Misuse panics name the call the user made (ARCHITECTURE.md, guarantee G14), not the
//! internal function that noticed.

mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use support::{Watchdog, panic_message};
use trellis::{DomainId, TaskFailure};

/// The message of the body's (only) panic in a nursery that failed.
fn body_panic(r: Result<(), trellis::NurseryError>) -> String {
    let err = r.expect_err("the body panicked");
    match &err.failures()[0] {
        TaskFailure::Panic(p) => p.message().unwrap_or_default(),
        other => panic!("expected a panic, got {other:?}"),
    }
}

#[test]
fn start_soon_on_an_unknown_domain_names_nursery_start_soon_on() {
    let _w = Watchdog::with_timeout("unknown_domain", Duration::from_secs(20));
    let msg = body_panic(support::rt(2).block_on(trellis::nursery(async |n| {
        n.start_soon_on(DomainId::new(9), || async {});
    })));
    assert!(
        msg.contains("`Nursery::start_soon_on(DomainId(9), ..)`"),
        "{msg}"
    );
    assert!(msg.contains("2 domain(s)"), "{msg}");
}

#[test]
fn start_soon_local_outside_a_domain_names_nursery_start_soon_local() {
    let _w = Watchdog::with_timeout("local_outside_domain", Duration::from_secs(20));
    // The body of a nursery awaited by `block_on` runs on the calling thread: no domain.
    let msg = body_panic(support::rt(1).block_on(trellis::nursery(async |n| {
        n.start_soon_local(async {});
    })));
    assert!(
        msg.contains("`Nursery::start_soon_local` called outside a domain"),
        "{msg}"
    );
}

#[test]
fn a_nursery_handle_used_from_a_plain_thread_names_its_method() {
    let _w = Watchdog::with_timeout("handle_plain_thread", Duration::from_secs(20));
    let rt = support::rt(1);
    rt.block_on(trellis::nursery(async |n| {
        let h = n.handle();
        let payload = std::thread::spawn(move || h.start_soon(async {}))
            .join()
            .expect_err("no runtime on a plain thread");
        let msg = panic_message(payload.as_ref());
        assert!(
            msg.contains(
                "`NurseryHandle::start_soon` must be called from within a Trellis runtime"
            ),
            "{msg}"
        );
    }))
    .unwrap();
}

#[test]
fn a_nested_run_names_trellis_run() {
    let _w = Watchdog::with_timeout("nested_run", Duration::from_secs(20));
    let rt = support::rt(1);
    // From a future driven by `block_on`.
    let payload = catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(async { trellis::run(async {}) })
    }))
    .expect_err("nested run");
    let msg = panic_message(payload.as_ref());
    assert!(
        msg.contains("`trellis::run` called inside another `block_on`"),
        "{msg}"
    );
    // From a task on a worker.
    let err = rt
        .block_on(rt.spawn(async { trellis::run(async {}) }))
        .expect_err("nested run in a task");
    let msg = panic_message(err.into_panic().as_ref());
    assert!(
        msg.contains("`trellis::run` called from a Trellis worker thread"),
        "{msg}"
    );
}
