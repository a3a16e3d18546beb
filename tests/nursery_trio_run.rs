//! Trio's core tests (`src/trio/_core/_tests/test_run.py`), part 2 of 2: nurseries, `start` and
//! error groups (`NurseryError`), ported case by case under Trio's names (running, cancel
//! scopes and deadlines are in `cancel_trio_run.rs`, whose header gives the counts for the
//! whole Trio file and the cases skipped there). Time-based cases run on the paused virtual
//! clock (`run_paused`), where `wait_all_tasks_blocked()` is `settle()`.
//!
//! Ported here: 23 cases. A `_two_domains` suffix marks a variant on a two-worker runtime
//! (children pinned to different domains with `start_soon_on`) where threads change the story;
//! another suffix marks the part of a Trio case split off on its own (each of those failed on
//! the scope code before the scope core, `runtime/src/scope/body.rs`). The file mirrors Trio's
//! on purpose, so a Trio case is found under its own name; a test found while porting (the
//! nursery first polled in a cancelled scope) lives with its behaviour in `cancel_scope.rs`,
//! the nursery tests grouped by behaviour in `nursery_*.rs`.
//!
//! Adapted to Trellis's documented semantics: a nursery always wraps its failures in a
//! `NurseryError` (Trio's strict exception groups, the only mode); cancelled children are not
//! failures (Trio's `Cancelled` in the group is filtered out); the child of `start` runs in the
//! nursery's scope from the start, not in the caller's until `started` (so a cancelled caller
//! does not cancel it, and after `started` its failure is the nursery's); `start` is a
//! checkpoint like every runtime await (in a cancelled scope it does not return a value);
//! dropping the `start` future leaves its child in the nursery; a shield is a `CancelScope`
//! property, nurseries have none.
//!
//! Skipped:
//! - Not expressible in Rust: `test_nursery_warn_use_async_with` (no sync `with`),
//!   `test_Nursery_init`, `test_Nursery_private_init`, `test_Nursery_subclass` (the `Nursery`
//!   has no public constructor and no subclasses), `test_nursery_stop_iteration`,
//!   `test_nursery_stop_async_iteration` (Python's iteration protocol exceptions),
//!   `test_nursery_exception_chaining_doesnt_make_context_loops`, `test_traceback_frame_removal`
//!   (Python exception context and tracebacks). Starting into a closed nursery with `start`
//!   (part of `test_nursery_start`) does not compile: `&Nursery` lives only inside the body.
//! - Trio internals: `test_task_nursery_stack`, `test_spawn_name` (task names are instrument
//!   data, tested in `rt_instrument.rs`), `test_asyncio_function_inside_nursery_does_not_explode`
//!   (asyncio).

mod support;

use std::future::pending;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{Watchdog, assert_elapsed, run_paused, run_paused_within, settle};
use trellis::time::{Instant, sleep};
use trellis::{
    CancelScope, DomainId, NotStarted, NurseryClosed, NurseryError, TaskFailure, TaskStatus,
    checkpoint, move_on_after, shielded,
};

/// Bound for the cases that hung before the scope core: a hang fails in seconds.
const HANG_WATCHDOG: Duration = Duration::from_secs(10);

/// Trio's `sleep_forever`: a wait that only a cancellation ends.
async fn sleep_forever() {
    pending::<()>().await;
}

macro_rules! error_type {
    ($name:ident) => {
        #[derive(Debug)]
        struct $name(&'static str);
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
        impl std::error::Error for $name {}
    };
}
error_type!(KeyError);
error_type!(ValueError);
error_type!(RuntimeError);

/// Records `name` into a shared log when dropped (Trio's `except Cancelled: record(...)`).
struct RecordOnDrop(Arc<Mutex<Vec<String>>>, String);
impl Drop for RecordOnDrop {
    fn drop(&mut self) {
        self.0.lock().unwrap().push(self.1.clone());
    }
}

fn log() -> Arc<Mutex<Vec<String>>> {
    Arc::new(Mutex::new(Vec::new()))
}

fn taken(log: &Arc<Mutex<Vec<String>>>) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap())
}

/// The error of a `TaskFailure::Error`, downcast.
fn error_of<E: std::error::Error + 'static>(failure: &TaskFailure) -> Option<&E> {
    match failure {
        TaskFailure::Error(e) => e.downcast_ref::<E>(),
        TaskFailure::Panic(_) => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Failures

#[test]
fn test_nursery_main_block_error_basic() {
    run_paused("test_nursery_main_block_error_basic", async {
        let err = trellis::nursery(async |_n| Err::<(), _>(ValueError("whoops")))
            .await
            .unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(err.find::<ValueError>().unwrap().0, "whoops");
    });
}

#[test]
fn test_child_crash_basic() {
    run_paused("test_child_crash_basic", async {
        let err = trellis::nursery(async |n| {
            n.start_soon(async { Err::<(), _>(ValueError("uh oh")) });
        })
        .await
        .unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(err.find::<ValueError>().unwrap().0, "uh oh");
    });
}

/// Two-domain variant: the failing child is pinned to the other domain.
#[test]
fn test_child_crash_basic_two_domains() {
    let _w = Watchdog::new("test_child_crash_basic_two_domains");
    let err = support::rt(2)
        .block_on(trellis::nursery(async |n| {
            n.start_soon_on(DomainId::new(1), || async {
                Err::<(), _>(ValueError("uh oh"))
            });
            n.start_soon_on(DomainId::new(0), || async {
                panic!("and a panic on domain 0");
            });
        }))
        .unwrap_err();
    assert_eq!(err.len(), 2, "{err}");
    assert_eq!(err.find::<ValueError>().unwrap().0, "uh oh");
}

/// Two-domain variant where the child crashes before its future exists: in the closure that
/// builds it on its domain (the Rust counterpart of a crash in the synchronous prologue of
/// Trio's task function).
#[test]
fn test_child_crash_basic_in_make_closure_two_domains() {
    let _w = Watchdog::with_timeout(
        "test_child_crash_basic_in_make_closure_two_domains",
        HANG_WATCHDOG,
    );
    let r = support::rt(2).block_on(trellis::nursery(async |n| {
        n.start_soon_on(DomainId::new(1), || -> std::future::Ready<()> {
            panic!("uh oh");
        });
    }));
    let err = r.expect_err("the panic is the nursery's failure");
    assert_eq!(err.len(), 1);
    assert!(matches!(err.failures()[0], TaskFailure::Panic(_)));
}

/// Trio checks that the two loopers run in lock-step rounds. Trellis does not promise a
/// scheduling order; what it does promise is that a checkpoint lets the sibling run, so
/// neither looper finishes all its rounds before the other has started, and each runs its own
/// rounds in order.
#[test]
fn test_basic_interleave() {
    run_paused("test_basic_interleave", async {
        let record = log();
        trellis::nursery(async |n| {
            for who in ["a", "b"] {
                let record = record.clone();
                n.start_soon(async move {
                    for i in 0..3 {
                        record.lock().unwrap().push(format!("{who}{i}"));
                        checkpoint().await;
                    }
                });
            }
        })
        .await
        .unwrap();
        let record = taken(&record);
        assert_eq!(record.len(), 6, "{record:?}");
        for who in ["a", "b"] {
            let own: Vec<_> = record.iter().filter(|r| r.starts_with(who)).collect();
            assert_eq!(
                own,
                [&format!("{who}0"), &format!("{who}1"), &format!("{who}2")]
            );
        }
        let pos = |r: &str| record.iter().position(|x| x == r).unwrap();
        assert!(pos("a0") < pos("b2") && pos("b0") < pos("a2"), "{record:?}");
    });
}

#[test]
fn test_task_crash_propagation() {
    run_paused("test_task_crash_propagation", async {
        let record = log();
        let r = record.clone();
        let err = trellis::nursery(async |n| {
            n.start_soon(async move {
                let _cancelled = RecordOnDrop(r, "looper cancelled".into());
                loop {
                    checkpoint().await;
                }
            });
            n.start_soon(async { Err::<(), _>(ValueError("argh")) });
        })
        .await
        .unwrap_err();
        assert_eq!(err.len(), 1, "the cancelled looper is not a failure: {err}");
        assert_eq!(err.find::<ValueError>().unwrap().0, "argh");
        assert_eq!(taken(&record), ["looper cancelled"]);
    });
}

/// Two-domain variant: the looper spins on domain 1, the crasher fails on domain 0; the looper
/// is dropped on its own domain.
#[test]
fn test_task_crash_propagation_two_domains() {
    let _w = Watchdog::new("test_task_crash_propagation_two_domains");
    let record = log();
    let r = record.clone();
    let running = Arc::new(AtomicBool::new(false));
    let flag = running.clone();
    let err = support::rt(2)
        .block_on(trellis::nursery(async |n| {
            n.start_soon_on(DomainId::new(1), move || async move {
                let home = format!("looper cancelled on {:?}", trellis::domain::current());
                let _cancelled = RecordOnDrop(r, home);
                flag.store(true, SeqCst);
                loop {
                    trellis::yield_now().await;
                }
            });
            n.start_soon_on(DomainId::new(0), move || async move {
                while !running.load(SeqCst) {
                    trellis::yield_now().await;
                }
                Err::<(), _>(ValueError("argh"))
            });
        }))
        .unwrap_err();
    assert_eq!(err.len(), 1, "{err}");
    assert_eq!(
        taken(&record),
        [format!("looper cancelled on {:?}", Some(DomainId::new(1)))]
    );
}

#[test]
fn test_main_and_task_both_crash() {
    run_paused("test_main_and_task_both_crash", async {
        let err = trellis::nursery(async |n| {
            n.start_soon(async { Err::<(), _>(ValueError("child")) });
            Err::<(), _>(KeyError("main"))
        })
        .await
        .unwrap_err();
        assert_eq!(err.len(), 2, "{err}");
        assert!(err.find::<ValueError>().is_some());
        assert!(err.find::<KeyError>().is_some());
    });
}

#[test]
fn test_two_child_crashes() {
    let _w = Watchdog::new("test_two_child_crashes");
    let err = support::rt(2)
        .block_on(trellis::nursery(async |n| {
            // Both crash in their first poll, before any checkpoint: both are reported.
            n.start_soon(async { Err::<(), _>(KeyError("first")) });
            n.start_soon(async { panic!("second") });
        }))
        .unwrap_err();
    assert_eq!(err.len(), 2, "{err}");
    assert!(err.find::<KeyError>().is_some());
    assert!(
        err.failures()
            .iter()
            .any(|f| matches!(f, TaskFailure::Panic(_)))
    );
}

#[test]
fn test_child_crash_wakes_parent() {
    run_paused("test_child_crash_wakes_parent", async {
        let err = trellis::nursery(async |n| {
            n.start_soon(async { Err::<(), _>(ValueError("this is a crash")) });
            sleep_forever().await; // woken and cancelled by the crash
        })
        .await
        .unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(err.find::<ValueError>().unwrap().0, "this is a crash");
    });
}

/// Two-domain variant: the crash happens on another domain while the body waits.
#[test]
fn test_child_crash_wakes_parent_two_domains() {
    let _w = Watchdog::new("test_child_crash_wakes_parent_two_domains");
    let err = support::rt(2)
        .block_on(trellis::nursery(async |n| {
            n.start_soon_on(DomainId::new(1), || async {
                sleep(Duration::from_millis(5)).await;
                panic!("this is a crash");
            });
            sleep_forever().await;
        }))
        .unwrap_err();
    assert_eq!(err.len(), 1);
    assert!(matches!(err.failures()[0], TaskFailure::Panic(_)));
}

/// Two-domain variant: the children are pinned to both domains, the outer scope is cancelled
/// from a plain thread, and the crasher fails on domain 1.
#[test]
fn test_cancel_scope_exceptiongroup_filtering_two_domains() {
    let _w = Watchdog::new("test_cancel_scope_exceptiongroup_filtering_two_domains");
    let outer = CancelScope::new();
    let oh = outer.handle();
    let oh2 = oh.clone();
    let out = support::rt(2).block_on(outer.run(async move {
        trellis::nursery(async |n| {
            n.start_soon_on(DomainId::new(0), sleep_forever);
            n.start_soon_on(DomainId::new(1), sleep_forever);
            n.cancel();
            shielded(sleep(Duration::from_millis(2))).await;
            n.start_soon_on(DomainId::new(0), sleep_forever);
            std::thread::spawn(move || oh2.cancel()).join().unwrap();
            n.start_soon_on(DomainId::new(1), || async {
                Err::<(), _>(KeyError("crasher"))
            });
        })
        .await
    }));
    let err = out
        .expect("the body finished with the nursery's result")
        .unwrap_err();
    assert_eq!(err.len(), 1, "{err}");
    assert!(err.find::<KeyError>().is_some());
    assert!(!oh.cancelled_caught());
}

/// Trio: the outer scope catches the `Cancelled`s and only the `KeyError` propagates. Trellis:
/// cancelled children are never failures, so the nursery's result holds the `KeyError` alone,
/// and, returned by the nursery without another checkpoint, it is the outer body's value (the
/// outer scope catches nothing).
#[test]
fn test_cancel_scope_exceptiongroup_filtering() {
    run_paused("test_cancel_scope_exceptiongroup_filtering", async {
        let outer = CancelScope::new();
        let oh = outer.handle();
        let oh2 = oh.clone();
        let out = outer
            .run(async move {
                trellis::nursery(async |n| {
                    // Two children that get cancelled by the nursery scope.
                    n.start_soon(sleep_forever());
                    n.start_soon(sleep_forever());
                    n.cancel();
                    shielded(settle()).await;
                    // One child that gets cancelled by the outer scope.
                    n.start_soon(sleep_forever());
                    oh2.cancel();
                    // And one that fails.
                    n.start_soon(async { Err::<(), _>(KeyError("crasher")) });
                })
                .await
            })
            .await;
        let err = out
            .expect("the body finished with the nursery's result")
            .unwrap_err();
        assert_eq!(err.len(), 1, "{err}");
        assert!(err.find::<KeyError>().is_some());
        assert!(oh.cancel_called());
        assert!(!oh.cancelled_caught());
    });
}

#[test]
fn test_precancelled_task() {
    // A task started in an already-cancelled nursery runs to its first checkpoint, then stops.
    run_paused("test_precancelled_task", async {
        let record = log();
        let r = record.clone();
        trellis::nursery(async |n| {
            n.cancel();
            n.start_soon(async move {
                r.lock().unwrap().push("started".into());
                sleep_forever().await;
                r.lock().unwrap().push("not reached".into());
            });
        })
        .await
        .unwrap();
        assert_eq!(taken(&record), ["started"]);
    });
}

/// Two-domain variant: the precancelled child is pinned to the other domain.
#[test]
fn test_precancelled_task_two_domains() {
    let _w = Watchdog::new("test_precancelled_task_two_domains");
    let record = log();
    let r = record.clone();
    support::rt(2)
        .block_on(trellis::nursery(async |n| {
            n.cancel();
            n.start_soon_on(DomainId::new(1), move || async move {
                r.lock()
                    .unwrap()
                    .push(format!("started on {:?}", trellis::domain::current()));
                sleep_forever().await;
                r.lock().unwrap().push("not reached".into());
            });
        }))
        .unwrap();
    assert_eq!(
        taken(&record),
        [format!("started on {:?}", Some(DomainId::new(1)))]
    );
}

/// Cancellation propagates at once to every descendant.
#[test]
fn test_cancel_inheritance() {
    run_paused("test_cancel_inheritance", async {
        let record = log();
        trellis::nursery(async |n| {
            for w in ["w1", "w2"] {
                let record = record.clone();
                n.start_soon(async move {
                    trellis::nursery(async |n| {
                        for l in ["l1", "l2"] {
                            let leaf = RecordOnDrop(record.clone(), format!("{w}-{l}"));
                            n.start_soon(async move {
                                let _leaf = leaf;
                                sleep_forever().await;
                            });
                        }
                    })
                    .await
                });
            }
            n.cancel();
        })
        .await
        .unwrap();
        let mut record = taken(&record);
        record.sort();
        assert_eq!(record, ["w1-l1", "w1-l2", "w2-l1", "w2-l2"]);
    });
}

/// Two-domain variant: each worker's leaves are pinned to both domains, the cancel crosses to
/// each, and each leaf is dropped on its home domain.
#[test]
fn test_cancel_inheritance_two_domains() {
    let _w = Watchdog::new("test_cancel_inheritance_two_domains");
    let record = log();
    let started = Arc::new(AtomicUsize::new(0));
    support::rt(2)
        .block_on(trellis::nursery(async |n| {
            for w in ["w1", "w2"] {
                let (record, started) = (record.clone(), started.clone());
                n.start_soon(async move {
                    trellis::nursery(async |n| {
                        for d in 0..2 {
                            let (record, started) = (record.clone(), started.clone());
                            n.start_soon_on(DomainId::new(d), move || async move {
                                let home = trellis::domain::current();
                                let _leaf =
                                    RecordOnDrop(record, format!("{w}-d{d} dropped on {home:?}"));
                                started.fetch_add(1, SeqCst);
                                sleep_forever().await;
                            });
                        }
                    })
                    .await
                });
            }
            // Cancel once every leaf waits, so that the cancel has to cross to running tasks.
            while started.load(SeqCst) < 4 {
                sleep(Duration::from_millis(1)).await;
            }
            n.cancel();
        }))
        .unwrap();
    let mut record = taken(&record);
    record.sort();
    let expected: Vec<String> = ["w1", "w2"]
        .iter()
        .flat_map(|w| {
            (0..2).map(move |d| format!("{w}-d{d} dropped on {:?}", Some(DomainId::new(d))))
        })
        .collect();
    assert_eq!(record, expected);
}

/// Trio shields the nursery's own scope, lets a child fall asleep, and unshields it, which
/// must abort the sleep. A Trellis nursery has no shield and a shield cannot be dropped while
/// running: the nursery runs inside a shielded `CancelScope` in a cancelled outer scope, its
/// child sleeps undisturbed, and cancelling the shielded scope itself (the way to end a
/// shielded region early) aborts the sleep, which the body observes from a nested shield.
#[test]
fn test_cancel_shield_abort() {
    run_paused("test_cancel_shield_abort", async {
        let record = log();
        let outer = CancelScope::new();
        let oh = outer.handle();
        let oh2 = oh.clone();
        let rec = record.clone();
        let out = outer
            .run(async move {
                let shield = CancelScope::new().shield(true);
                let sh = shield.handle();
                let r = shield
                    .run(async move {
                        trellis::nursery(async |n| {
                            oh2.cancel();
                            let r = rec.clone();
                            n.start_soon(async move {
                                r.lock().unwrap().push("sleeping".into());
                                let _c = RecordOnDrop(r, "cancelled".into());
                                sleep_forever().await;
                            });
                            settle().await;
                            assert_eq!(*rec.lock().unwrap(), ["sleeping"]);
                            sh.cancel();
                            shielded(async {
                                settle().await;
                                assert_eq!(*rec.lock().unwrap(), ["sleeping", "cancelled"]);
                            })
                            .await;
                        })
                        .await
                    })
                    .await;
                assert!(r.is_none(), "the shielded scope caught its own cancel");
                checkpoint().await;
                unreachable!("the outer scope catches after the shield");
            })
            .await;
        assert_eq!(out, None::<()>);
        assert!(oh.cancelled_caught());
        assert_eq!(taken(&record), ["sleeping", "cancelled"]);
    });
}

/// Two-domain variant: the sleeper is pinned to domain 1 and the shielded scope is cancelled
/// from a plain thread; the sleeper is dropped on its home domain.
#[test]
fn test_cancel_shield_abort_two_domains() {
    let _w = Watchdog::new("test_cancel_shield_abort_two_domains");
    let record = log();
    let rec = record.clone();
    let outer = CancelScope::new();
    let oh = outer.handle();
    let oh2 = oh.clone();
    let out = support::rt(2).block_on(outer.run(async move {
        let shield = CancelScope::new().shield(true);
        let sh = shield.handle();
        let r = shield
            .run(trellis::nursery(async |n| {
                oh2.cancel();
                let r = rec.clone();
                n.start_soon_on(DomainId::new(1), move || async move {
                    r.lock().unwrap().push("sleeping".into());
                    let home = trellis::domain::current();
                    let _c = RecordOnDrop(r, format!("cancelled on {home:?}"));
                    sleep_forever().await;
                });
                while rec.lock().unwrap().is_empty() {
                    sleep(Duration::from_millis(1)).await;
                }
                std::thread::spawn(move || sh.cancel()).join().unwrap();
                sleep_forever().await;
            }))
            .await;
        assert!(r.is_none(), "the shielded scope caught its own cancel");
        checkpoint().await;
        unreachable!("the outer scope catches after the shield");
    }));
    assert_eq!(out, None::<()>);
    assert!(oh.cancelled_caught());
    assert_eq!(
        taken(&record),
        [
            "sleeping".to_string(),
            format!("cancelled on {:?}", Some(DomainId::new(1)))
        ]
    );
}

/// Children may add siblings while the nursery waits for them; once it has finished, it takes
/// no new children.
#[test]
fn test_nursery_closure() {
    run_paused("test_nursery_closure", async {
        let ran = Arc::new(AtomicUsize::new(0));
        let mut kept = None;
        trellis::nursery(async |n| {
            let h = n.handle();
            kept = Some(h.clone());
            let ran = ran.clone();
            n.start_soon(async move {
                checkpoint().await; // the body has returned: the nursery waits in its exit
                h.start_soon(async move {
                    ran.fetch_add(1, SeqCst);
                })
                .unwrap();
            });
        })
        .await
        .unwrap();
        assert_eq!(ran.load(SeqCst), 1);
        assert_eq!(kept.unwrap().start_soon(async {}), Err(NurseryClosed));
    });
}

/// Two-domain variant: the child that adds a sibling runs pinned on the other domain.
#[test]
fn test_nursery_closure_two_domains() {
    let _w = Watchdog::new("test_nursery_closure_two_domains");
    let ran = Arc::new(Mutex::new(Vec::new()));
    let mut kept = None;
    support::rt(2)
        .block_on(trellis::nursery(async |n| {
            let h = n.handle();
            kept = Some(h.clone());
            let ran = ran.clone();
            n.start_soon_on(DomainId::new(1), move || async move {
                sleep(Duration::from_millis(2)).await;
                h.start_soon(async move {
                    ran.lock().unwrap().push("sibling ran");
                })
                .unwrap();
            });
        }))
        .unwrap();
    assert_eq!(*ran.lock().unwrap(), ["sibling ran"]);
    assert_eq!(kept.unwrap().start_soon(async {}), Err(NurseryClosed));
}

/// Trio's case is about the system nursery (internal); its nursery part is kept: a child that
/// fails while it is being cancelled (Trio: raises from `except Cancelled`; Rust: its drop
/// panics) is a failure, and the cancelled sibling is not. The failing child is pinned to the
/// other domain, and the cancel comes from the body, then (second run) from an enclosing scope.
#[test]
#[allow(non_snake_case)]
fn test_system_task_crash_plus_Cancelled() {
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("raised while cancelled");
        }
    }
    let _w = Watchdog::new("test_system_task_crash_plus_Cancelled");
    let rt = support::rt(2);
    let err = rt
        .block_on(trellis::nursery(async |n| {
            n.start_soon_on(DomainId::new(1), || async {
                let _p = PanicOnDrop;
                sleep_forever().await;
            });
            n.start_soon(sleep_forever());
            sleep(Duration::from_millis(5)).await;
            n.cancel();
        }))
        .unwrap_err();
    assert_eq!(err.len(), 1, "{err}");
    assert!(matches!(err.failures()[0], TaskFailure::Panic(_)));

    let outer = CancelScope::new();
    let oh = outer.handle();
    let out = rt.block_on(outer.run(async move {
        trellis::nursery(async |n| {
            n.start_soon_on(DomainId::new(1), || async {
                let _p = PanicOnDrop;
                sleep_forever().await;
            });
            n.start_soon(sleep_forever());
            sleep(Duration::from_millis(5)).await;
            oh.cancel();
            sleep_forever().await;
        })
        .await
    }));
    let err = out
        .expect("the failure is the outer body's value")
        .unwrap_err();
    assert_eq!(err.len(), 1, "{err}");
    assert!(matches!(err.failures()[0], TaskFailure::Panic(_)));
}

// ---------------------------------------------------------------------------------------------
// Nursery exit under cancellation

/// Trio: opening and closing a nursery in a cancelled scope does not check for cancellation
/// (unless something inside it does), so the scope catches nothing; the same with a child that
/// reaches no checkpoint.
#[test]
fn test_trivial_yields() {
    run_paused_within("test_trivial_yields", HANG_WATCHDOG, async {
        let cs = CancelScope::new();
        let h = cs.handle();
        let h2 = h.clone();
        let out = cs
            .run(async move {
                h2.cancel();
                trellis::nursery(async |_n| {}).await
            })
            .await;
        assert!(matches!(out, Some(Ok(()))), "{out:?}");
        assert!(!h.cancelled_caught());

        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let cs = CancelScope::new();
        let h = cs.handle();
        let h2 = h.clone();
        let out = cs
            .run(async move {
                h2.cancel();
                trellis::nursery(async |n| {
                    n.start_soon(async move { r.store(true, SeqCst) });
                })
                .await
            })
            .await;
        assert!(ran.load(SeqCst), "a child runs to its first checkpoint");
        assert!(matches!(out, Some(Ok(()))), "{out:?}");
        assert!(!h.cancelled_caught());
    });
}

/// The parts of `test_trivial_yields` that pass today: `checkpoint()` is a cancellation point
/// and its shielded form is not; a nursery whose body fails in a cancelled scope reports the
/// failure.
#[test]
fn test_trivial_yields_failing_nursery_in_cancelled_scope() {
    run_paused(
        "test_trivial_yields_failing_nursery_in_cancelled_scope",
        async {
            let cs = CancelScope::new();
            cs.handle().cancel();
            assert_eq!(cs.run(checkpoint()).await, None);
            let cs = CancelScope::new();
            cs.handle().cancel();
            assert_eq!(cs.run(shielded(checkpoint())).await, Some(()));

            let cs = CancelScope::new();
            let h = cs.handle();
            let h2 = h.clone();
            let out = cs
                .run(async move {
                    h2.cancel();
                    trellis::nursery(async |_n| Err::<(), _>(KeyError("in the body"))).await
                })
                .await;
            let err = out.expect("the failure is the body's value").unwrap_err();
            assert_eq!(err.len(), 1);
            assert!(err.find::<KeyError>().is_some());
            assert!(!h.cancelled_caught());
        },
    );
}

// ---------------------------------------------------------------------------------------------
// start

async fn sleep_then_start(seconds: u64, status: TaskStatus<u64>) {
    sleep(Duration::from_secs(seconds)).await;
    status.started(seconds);
    sleep(Duration::from_secs(seconds)).await;
}

#[test]
fn test_nursery_start() {
    run_paused("test_nursery_start", async {
        // Happy path: `start` waits for `started`, returns its value, and the nursery then
        // waits for the child to finish. (Trio's calling-convention `TypeError`, the direct call
        // with `TASK_STATUS_IGNORED` and calling `started` twice do not compile in Rust.)
        for seconds in [1, 2] {
            let t0 = Instant::now();
            trellis::nursery(async |n| {
                assert!(format!("{n:?}").contains("live_children: 0"), "{n:?}");
                let v = n.start(|s| sleep_then_start(seconds, s)).await.unwrap();
                assert_eq!(v, seconds);
                assert_elapsed(t0, Duration::from_secs(seconds));
                assert!(format!("{n:?}").contains("live_children: 1"), "{n:?}");
            })
            .await
            .unwrap();
            assert_elapsed(t0, Duration::from_secs(2 * seconds));
        }

        // A crash before `started` comes out of `start`; the nursery is not failed.
        trellis::nursery(async |n| {
            let r = n
                .start(|_s: TaskStatus<()>| async { Err::<(), _>(KeyError("oops")) })
                .await;
            assert_eq!(error_of::<KeyError>(&r.unwrap_err()).unwrap().0, "oops");
        })
        .await
        .unwrap();

        // The same for a panic before `started`.
        trellis::nursery(async |n| {
            let r = n.start(|_s: TaskStatus<()>| async { panic!("oops") }).await;
            assert!(matches!(r, Err(TaskFailure::Panic(_))), "{r:?}");
        })
        .await
        .unwrap();

        // Returning before `started`.
        trellis::nursery(async |n| {
            let r = n.start(|_s: TaskStatus<()>| async {}).await;
            assert!(error_of::<NotStarted>(&r.unwrap_err()).is_some());
        })
        .await
        .unwrap();

        // A `start` call in a cancelled scope is cancelled (Trio: raises `Cancelled`). In
        // Trio the child runs under the caller's cancelled scope until its first checkpoint;
        // in Trellis it would run in the nursery's scope, so a `start` in an already cancelled
        // scope starts nothing at all.
        let finished = Arc::new(AtomicBool::new(false));
        let f = finished.clone();
        trellis::nursery(async |n| {
            let cs = CancelScope::new();
            let h = cs.handle();
            h.cancel();
            let r = cs
                .run(n.start(|s: TaskStatus<&str>| async move {
                    s.started("hi");
                    checkpoint().await;
                    f.store(true, SeqCst);
                }))
                .await;
            assert!(r.is_none(), "{r:?}");
            assert!(h.cancelled_caught());
        })
        .await
        .unwrap();
        assert!(!finished.load(SeqCst), "nothing was started");

        // Trio: a child that calls `started` and exits without a checkpoint lets `start`
        // return even in a cancelled scope. Trellis differs: `start` is a checkpoint like every
        // runtime await, so in a cancelled scope it is cancelled all the same.
        trellis::nursery(async |n| {
            let cs = CancelScope::new();
            let h = cs.handle();
            h.cancel();
            let r = cs
                .run(n.start(|s: TaskStatus<()>| async move { s.started(()) }))
                .await;
            assert!(r.is_none(), "{r:?}");
            assert!(h.cancelled_caught());
        })
        .await
        .unwrap();

        // Trio: in a cancelled scope `started` is a no-op, so a crash after it still comes out
        // of `start`. Trellis: the cancelled `start` starts nothing, so nothing fails.
        trellis::nursery(async |n| {
            let cs = CancelScope::new();
            cs.handle().cancel();
            let r = cs
                .run(n.start(|s: TaskStatus<()>| async move {
                    s.started(());
                    Err::<(), _>(KeyError("whoopsiedaisy"))
                }))
                .await;
            assert!(r.is_none(), "{r:?}");
        })
        .await
        .unwrap();
    });
}

/// Two-domain variant of "`start` in a cancelled scope": on two workers the child may call
/// `started` on the other worker before the caller polls `start`; the caller must be cancelled
/// all the same. Repeated to give the race a chance.
#[test]
fn test_nursery_start_in_cancelled_scope_two_domains() {
    let _w = Watchdog::new("test_nursery_start_in_cancelled_scope_two_domains");
    let rt = support::rt(2);
    for i in 0..300 {
        let r = rt.block_on(rt.spawn(async move {
            let mut out = None;
            trellis::nursery(async |n| {
                let cs = CancelScope::new();
                cs.handle().cancel();
                out = Some(
                    cs.run(n.start(|s: TaskStatus<usize>| async move { s.started(i) }))
                        .await,
                );
            })
            .await
            .unwrap();
            out.unwrap()
        }));
        assert!(
            r.unwrap().is_none(),
            "iteration {i}: start returned in a cancelled scope"
        );
    }
}

/// Trio's case, adapted: Trio passes the nursery out of `setup_nursery` and calls `start` on
/// it from outside; a Trellis `&Nursery` lives only in its body, so the `start` calls are made
/// from the target nursery's own body. The child opens a nursery of sleeping children, then
/// the target nursery is cancelled just before (or just after) `started`: everything stops,
/// and the target nursery's own cancellation is a clean exit.
#[test]
fn test_nursery_start_with_cancelled_nursery() {
    async fn sleeping_children(status: TaskStatus<()>, before_started: impl FnOnce()) {
        trellis::nursery(async |n| {
            n.start_soon(sleep_forever());
            n.start_soon(sleep_forever());
            settle().await;
            before_started();
            status.started(());
        })
        .await
        .unwrap();
    }
    run_paused("test_nursery_start_with_cancelled_nursery", async {
        // Cancelling the target nursery just *before* calling started().
        trellis::nursery(async |target| {
            let h = target.handle();
            let _ = target
                .start(|s| sleeping_children(s, move || h.cancel()))
                .await;
        })
        .await
        .unwrap();

        // Cancelling it just *after* calling started().
        trellis::nursery(async |target| {
            target.start(|s| sleeping_children(s, || {})).await.unwrap();
            target.cancel();
        })
        .await
        .unwrap();
    });
}

/// The earlier port of this name: `start` in a nursery cancelled before the call; the child
/// is cancelled at its first checkpoint, before `started`.
#[test]
fn test_nursery_start_with_cancelled_nursery_before_start() {
    let _w = Watchdog::new("test_nursery_start_with_cancelled_nursery_before_start");
    support::rt(2).block_on(async {
        let r = trellis::nursery(async |n| {
            n.cancel();
            let started = n
                .start(|status: TaskStatus<()>| async move {
                    checkpoint().await;
                    status.started(());
                })
                .await;
            let _ = started; // the body itself is cancelled at this await, or sees the error
        })
        .await;
        assert!(r.is_ok());
    });
}

async fn sleep_a_bit(status: TaskStatus<()>) {
    sleep(Duration::from_secs(2)).await;
    status.started(());
    sleep(Duration::from_secs(3)).await;
}

/// Trio starts `nursery2.start(...)` from tasks of another nursery and exits nursery2's body
/// while those calls are pending. A Trellis `start` is made from the body, and the child is in
/// the nursery from the start; dropping the `start` future (here by a timeout around it) leaves
/// it there. So: start one, give up waiting after 1 s, start another and give up right after it
/// started (a zero timeout would start nothing: `start` in a cancelled scope), and exit the
/// body: the nursery still waits for both (6 s, as in Trio).
#[test]
fn test_nursery_start_keeps_nursery_open() {
    run_paused("test_nursery_start_keeps_nursery_open", async {
        let t0 = Instant::now();
        trellis::nursery(async |n2| {
            assert!(
                move_on_after(Duration::from_secs(1), n2.start(sleep_a_bit))
                    .await
                    .is_none()
            );
            assert!(
                move_on_after(Duration::from_nanos(1), n2.start(sleep_a_bit))
                    .await
                    .is_none()
            );
        })
        .await
        .unwrap();
        assert_elapsed(t0, Duration::from_secs(6));

        // The child crashes before `started` and never "enters" the nursery: the `start`
        // caller gets the failure, and the nursery waited for it.
        let t0 = Instant::now();
        trellis::nursery(async |n2| {
            let r = n2
                .start(|_s: TaskStatus<()>| async {
                    sleep(Duration::from_secs(7)).await;
                    Err::<(), _>(KeyError("crash"))
                })
                .await;
            assert!(error_of::<KeyError>(&r.unwrap_err()).is_some());
        })
        .await
        .unwrap();
        assert_elapsed(t0, Duration::from_secs(7));
    });
}

/// The crash case of `test_nursery_start_keeps_nursery_open` with the `start` caller gone
/// (its future dropped, as the pending `start` calls of Trio's case are when their tasks are
/// cancelled): nobody can receive the failure before `started`, so it must reach the nursery.
#[test]
fn test_nursery_start_keeps_nursery_open_crash_after_start_dropped() {
    run_paused_within(
        "test_nursery_start_keeps_nursery_open_crash_after_start_dropped",
        HANG_WATCHDOG,
        async {
            let t0 = Instant::now();
            let r = trellis::nursery(async |n2| {
                let start = n2.start(|_s: TaskStatus<()>| async {
                    sleep(Duration::from_secs(7)).await;
                    Err::<(), _>(KeyError("crash"))
                });
                assert!(
                    move_on_after(Duration::from_nanos(1), start)
                        .await
                        .is_none()
                );
            })
            .await;
            assert_elapsed(t0, Duration::from_secs(7));
            let err = r.expect_err("the failure reaches the nursery");
            assert_eq!(err.len(), 1);
            assert!(err.find::<KeyError>().is_some());
        },
    );
}

#[test]
fn test_nursery_explicit_exception() {
    run_paused("test_nursery_explicit_exception", async {
        let err = trellis::nursery(async |_n| Err::<(), _>(KeyError("explicit")))
            .await
            .unwrap_err();
        assert_eq!(err.len(), 1);
        assert!(err.find::<KeyError>().is_some());
    });
}

/// Trio checks for reference cycles; the Rust counterpart: a nursery cancelled by its body
/// releases everything it and its children captured.
#[test]
fn test_nursery_cancel_doesnt_create_cyclic_garbage() {
    run_paused("test_nursery_cancel_doesnt_create_cyclic_garbage", async {
        let token = Arc::new(());
        let t = token.clone();
        let mut kept = None;
        trellis::nursery(async |n| {
            kept = Some(n.handle());
            n.start_soon(async move {
                let _t = t;
                sleep_forever().await;
            });
            n.cancel();
        })
        .await
        .unwrap();
        checkpoint().await;
        assert_eq!(Arc::strong_count(&token), 1);
        // A kept handle is only a handle: the nursery is closed.
        assert_eq!(kept.unwrap().start_soon(async {}), Err(NurseryClosed));
    });
}

/// Trellis's nursery is always strict (Trio's `strict_exception_groups=True`): one failure is
/// wrapped like two.
#[test]
fn test_setting_strict_exception_groups() {
    run_paused("test_setting_strict_exception_groups", async {
        for count in [1, 2] {
            let err = trellis::nursery(async |n| {
                for _ in 0..count {
                    n.start_soon(async { Err::<(), _>(RuntimeError("test error")) });
                }
            })
            .await
            .unwrap_err();
            assert_eq!(err.len(), count);
            for failure in err.failures() {
                assert_eq!(error_of::<RuntimeError>(failure).unwrap().0, "test error");
            }
        }
    });
}

/// A nested nursery's failures, once its cancelled siblings are stripped, stay wrapped in
/// their own `NurseryError` inside the outer one (Trio's strict mode).
#[test]
fn test_nursery_collapse() {
    run_paused("test_nursery_collapse", async {
        let err = trellis::nursery(async |n| {
            n.start_soon(sleep_forever());
            n.start_soon(async { Err::<(), _>(RuntimeError("test error")) });
            trellis::nursery(async |n2| {
                n2.start_soon(sleep_forever());
                n2.start_soon(async { Err::<(), _>(RuntimeError("test error")) });
                n.cancel();
            })
            .await
        })
        .await
        .unwrap_err();
        assert_eq!(err.len(), 2, "{err}");
        let direct = err
            .failures()
            .iter()
            .filter(|f| error_of::<RuntimeError>(f).is_some())
            .count();
        assert_eq!(direct, 1, "{err}");
        let nested = err
            .find::<NurseryError>()
            .expect("the inner nursery's error is a failure of the outer body");
        assert_eq!(nested.len(), 1, "{nested}");
        assert!(nested.find::<RuntimeError>().is_some());
    });
}

/// Regression tests for Trio #2611 / #2844: an error raised before `started` comes out of
/// `start` as it was raised (not wrapped in a group), also when it is itself a group; raised
/// after `started` it is one failure of the nursery.
#[test]
fn test_trio_run_strict_before_started() {
    run_paused("test_trio_run_strict_before_started", async {
        // Before started: a plain error.
        trellis::nursery(async |n| {
            let r = n
                .start(|_s: TaskStatus<()>| async { Err::<(), _>(ValueError("raiser")) })
                .await;
            assert_eq!(error_of::<ValueError>(&r.unwrap_err()).unwrap().0, "raiser");
        })
        .await
        .unwrap();

        // Before started: a group (the child's own nursery failed).
        trellis::nursery(async |n| {
            let r = n
                .start(|_s: TaskStatus<()>| async {
                    trellis::nursery(async |_| Err::<(), _>(ValueError("raiser"))).await
                })
                .await;
            let failure = r.unwrap_err();
            let group = error_of::<NurseryError>(&failure).expect("the group, as raised");
            assert_eq!(group.len(), 1);
            assert!(group.find::<ValueError>().is_some());
        })
        .await
        .unwrap();

        // After started: the nursery's failure, once.
        let err = trellis::nursery(async |n| {
            n.start(|s: TaskStatus<()>| async move {
                s.started(());
                Err::<(), _>(ValueError("raiser"))
            })
            .await
            .unwrap();
            sleep_forever().await;
        })
        .await
        .unwrap_err();
        assert_eq!(err.len(), 1, "{err}");
        assert_eq!(
            error_of::<ValueError>(&err.failures()[0]).unwrap().0,
            "raiser"
        );
    });
}

/// Trio: a `start` child that spawns into its eventual nursery before `started` is an internal
/// error. In Trellis the child is in the nursery from the start, so this is ordinary: the two
/// siblings' failures fail the nursery; the child's own "not started" goes to the `start`
/// caller, not the nursery.
#[test]
fn test_internal_error_old_nursery_multiple_tasks() {
    run_paused("test_internal_error_old_nursery_multiple_tasks", async {
        let err = trellis::nursery(async |n| {
            let h = n.handle();
            let _ = n
                .start(|_s: TaskStatus<()>| async move {
                    h.start_soon(async { Err::<(), _>(ValueError("1")) })
                        .unwrap();
                    h.start_soon(async { Err::<(), _>(ValueError("2")) })
                        .unwrap();
                })
                .await;
            sleep_forever().await;
        })
        .await
        .unwrap_err();
        assert_eq!(err.len(), 2, "{err}");
        assert!(
            err.failures()
                .iter()
                .all(|f| error_of::<ValueError>(f).is_some())
        );
    });
}
