//! Nurseries: ARCHITECTURE.md, guarantees G1-G5 and G9, each test named after its item.

mod support;

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

use support::Watchdog;
use trellis::time::sleep;
use trellis::{CancelScope, DomainId, TaskFailure};

/// Counts drops, recording the thread each happened on.
#[derive(Clone, Default)]
struct Drops {
    count: Arc<AtomicUsize>,
    threads: Arc<Mutex<Vec<ThreadId>>>,
}

struct Tracked(Drops);
impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.count.fetch_add(1, SeqCst);
        self.0
            .threads
            .lock()
            .unwrap()
            .push(std::thread::current().id());
    }
}

#[derive(Debug)]
struct ErrA;
impl std::fmt::Display for ErrA {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("A failed")
    }
}
impl std::error::Error for ErrA {}

#[test]
fn nursery_waits_for_every_child_on_every_domain() {
    let _w = Watchdog::new("nursery waits");
    let rt = support::rt(2);
    let done = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        trellis::nursery(async |n| {
            for i in 0..50 {
                let d = done.clone();
                n.start_soon(async move {
                    sleep(Duration::from_millis(i % 5)).await;
                    d.fetch_add(1, SeqCst);
                });
                let d = done.clone();
                n.start_soon_on(DomainId::new(i as usize % 2), move || async move {
                    trellis::yield_now().await;
                    d.fetch_add(1, SeqCst);
                });
            }
        })
        .await
        .unwrap();
        // No child code runs after the nursery returned: everything is counted already.
        assert_eq!(done.load(SeqCst), 100);
    });
}

#[test]
fn first_failure_cancels_the_rest_body_included_and_every_failure_is_reported() {
    let _w = Watchdog::new("first failure");
    let rt = support::rt(2);
    let drops = Drops::default();
    let body_after = Arc::new(AtomicBool::new(false));
    let err = rt
        .block_on(async {
            trellis::nursery(async |n| {
                for _ in 0..4 {
                    let t = Tracked(drops.clone());
                    n.start_soon(async move {
                        let _t = t;
                        sleep(Duration::from_secs(3600)).await;
                    });
                }
                n.start_soon(async { Err::<(), _>(ErrA) });
                n.start_soon(async {
                    sleep(Duration::from_millis(1)).await;
                    Err::<(), _>(io::Error::other("io failed"))
                });
                sleep(Duration::from_secs(3600)).await; // the body is cancelled too
                body_after.store(true, SeqCst);
                Ok::<(), io::Error>(())
            })
            .await
        })
        .unwrap_err();
    assert_eq!(
        drops.count.load(SeqCst),
        4,
        "every sleeping sibling was dropped"
    );
    assert!(!body_after.load(SeqCst));
    // The second error may or may not happen before the cancellation reaches its task; the
    // first one is always there, and nothing else is.
    assert!(err.find::<ErrA>().is_some());
    assert!(err.len() <= 2);
    assert!(err.to_string().contains("A failed"));
}

#[test]
fn panics_are_failures_and_never_lost() {
    let _w = Watchdog::new("panics");
    let rt = support::rt(2);
    let err = rt
        .block_on(trellis::nursery(async |n| {
            n.start_soon(async { panic!("child blew up") });
        }))
        .unwrap_err();
    assert_eq!(err.len(), 1);
    assert!(matches!(err.failures()[0], TaskFailure::Panic(_)));
    assert!(err.to_string().contains("child blew up"));
    // The worker lives on.
    assert_eq!(
        rt.block_on(async { trellis::spawn(async { 1 }).await.unwrap() }),
        1
    );
}

#[test]
fn cancellation_crosses_threads_and_pinned_children_drop_at_home() {
    let _w = Watchdog::new("crosses threads");
    let rt = support::rt(2);
    let homes = Arc::new(Mutex::new(Vec::new()));
    let drops = Drops::default();
    rt.block_on(async {
        let err = trellis::nursery(async |n| {
            for d in 0..2 {
                for _ in 0..10 {
                    let (homes, t) = (homes.clone(), Tracked(drops.clone()));
                    n.start_soon_on(DomainId::new(d), move || async move {
                        homes.lock().unwrap().push(std::thread::current().id());
                        let _t = t;
                        std::future::pending::<()>().await;
                    });
                }
            }
            n.start_soon_on(DomainId::new(1), || async {
                trellis::yield_now().await;
                Err::<(), _>(ErrA)
            });
        })
        .await
        .unwrap_err();
        assert_eq!(err.len(), 1);
    });
    assert_eq!(drops.count.load(SeqCst), 20);
    let mut homes = homes.lock().unwrap().clone();
    let mut dropped_on = drops.threads.lock().unwrap().clone();
    homes.sort_by_key(|t| format!("{t:?}"));
    dropped_on.sort_by_key(|t| format!("{t:?}"));
    assert_eq!(
        homes, dropped_on,
        "each pinned child dropped on the thread it ran on"
    );
}

#[test]
fn drain_the_scope_completes_only_after_the_nursery_children_are_dropped() {
    let _w = Watchdog::new("drain");
    let rt = support::rt(2);
    let drops = Drops::default();
    rt.block_on(async {
        let scope = CancelScope::new();
        let cancel = scope.handle();
        let out = scope
            .run(async {
                trellis::nursery(async |n| {
                    for _ in 0..8 {
                        let t = Tracked(drops.clone());
                        n.start_soon(async move {
                            let _t = t;
                            // Slow to die: drop happens on another worker a bit later.
                            sleep(Duration::from_secs(3600)).await;
                        });
                    }
                    cancel.cancel();
                    sleep(Duration::from_secs(3600)).await;
                })
                .await
                .unwrap();
                unreachable!("the scope is cancelled");
            })
            .await;
        assert_eq!(out, None::<()>);
        assert_eq!(
            drops.count.load(SeqCst),
            8,
            "children dropped before the scope finished"
        );
    });
}

#[test]
fn children_inherit_the_nursery_scopes_not_the_scopes_around_start_soon() {
    let _w = Watchdog::new("inherit");
    let rt = support::rt(2);
    let finished = Arc::new(AtomicBool::new(false));
    rt.block_on(async {
        trellis::nursery(async |n| {
            // A scope around start_soon that is cancelled at once does not reach the child.
            let f = finished.clone();
            CancelScope::new()
                .timeout(Duration::ZERO)
                .run(async move {
                    n.start_soon(async move {
                        sleep(Duration::from_millis(10)).await;
                        f.store(true, SeqCst);
                    });
                    trellis::checkpoint().await;
                })
                .await;
        })
        .await
        .unwrap();
    });
    assert!(finished.load(SeqCst));
    // And a scope around the nursery does reach them.
    let reached = Arc::new(AtomicBool::new(false));
    rt.block_on(async {
        let r = reached.clone();
        let out = trellis::move_on_after(Duration::from_millis(10), async move {
            trellis::nursery(async |n| {
                n.start_soon(async move {
                    sleep(Duration::from_secs(3600)).await;
                    r.store(true, SeqCst);
                });
            })
            .await
            .unwrap();
        })
        .await;
        assert_eq!(out, None);
    });
    assert!(!reached.load(SeqCst));
}

#[test]
fn own_cancellation_is_a_clean_exit() {
    let _w = Watchdog::new("own cancel");
    let rt = support::rt(2);
    rt.block_on(async {
        // From the body.
        trellis::nursery(async |n| {
            n.start_soon(std::future::pending::<()>());
            n.cancel();
            std::future::pending::<()>().await;
        })
        .await
        .unwrap();
        // From a child, through a handle.
        trellis::nursery(async |n| {
            let h = n.handle();
            n.start_soon(async move {
                sleep(Duration::from_millis(2)).await;
                h.cancel();
            });
            sleep(Duration::from_secs(3600)).await;
        })
        .await
        .unwrap();
        // From another thread.
        trellis::nursery(async |n| {
            let h = n.handle();
            std::thread::spawn(move || h.cancel());
            sleep(Duration::from_secs(3600)).await;
        })
        .await
        .unwrap();
    });
}

#[test]
fn never_returning_children_compile_and_are_cancelled() {
    let _w = support::Watchdog::new("never_returning_children_compile_and_are_cancelled");
    let rt = support::rt(1);
    rt.block_on(async {
        trellis::nursery(async |n| {
            n.start_soon(async {
                loop {
                    trellis::yield_now().await;
                }
            });
            sleep(Duration::from_millis(2)).await;
            n.cancel();
        })
        .await
        .unwrap();
    });
}

#[test]
fn start_returns_the_started_value_and_early_failures_go_to_the_caller() {
    let _w = Watchdog::new("start");
    let rt = support::rt(2);
    let after_started = Arc::new(AtomicBool::new(false));
    let a = after_started.clone();
    let result = rt.block_on(trellis::nursery(async |n| {
        // The value passed to `started`.
        let port = n
            .start(|status: trellis::TaskStatus<u16>| async move {
                sleep(Duration::from_millis(2)).await;
                status.started(8080);
                sleep(Duration::from_millis(2)).await;
                a.store(true, SeqCst); // an ordinary child after `started`
            })
            .await
            .unwrap();
        assert_eq!(port, 8080);
        // A failure before `started` is returned by `start` and does not fail the nursery.
        let early = n
            .start(|_status: trellis::TaskStatus<u16>| async { Err::<(), _>(ErrA) })
            .await;
        match early {
            Err(TaskFailure::Error(e)) => assert!(e.downcast_ref::<ErrA>().is_some()),
            other => panic!("expected the early error, got {other:?}"),
        }
        // Returning without `started` is an error.
        let silent = n.start(|_status: trellis::TaskStatus<()>| async {}).await;
        match silent {
            Err(TaskFailure::Error(e)) => {
                assert!(e.downcast_ref::<trellis::NotStarted>().is_some())
            }
            other => panic!("expected NotStarted, got {other:?}"),
        }
    }));
    assert!(result.is_ok(), "{result:?}");
    assert!(
        after_started.load(SeqCst),
        "the started child ran on as a child"
    );
    // After `started`, a failure fails the nursery.
    let err = rt
        .block_on(trellis::nursery(async |n| {
            n.start(|status: trellis::TaskStatus<()>| async move {
                status.started(());
                Err::<(), _>(ErrA)
            })
            .await
            .unwrap();
        }))
        .unwrap_err();
    assert!(err.find::<ErrA>().is_some());
}

#[test]
fn nested_nursery_errors_propagate_as_a_childs_error() {
    let _w = support::Watchdog::new("nested_nursery_errors_propagate_as_a_childs_error");
    let err = support::rt(2)
        .block_on(trellis::nursery(async |n| {
            n.start_soon(async {
                trellis::nursery(async |inner| {
                    inner.start_soon(async { Err::<(), _>(ErrA) });
                })
                .await?;
                Ok::<(), trellis::NurseryError>(())
            });
        }))
        .unwrap_err();
    assert_eq!(err.len(), 1);
    let TaskFailure::Error(e) = &err.failures()[0] else {
        panic!("expected the inner nursery's error")
    };
    let inner = e.downcast_ref::<trellis::NurseryError>().unwrap();
    assert!(inner.find::<ErrA>().is_some());
}
