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

/// `bounded(huge)` panics (it does not abort the process), naming the call and the capacity.
#[test]
fn bounded_with_a_capacity_too_large_to_allocate_names_bounded() {
    let _w = Watchdog::with_timeout("bounded_huge", Duration::from_secs(20));
    for cap in [usize::MAX, 1 << 44] {
        let payload = catch_unwind(|| drop(trellis::channel::bounded::<u64>(cap)))
            .expect_err("no such buffer");
        let msg = panic_message(payload.as_ref());
        assert!(
            msg.contains(&format!("`trellis::channel::bounded({cap})`")),
            "{msg}"
        );
    }
    // A large but possible capacity still works.
    let (tx, rx) = trellis::channel::bounded::<u8>(4 << 20); // 64 MiB: probed, then built
    tx.try_send(1).unwrap();
    assert_eq!(rx.try_recv(), Ok(1));
}

/// A task that panics with a `panic_any` value of a common type says which type and value;
/// of another type, that it is not a string.
#[test]
fn a_panic_any_payload_is_described() {
    let _w = Watchdog::with_timeout("panic_any", Duration::from_secs(20));
    let rt = support::rt(1);
    let err = rt
        .block_on(rt.spawn(async { std::panic::panic_any(42u32) }))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "task panicked: a `panic_any` payload of type `u32`: 42"
    );
    #[derive(Debug)]
    struct Custom;
    let err = rt
        .block_on(rt.spawn(async { std::panic::panic_any(Custom) }))
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("not a string"), "{text}");
    let failure = rt
        .block_on(trellis::nursery(async |n| {
            n.start_soon(async { std::panic::panic_any(7i64) });
        }))
        .unwrap_err();
    let text = failure.to_string();
    assert!(
        text.contains("a `panic_any` payload of type `i64`: 7"),
        "{text}"
    );
}
