//! Results from children (`Nursery::spawn` and its `ChildHandle`), and a `NurseryHandle` that
//! starts every kind of child `&Nursery` does.

mod support;

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::Duration;

use support::{Counter, Watchdog, run_paused};
use trellis::time::sleep;
use trellis::{CancelScope, DomainId, NoValue, NurseryClosed, TaskFailure};

#[derive(Debug)]
struct Boom;
impl std::fmt::Display for Boom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("boom")
    }
}
impl std::error::Error for Boom {}

#[test]
fn a_spawned_childs_value_is_awaited_in_the_body() {
    let _w = Watchdog::with_timeout("spawn_value", Duration::from_secs(20));
    let out = support::rt(2).block_on(async {
        let mut sum = 0;
        trellis::nursery(async |n| {
            let handles: Vec<_> = (0..100u64)
                .map(|i| n.spawn(async move { Ok::<_, Boom>(i) }))
                .collect();
            for h in handles {
                sum += h.await.unwrap();
            }
        })
        .await
        .map(|()| sum)
    });
    assert_eq!(out.unwrap(), 4950);
}

#[test]
fn a_spawned_childs_error_fails_the_nursery_and_its_handle_has_no_value() {
    run_paused("spawn_error", async {
        let saw = Arc::new(AtomicBool::new(false));
        let s = saw.clone();
        let r = trellis::nursery(async |n| {
            let failing = n.spawn(async {
                sleep(Duration::from_millis(5)).await;
                Err::<u8, _>(Boom)
            });
            // Awaited in a shield, so the body's cancellation does not stop the await: the
            // handle itself reports that no value came.
            let got = trellis::shielded(failing).await;
            assert_eq!(got, Err(NoValue));
            s.store(true, SeqCst);
        })
        .await;
        let err = r.expect_err("the child's error is the nursery's");
        assert_eq!(err.len(), 1);
        assert!(err.find::<Boom>().is_some());
        assert!(saw.load(SeqCst));
    });
}

#[test]
fn awaiting_a_child_handle_is_a_checkpoint() {
    run_paused("child_handle_checkpoint", async {
        trellis::nursery(async |n| {
            let ready = n.spawn(async { Ok::<_, Boom>(1) });
            sleep(Duration::from_millis(1)).await; // the child has finished
            let cs = CancelScope::new();
            cs.handle().cancel();
            assert_eq!(
                cs.run(ready).await,
                None,
                "cancelled, though the value was there"
            );
        })
        .await
        .unwrap();
    });
}

#[test]
fn a_child_handle_can_be_awaited_from_another_task() {
    run_paused("child_handle_elsewhere", async {
        let r = trellis::nursery(async |n| {
            let value = n.spawn(async {
                sleep(Duration::from_millis(3)).await;
                Ok::<_, Boom>("late")
            });
            n.start_soon(async move {
                assert_eq!(value.await, Ok("late"));
            });
        })
        .await;
        assert!(r.is_ok(), "{r:?}");
    });
}

#[test]
fn a_nursery_handle_starts_every_kind_of_child() {
    let _w = Watchdog::with_timeout("handle_kinds", Duration::from_secs(20));
    let ran = Counter::new();
    let r = ran.clone();
    let out = support::rt(2).block_on(trellis::nursery(async |n| {
        let h = n.handle();
        n.start_soon(async move {
            let (a, b, c, d) = (r.clone(), r.clone(), r.clone(), r.clone());
            h.start_soon(async move {
                a.incr();
            })
            .unwrap();
            h.start_soon_named("named", async move {
                b.incr();
            })
            .unwrap();
            h.start_soon_on(DomainId::new(1), move || async move {
                assert_eq!(trellis::domain::current(), Some(DomainId::new(1)));
                c.incr();
            })
            .unwrap();
            let here = Rc::new(d); // !Send: the child stays on this domain
            h.start_soon_local(async move {
                here.incr();
            })
            .unwrap();
            let v = h.start(|s| async move { s.started(7u8) }).await.unwrap();
            assert_eq!(v, 7);
            let value = h.spawn(async { Ok::<_, Boom>(8u8) }).unwrap();
            assert_eq!(value.await, Ok(8));
            r.incr();
        });
    }));
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(ran.get(), 5);
}

#[test]
fn a_closed_nursery_handle_refuses_every_kind_of_child() {
    let _w = Watchdog::with_timeout("handle_closed", Duration::from_secs(20));
    support::rt(1).block_on(async {
        let mut kept = None;
        trellis::nursery(async |n| kept = Some(n.handle()))
            .await
            .unwrap();
        let h = kept.unwrap();
        assert_eq!(h.start_soon(async {}), Err(NurseryClosed));
        assert_eq!(h.start_soon_named("x", async {}), Err(NurseryClosed));
        assert_eq!(
            h.start_soon_on(DomainId::new(0), || async {}),
            Err(NurseryClosed)
        );
        assert_eq!(h.start_soon_local(async {}), Err(NurseryClosed));
        assert!(matches!(
            h.spawn(async { Ok::<_, Boom>(()) }),
            Err(NurseryClosed)
        ));
        match h.start(|s| async move { s.started(()) }).await {
            Err(TaskFailure::Error(e)) => assert!(e.downcast_ref::<NurseryClosed>().is_some()),
            other => panic!("expected NurseryClosed, got {other:?}"),
        }
    });
}
