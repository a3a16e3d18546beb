//! The paused virtual clock (`Builder::start_paused`): time stands still while anything runs,
//! and jumps to the earliest timer exactly when every thread of the runtime is idle. Elapsed
//! times are asserted exactly.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::Watchdog;
use trellis::DomainId;
use trellis::time::{Instant, interval, sleep, sleep_until};

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

const fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

#[test]
fn paused_clock_stands_still_without_timers() {
    let _wd = Watchdog::new("paused_clock_stands_still_without_timers");
    support::paused_rt(2).block_on(async {
        let start = Instant::now();
        for _ in 0..100 {
            trellis::yield_now().await;
            trellis::spawn(async {}).await.unwrap();
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    });
}

#[test]
fn paused_sleep_of_an_hour_is_exact() {
    // A one-hour sleep: the test would hit the watchdog if the clock did not jump.
    let _wd = Watchdog::new("paused_sleep_of_an_hour_is_exact");
    support::paused_rt(2).block_on(async {
        let start = Instant::now();
        sleep(secs(3600)).await;
        assert_eq!(start.elapsed(), secs(3600));
        sleep_until(start + secs(7200)).await;
        assert_eq!(Instant::now() - start, secs(7200));
    });
}

#[test]
fn paused_timers_fire_in_deadline_order_at_exact_times() {
    let _wd = Watchdog::new("paused_timers_fire_in_deadline_order_at_exact_times");
    for workers in [1, 2, 4] {
        support::paused_rt(workers).block_on(async {
            let start = Instant::now();
            let seen = Arc::new(Mutex::new(Vec::new()));
            let mut handles = Vec::new();
            // Spawned in reverse so that the order comes from the deadlines alone.
            for i in (1..=50u64).rev() {
                let seen = seen.clone();
                handles.push(trellis::spawn(async move {
                    sleep(ms(10 * i)).await;
                    seen.lock().unwrap().push((i, start.elapsed()));
                }));
            }
            for h in handles {
                h.await.unwrap();
            }
            let seen = seen.lock().unwrap();
            let expected: Vec<_> = (1..=50u64).map(|i| (i, ms(10 * i))).collect();
            assert_eq!(*seen, expected, "{workers} workers");
        });
    }
}

#[test]
fn paused_clock_does_not_jump_while_a_wake_is_in_flight() {
    // A wakes B through a channel after 1 s; B then sleeps 2 s. A far timer (100 s) is pending
    // all along. If the clock jumped while B's wake was in flight (A parked, B not yet
    // running), B's sleep would start after the 100 s jump.
    let _wd = Watchdog::new("paused_clock_does_not_jump_while_a_wake_is_in_flight");
    for workers in [2, 3, 4] {
        let rt = support::paused_rt(workers);
        for round in 0..100 {
            rt.block_on(async {
                let start = Instant::now();
                let far = trellis::spawn(sleep(secs(100)));
                let (tx, rx) = trellis::channel::bounded::<()>(1);
                let b = trellis::spawn(async move {
                    rx.recv().await.unwrap();
                    sleep(secs(2)).await;
                    start.elapsed()
                });
                let _sender = trellis::spawn(async move {
                    sleep(secs(1)).await;
                    tx.send(()).await.unwrap();
                });
                assert_eq!(
                    b.await.unwrap(),
                    secs(3),
                    "round {round}, {workers} workers"
                );
                far.abort();
            });
        }
    }
}

#[test]
fn paused_clock_waits_for_pinned_tasks_and_block_on() {
    let _wd = Watchdog::new("paused_clock_waits_for_pinned_tasks_and_block_on");
    let rt = support::paused_rt(3);
    rt.block_on(async {
        let start = Instant::now();
        let mut handles = Vec::new();
        for d in 0..3 {
            handles.push(trellis::spawn_on(DomainId::new(d), move || async move {
                let mut times = Vec::new();
                for step in 1..=5u64 {
                    sleep(ms(100 * (d as u64 + 1))).await;
                    times.push(start.elapsed());
                    assert_eq!(times[step as usize - 1], ms(100 * (d as u64 + 1) * step));
                }
                times
            }));
        }
        // The block_on thread sleeps too, on its own timer.
        sleep(ms(250)).await;
        assert_eq!(start.elapsed(), ms(250));
        for h in handles {
            assert_eq!(h.await.unwrap().len(), 5);
        }
        assert_eq!(start.elapsed(), ms(1500));
    });
}

#[test]
fn paused_clock_holds_while_a_blocking_job_runs() {
    // A blocking job is work in progress: the pending 1 s timer must not fire while it runs,
    // even though every worker and the block_on thread are idle.
    let _wd = Watchdog::new("paused_clock_holds_while_a_blocking_job_runs");
    support::paused_rt(2).block_on(async {
        let start = Instant::now();
        let timer = trellis::spawn(async move {
            sleep(secs(1)).await;
            start.elapsed()
        });
        let at = trellis::spawn_blocking(move || {
            std::thread::sleep(ms(50)); // real time
            7
        })
        .await
        .unwrap();
        assert_eq!(at, 7);
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert!(!timer.is_finished());
        assert_eq!(timer.await.unwrap(), secs(1));
    });
}

#[test]
fn paused_deadlines_of_cancel_scopes_are_exact() {
    let _wd = Watchdog::new("paused_deadlines_of_cancel_scopes_are_exact");
    support::paused_rt(2).block_on(async {
        let start = Instant::now();
        assert_eq!(trellis::move_on_after(secs(5), sleep(secs(60))).await, None);
        assert_eq!(start.elapsed(), secs(5));
        assert!(trellis::fail_after(secs(2), sleep(secs(60))).await.is_err());
        assert_eq!(start.elapsed(), secs(7));
        assert_eq!(
            trellis::fail_after(secs(2), async {
                sleep(secs(1)).await;
                1
            })
            .await
            .unwrap(),
            1
        );
        assert_eq!(start.elapsed(), secs(8));
    });
}

#[test]
fn paused_interval_ticks_on_exact_period() {
    let _wd = Watchdog::new("paused_interval_ticks_on_exact_period");
    support::paused_rt(2).block_on(async {
        let start = Instant::now();
        let mut ticks = interval(ms(300));
        let mut at = Vec::new();
        for _ in 0..5 {
            at.push(ticks.tick().await - start);
        }
        assert_eq!(at, [ms(0), ms(300), ms(600), ms(900), ms(1200)]);
    });
}

#[test]
fn paused_clock_is_per_runtime() {
    // Outside any runtime `Instant::now` is the system clock; a running runtime's clock is
    // unaffected by a paused one.
    let _wd = Watchdog::new("paused_clock_is_per_runtime");
    let virt = support::paused_rt(1);
    let real = support::rt(1);
    let t0 = virt.block_on(async {
        let t0 = Instant::now();
        sleep(secs(1000)).await;
        t0
    });
    let real_now = real.block_on(async { Instant::now() });
    assert!(
        real_now - t0 < secs(500),
        "the real runtime saw virtual time"
    );
    let outside = Instant::now();
    assert!(outside >= real_now);
}

/// Issue 10, defect 6a (the `RepeatedEvent` doc example hung): a task spawned from `block_on`
/// is runnable, so the clock must not jump to the `block_on` thread's timer before the task's
/// first poll.
#[test]
fn paused_clock_waits_for_a_task_spawned_from_block_on() {
    let _wd = Watchdog::new("paused_clock_waits_for_a_task_spawned_from_block_on");
    for round in 0..300 {
        let workers = 1 + round % 2;
        let rt = support::paused_rt(workers);
        rt.block_on(async {
            let start = Instant::now();
            let first_poll = Arc::new(Mutex::new(None));
            let f2 = first_poll.clone();
            let listener = trellis::spawn(async move {
                *f2.lock().unwrap() = Some(start.elapsed());
            });
            sleep(ms(5)).await;
            assert_eq!(
                *first_poll.lock().unwrap(),
                Some(Duration::ZERO),
                "round {round}, {workers} worker(s): the clock jumped before the spawned task ran"
            );
            listener.await.unwrap();
        });
    }
}

/// Issue 10, defect 6b: a task registers a 100 ms timer, then spawns a child on the other
/// domain; the child is runnable, so its first poll must still see the clock at 0.
#[test]
fn paused_clock_waits_for_a_child_spawned_on_another_domain() {
    use std::future::Future;
    use std::pin::pin;
    use std::task::Poll;
    let _wd = Watchdog::new("paused_clock_waits_for_a_child_spawned_on_another_domain");
    for round in 0..200 {
        let rt = support::paused_rt(2);
        // Let both workers go to sleep first (one in the driver, as the last sleeper).
        std::thread::sleep(ms(2));
        let seen = rt
            .block_on(rt.spawn(async move {
                let start = Instant::now();
                let here = trellis::domain::current().unwrap().index();
                let mut nap = pin!(sleep(ms(100)));
                // Poll once: the timer is registered.
                std::future::poll_fn(|cx| {
                    let _ = nap.as_mut().poll(cx);
                    Poll::Ready(())
                })
                .await;
                let child =
                    trellis::spawn_on(
                        DomainId::new(1 - here),
                        move || async move { start.elapsed() },
                    );
                nap.await;
                let seen = child.await.unwrap();
                assert_eq!(start.elapsed(), ms(100));
                seen
            }))
            .unwrap();
        assert_eq!(
            seen,
            Duration::ZERO,
            "round {round}: the child on the other domain first ran after the clock jumped"
        );
    }
}
