//! Drop accounting (ARCHITECTURE.md, invariants I2/I3): every spawned future is dropped exactly once and every
//! produced output is dropped exactly once, across a matrix of
//! {body returns, body panics} x {JoinHandle dropped before finish, dropped after finish, awaited}
//! x {no abort, abort before first poll, abort while parked, abort after finish} x {1, 2 workers}.
#![cfg(panic = "unwind")]

mod support;

use std::time::Duration;

use support::{Counter, Out, Tracker, Watchdog, wait_until};

const LIMIT: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Body {
    Returns,
    Panics,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Handle {
    DropBeforeFinish,
    DropAfterFinish,
    Await,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Abort {
    None,
    BeforePoll,
    WhileParked,
    AfterFinish,
}

fn run_case(workers: usize, body: Body, handle: Handle, abort: Abort) {
    let case = format!("workers={workers} body={body:?} handle={handle:?} abort={abort:?}");
    let rt = support::rt_named(workers, "trl-drop");
    let tracker = Tracker::new();
    let outs = Counter::new();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();

    let mut blockers = (abort == Abort::BeforePoll).then(|| support::occupy_workers(&rt));
    let outs2 = outs.clone();
    let h = rt.spawn(tracker.track(async move {
        let _ = rx.await;
        if body == Body::Panics {
            panic!("matrix panic");
        }
        Out::new(7, &outs2)
    }));
    let mut h = Some(h);
    let finished_normally = match abort {
        Abort::None => {
            if handle == Handle::DropBeforeFinish {
                drop(h.take());
            }
            tx.send(()).unwrap();
            true
        }
        Abort::BeforePoll => {
            h.as_ref().unwrap().abort();
            if handle == Handle::DropBeforeFinish {
                drop(h.take());
            }
            if let Some(b) = &mut blockers {
                b.release();
            }
            let _ = tx.send(());
            false
        }
        Abort::WhileParked => {
            // Parked: its first poll has returned Pending (not merely started).
            assert!(
                wait_until(LIMIT, || tracker.pending.get() >= 1),
                "{case}: never parked"
            );
            h.as_ref().unwrap().abort();
            if handle == Handle::DropBeforeFinish {
                drop(h.take());
            }
            let _ = tx.send(());
            false
        }
        Abort::AfterFinish => {
            assert_ne!(handle, Handle::DropBeforeFinish);
            tx.send(()).unwrap();
            let hr = h.as_ref().unwrap();
            assert!(
                wait_until(LIMIT, || hr.is_finished()),
                "{case}: never finished"
            );
            hr.abort();
            true
        }
    };
    match handle {
        Handle::DropBeforeFinish => {
            assert!(h.is_none());
            // Without a handle, completion shows as the future's drop. Wait for it, or the
            // runtime drop below could legitimately cancel the task before it ran.
            assert!(
                wait_until(LIMIT, || tracker.dropped.get() == 1),
                "{case}: detached task never finished"
            );
        }
        Handle::DropAfterFinish => {
            let hr = h.take().unwrap();
            assert!(
                wait_until(LIMIT, || hr.is_finished()),
                "{case}: is_finished never became true"
            );
            drop(hr);
        }
        Handle::Await => {
            let res = rt.block_on(h.take().unwrap());
            match (finished_normally, body, res) {
                (true, Body::Returns, Ok(out)) => {
                    assert_eq!(out.value, 7, "{case}");
                    assert_eq!(outs.get(), 0, "{case}: output dropped before it was taken");
                }
                (true, Body::Panics, Err(e)) => assert!(e.is_panic(), "{case}: {e:?}"),
                (false, _, Err(e)) => assert!(e.is_cancelled(), "{case}: {e:?}"),
                (_, _, res) => panic!("{case}: unexpected result {res:?}"),
            }
        }
    }
    if let Some(b) = blockers {
        b.join(&rt);
    }
    drop(rt);
    assert_eq!(tracker.spawned.get(), 1, "{case}");
    assert_eq!(tracker.dropped.get(), 1, "{case}: future drops");
    if abort == Abort::BeforePoll {
        assert_eq!(tracker.polled.get(), 0, "{case}: polled after abort");
    }
    let produced = usize::from(finished_normally && body == Body::Returns);
    assert_eq!(outs.get(), produced, "{case}: output drops");
}

fn matrix(workers: usize) {
    for body in [Body::Returns, Body::Panics] {
        for handle in [
            Handle::DropBeforeFinish,
            Handle::DropAfterFinish,
            Handle::Await,
        ] {
            for abort in [
                Abort::None,
                Abort::BeforePoll,
                Abort::WhileParked,
                Abort::AfterFinish,
            ] {
                if handle == Handle::DropBeforeFinish && abort == Abort::AfterFinish {
                    continue; // no handle left to abort with
                }
                run_case(workers, body, handle, abort);
            }
        }
    }
}

#[test]
fn drop_matrix_one_worker() {
    let _wd = Watchdog::new("drop_matrix_one_worker");
    matrix(1);
}

#[test]
fn drop_matrix_two_workers() {
    let _wd = Watchdog::new("drop_matrix_two_workers");
    matrix(2);
}

#[test]
fn spawned_equals_dropped_on_normal_completion() {
    let _wd = Watchdog::new("spawned_equals_dropped_on_normal_completion");
    let rt = support::rt_named(2, "trl-drop");
    let tracker = Tracker::new();
    let outs = Counter::new();
    let t = tracker.clone();
    let o = outs.clone();
    rt.block_on(async move {
        let hs: Vec<_> = (0..2000)
            .map(|i| {
                let o = o.clone();
                trellis::spawn(t.track(async move {
                    if i % 2 == 0 {
                        trellis::yield_now().await;
                    }
                    Out::new(i, &o)
                }))
            })
            .collect();
        for (i, h) in hs.into_iter().enumerate() {
            if i % 3 == 0 {
                drop(h); // detach
            } else {
                assert_eq!(h.await.unwrap().value, i);
            }
        }
    });
    // Detached tasks may still be queued here; their completion shows as the future's drop.
    assert!(wait_until(LIMIT, || tracker.dropped.get() == 2000));
    drop(rt);
    assert_eq!(tracker.spawned.get(), 2000);
    assert_eq!(tracker.dropped.get(), 2000);
    assert_eq!(tracker.polled.get(), 2000);
    assert_eq!(outs.get(), 2000);
}

#[test]
fn finished_output_survives_runtime_drop() {
    let _wd = Watchdog::new("finished_output_survives_runtime_drop");
    let rt = support::rt_named(1, "trl-drop");
    let outs = Counter::new();
    let o = outs.clone();
    let h = rt.spawn(async move { Out::new(3, &o) });
    assert!(wait_until(LIMIT, || h.is_finished()));
    drop(rt);
    assert_eq!(outs.get(), 0, "a stored output belongs to its JoinHandle");
    let out = futures_lite::future::block_on(h).expect("a finished task's output is kept");
    assert_eq!(out.value, 3);
    drop(out);
    assert_eq!(outs.get(), 1);
}

#[test]
fn finished_output_dropped_with_handle_after_runtime_drop() {
    let _wd = Watchdog::new("finished_output_dropped_with_handle_after_runtime_drop");
    let rt = support::rt_named(1, "trl-drop");
    let outs = Counter::new();
    let o = outs.clone();
    let h = rt.spawn(async move { Out::new(3, &o) });
    assert!(wait_until(LIMIT, || h.is_finished()));
    drop(rt);
    drop(h);
    assert_eq!(outs.get(), 1);
}
