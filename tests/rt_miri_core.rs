//! The unsafe core end to end, in runs small enough for miri (`.ci/run` runs this file under
//! miri with two seeds; the other test files hold the same behaviours at full size): tasks and
//! join handles, wakes from plain threads, aborts, drops at shutdown with live tasks, pinned
//! tasks polled and dropped at home, channels across domains, cancel scopes and a failing
//! nursery. Every future and output is counted: each dropped exactly once.

mod support;

use std::sync::mpsc;
use std::time::Duration;

use support::{Counter, DropToken, Out, Tracker, Watchdog};
use trellis::DomainId;

#[test]
fn spawn_join_and_outputs_drop_once() {
    let _w = Watchdog::start();
    let rt = support::rt(2);
    let drops = Counter::new();
    let tracker = Tracker::new();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let d = drops.clone();
            rt.spawn(tracker.track(async move { Out::new(i, &d) }))
        })
        .collect();
    let sum: usize = rt.block_on(async {
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap().value;
        }
        sum
    });
    assert_eq!(sum, 6);
    drop(rt);
    assert_eq!(drops.get(), 4, "each output dropped once");
    assert_eq!(tracker.dropped.get(), 4, "each future dropped once");
}

#[test]
fn a_plain_thread_wakes_a_parked_task() {
    let _w = Watchdog::start();
    let rt = support::rt(2);
    let (tx, rx) = trellis::channel::bounded::<u32>(1);
    let task = rt.spawn(async move { rx.recv().await.unwrap() + 1 });
    let thread = std::thread::spawn(move || tx.send_blocking(41).unwrap());
    assert_eq!(rt.block_on(task).unwrap(), 42);
    thread.join().unwrap();
}

#[test]
fn aborts_before_the_first_poll_and_while_parked_drop_the_future_once() {
    let _w = Watchdog::start();
    let rt = support::rt(1);
    let tracker = Tracker::new();
    let (parked_tx, parked_rx) = mpsc::channel();
    let parked = rt.spawn(tracker.track(async move {
        parked_tx.send(()).unwrap();
        std::future::pending::<()>().await;
    }));
    parked_rx.recv().unwrap();
    parked.abort();
    let err = rt.block_on(parked).unwrap_err();
    assert!(err.is_cancelled());
    // The only worker is held inside a poll, so `never` is certainly not polled before its
    // abort (an idle worker would race the abort and could finish it first).
    let mut occupied = support::occupy_workers(&rt);
    let never = rt.spawn(tracker.track(async {}));
    never.abort();
    occupied.release();
    assert!(rt.block_on(never).unwrap_err().is_cancelled());
    occupied.join(&rt);
    drop(rt);
    assert_eq!(tracker.dropped.get(), tracker.spawned.get());
    assert_eq!(tracker.spawned.get(), 2);
}

#[test]
fn shutdown_drops_live_tasks_and_pinned_ones_at_home() {
    let _w = Watchdog::start();
    let rt = support::rt(2);
    let drops = Counter::new();
    let home_drops = Counter::new();
    let (started_tx, started_rx) = mpsc::channel();
    for domain in 0..2 {
        let (d, h, s) = (drops.clone(), home_drops.clone(), started_tx.clone());
        drop(rt.spawn_on(DomainId::new(domain), move || async move {
            struct AtHome(usize, Counter);
            impl Drop for AtHome {
                fn drop(&mut self) {
                    if trellis::domain::current() == Some(DomainId::new(self.0)) {
                        self.1.incr();
                    }
                }
            }
            let _token = DropToken(d);
            let _home = AtHome(domain, h);
            s.send(()).unwrap();
            std::future::pending::<()>().await;
        }));
    }
    // Made before the spawn: dropped with the future whether or not it was polled.
    let token = DropToken(drops.clone());
    drop(rt.spawn(async move {
        let _token = token;
        std::future::pending::<()>().await;
    }));
    started_rx.recv().unwrap();
    started_rx.recv().unwrap();
    drop(rt);
    assert_eq!(drops.get(), 3, "every live task dropped at shutdown, once");
    assert_eq!(
        home_drops.get(),
        2,
        "pinned tasks dropped on their home domain"
    );
}

#[test]
fn channels_carry_values_across_domains() {
    let _w = Watchdog::start();
    let rt = support::rt(2);
    let (to_one, from_zero) = trellis::channel::bounded::<usize>(1);
    let (to_zero, from_one) = trellis::channel::bounded::<usize>(0);
    let echo = rt.spawn_on(DomainId::new(1), move || async move {
        while let Ok(v) = from_zero.recv().await {
            to_zero.send(v * 2).await.unwrap();
        }
    });
    let sum = rt.block_on(rt.spawn_on(DomainId::new(0), move || async move {
        let mut sum = 0;
        for i in 0..8 {
            to_one.send(i).await.unwrap();
            sum += from_one.recv().await.unwrap();
        }
        sum
    }));
    assert_eq!(sum.unwrap(), 56);
    rt.block_on(echo).unwrap();
}

#[test]
fn a_failing_child_cancels_its_siblings_and_scopes_catch() {
    let _w = Watchdog::start();
    let rt = support::paused_rt(2);
    let tracker = Tracker::new();
    let t = tracker.clone();
    let failures = rt.block_on(async move {
        let caught = trellis::move_on_after(Duration::from_secs(5), async {
            trellis::time::sleep(Duration::from_secs(60)).await;
        })
        .await;
        assert!(caught.is_none(), "the deadline cancelled the sleep");
        let result = trellis::nursery(async |n| {
            for _ in 0..2 {
                n.start_soon(t.track(async {
                    std::future::pending::<()>().await;
                    Ok::<(), std::io::Error>(())
                }));
            }
            n.start_soon(async {
                trellis::time::sleep(Duration::from_millis(1)).await;
                Err(std::io::Error::other("boom"))
            });
        })
        .await;
        result.unwrap_err().failures().len()
    });
    assert_eq!(failures, 1, "the one failure is reported once");
    drop(rt);
    assert_eq!(
        tracker.dropped.get(),
        2,
        "the cancelled siblings were dropped once"
    );
}
