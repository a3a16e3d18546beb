//! Every failure reaches its nursery exactly once, whichever path it takes between
//! `start_soon*` and the child's end; and starting a child from a destructor of the body never
//! panics, even while the nursery future itself is being dropped.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use support::{Counter, Watchdog, wait_until};
use trellis::{DomainId, Nursery, TaskFailure};

fn only_panic(err: &trellis::NurseryError) -> String {
    assert_eq!(err.len(), 1, "{err}");
    match &err.failures()[0] {
        TaskFailure::Panic(p) => p.message().unwrap_or_default(),
        other => panic!("expected a panic, got {other:?}"),
    }
}

#[test]
fn a_panic_in_the_make_closure_of_start_soon_on_fails_the_nursery() {
    let _w = Watchdog::with_timeout("make_panics", Duration::from_secs(20));
    let rt = support::rt(2);
    for domain in 0..2 {
        let r = rt.block_on(trellis::nursery(async |n| {
            n.start_soon_on(DomainId::new(domain), || -> std::future::Ready<()> {
                panic!("make failed")
            });
        }));
        let err = r.expect_err("the panic is a failure");
        assert_eq!(only_panic(&err), "make failed");
    }
}

/// Starts a child from its destructor: the body's locals do this when the body is dropped.
struct StartOnDrop<'a> {
    nursery: &'a Nursery,
    ran: Counter,
    after_checkpoint: Counter,
}

impl Drop for StartOnDrop<'_> {
    fn drop(&mut self) {
        let (ran, after) = (self.ran.clone(), self.after_checkpoint.clone());
        self.nursery.start_soon(async move {
            ran.incr();
            trellis::checkpoint().await;
            after.incr();
        });
    }
}

#[test]
fn start_soon_from_a_drop_in_the_body_while_the_nursery_future_is_dropped_does_not_panic() {
    let _w = Watchdog::with_timeout("start_soon_in_drop", Duration::from_secs(20));
    let rt = support::rt(2);
    let ran = Counter::new();
    let after = Counter::new();
    let (r, a) = (ran.clone(), after.clone());
    rt.block_on(async move {
        let mut fut = Box::pin(trellis::nursery(async move |n| {
            let _guard = StartOnDrop {
                nursery: n,
                ran: r,
                after_checkpoint: a,
            };
            std::future::pending::<()>().await;
        }));
        std::future::poll_fn(|cx| {
            assert!(Pin::new(&mut fut).poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        drop(fut); // as `select!` or an abort would
    });
    // The child was accepted, started cancelled, and ran to its first checkpoint only.
    assert!(wait_until(Duration::from_secs(10), || ran.get() == 1));
    rt.shutdown_timeout(Duration::from_secs(5));
    assert_eq!(after.get(), 0);
}

#[test]
fn a_handle_start_soon_after_the_nursery_closed_is_refused() {
    let _w = Watchdog::with_timeout("handle_after_close", Duration::from_secs(20));
    let rt = support::rt(1);
    rt.block_on(async {
        let mut kept = None;
        trellis::nursery(async |n| kept = Some(n.handle()))
            .await
            .unwrap();
        assert_eq!(
            kept.unwrap().start_soon(async {}),
            Err(trellis::NurseryClosed)
        );
    });
}
