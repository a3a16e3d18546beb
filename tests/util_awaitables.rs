//! `wait_any` / `wait_all`: trio-util's `tests/test_awaitables.py` case by case (same names),
//! then the edge cases of section 1.6 of the semantics reference. Times are virtual (a paused
//! clock, as trio-util's `autojump_clock`), so elapsed times are asserted exactly.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use support::{Counter, DropToken, Watchdog, assert_elapsed, paused_rt};
use trellis::time::{Instant, sleep};
use trellis::util::{AsyncBool, wait_all, wait_any, wait_any_value};
use trellis::{NurseryError, TaskFailure};

/// One second of virtual time.
const S: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Boom(&'static str);

impl std::fmt::Display for Boom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "boom: {}", self.0)
    }
}

impl std::error::Error for Boom {}

/// trio-util's `foo(duration)`: sleeps, then counts.
async fn foo(duration: Duration, count: Arc<AtomicUsize>) {
    sleep(duration).await;
    count.fetch_add(1, SeqCst);
}

/// Never returns; counts its drop.
async fn forever(drops: Counter) {
    let _token = DropToken(drops);
    std::future::pending::<()>().await;
}

fn only_error(err: &NurseryError) -> &Boom {
    assert_eq!(err.len(), 1, "{err}");
    err.find::<Boom>().expect("a Boom")
}

// ---- tests/test_awaitables.py ----

#[test]
fn test_all() {
    let _w = Watchdog::new("test_all");
    paused_rt(2).block_on(async {
        let count = Arc::new(AtomicUsize::new(0));
        let t0 = Instant::now();
        wait_all((foo(S, count.clone()), foo(2 * S, count.clone())))
            .await
            .unwrap();
        assert_eq!(count.load(SeqCst), 2);
        assert_elapsed(t0, 2 * S);
    });
}

#[test]
fn test_any() {
    let _w = Watchdog::new("test_any");
    paused_rt(2).block_on(async {
        let count = Arc::new(AtomicUsize::new(0));
        let t0 = Instant::now();
        wait_any((foo(S, count.clone()), foo(2 * S, count.clone())))
            .await
            .unwrap();
        assert_eq!(count.load(SeqCst), 1);
        assert_elapsed(t0, S);
        // The loser was dropped, not left running: nothing more is counted later.
        sleep(5 * S).await;
        assert_eq!(count.load(SeqCst), 1);
    });
}

// ---- section 1.6 edge cases ----

#[test]
fn wait_any_and_wait_all_with_no_futures_return_at_once() {
    let _w = Watchdog::new("no futures");
    paused_rt(2).block_on(async {
        let t0 = Instant::now();
        wait_any(()).await.unwrap();
        wait_all(()).await.unwrap();
        wait_any(Vec::<std::future::Ready<()>>::new())
            .await
            .unwrap();
        wait_all([(); 0].map(|()| async {})).await.unwrap();
        assert_elapsed(t0, Duration::ZERO);
    });
}

#[test]
fn wait_any_failure_is_grouped_even_alone_and_cancels_the_rest() {
    // `wait_any(boom, sleep_forever)` raises ExceptionGroup([ValueError('x')]) (verified).
    let _w = Watchdog::new("wait_any failure");
    paused_rt(2).block_on(async {
        let drops = Counter::new();
        let t0 = Instant::now();
        let boom = async {
            sleep(S).await;
            Err::<(), _>(Boom("x"))
        };
        let err = wait_any((boom, forever(drops.clone()))).await.unwrap_err();
        assert_eq!(only_error(&err).0, "x");
        assert_eq!(drops.get(), 1, "the sibling was cancelled and dropped");
        assert_elapsed(t0, S);
    });
}

#[test]
fn wait_all_failure_cancels_the_rest() {
    let _w = Watchdog::new("wait_all failure");
    paused_rt(2).block_on(async {
        let drops = Counter::new();
        let count = Arc::new(AtomicUsize::new(0));
        let t0 = Instant::now();
        let boom = async {
            sleep(2 * S).await;
            Err::<(), _>(Boom("late"))
        };
        let err = wait_all((
            foo(S, count.clone()),
            boom,
            forever(drops.clone()),
            foo(3 * S, count.clone()),
        ))
        .await
        .unwrap_err();
        assert_eq!(only_error(&err).0, "late");
        assert_eq!(drops.get(), 1);
        assert_eq!(count.load(SeqCst), 1, "the 3 s one was cancelled at 2 s");
        assert_elapsed(t0, 2 * S);
    });
}

#[test]
fn every_failure_is_reported_in_completion_order() {
    let _w = Watchdog::new("every failure");
    paused_rt(2).block_on(async {
        let first = async {
            sleep(S).await;
            Err::<(), _>(Boom("first"))
        };
        // Cancelled at 1 s, but its shielded cleanup runs on and fails at 2 s.
        let second = async {
            sleep(S / 2).await;
            trellis::shielded(sleep(S * 3 / 2)).await;
            Err::<(), _>(Boom("second"))
        };
        let t0 = Instant::now();
        let err = wait_all((second, first)).await.unwrap_err();
        let order: Vec<String> = err.failures().iter().map(|f| f.to_string()).collect();
        assert_eq!(order, ["error: boom: first", "error: boom: second"]);
        assert_elapsed(t0, 2 * S);
    });
}

#[test]
fn a_panic_is_a_failure() {
    let _w = Watchdog::new("panic");
    paused_rt(2).block_on(async {
        let drops = Counter::new();
        let err = wait_any((
            async {
                sleep(S).await;
                panic!("winner panicked");
            },
            forever(drops.clone()),
        ))
        .await
        .unwrap_err();
        assert_eq!(err.len(), 1);
        assert!(matches!(err.failures()[0], TaskFailure::Panic(_)));
        assert!(err.to_string().contains("winner panicked"), "{err}");
        assert_eq!(drops.get(), 1);
    });
}

#[test]
fn wait_any_waits_for_the_cancelled_ones_to_finish_their_shielded_cleanup() {
    // The nursery waits for its cancelled children: a shielded cleanup runs to its end
    // before `wait_any` returns.
    let _w = Watchdog::new("shielded cleanup");
    paused_rt(2).block_on(async {
        let cleaned = AsyncBool::shared(false);
        let c = cleaned.clone();
        let slow = async move {
            sleep(S / 2).await;
            trellis::shielded(async {
                sleep(2 * S).await;
                c.set(true);
            })
            .await;
            sleep(10 * S).await;
        };
        let t0 = Instant::now();
        wait_any((slow, sleep(S))).await.unwrap();
        assert!(cleaned.get());
        assert_elapsed(t0, S / 2 + 2 * S);
    });
}

#[test]
fn wait_any_is_cancelled_by_an_enclosing_scope() {
    let _w = Watchdog::new("enclosing scope");
    paused_rt(2).block_on(async {
        let drops = Counter::new();
        let t0 = Instant::now();
        let out = trellis::move_on_after(
            S,
            wait_any((forever(drops.clone()), forever(drops.clone()))),
        )
        .await;
        assert!(out.is_none());
        assert_eq!(drops.get(), 2);
        assert_elapsed(t0, S);
    });
}

#[test]
fn tuples_arrays_and_vecs_of_futures() {
    let _w = Watchdog::new("shapes");
    paused_rt(2).block_on(async {
        let count = Arc::new(AtomicUsize::new(0));
        let t0 = Instant::now();
        // A Vec built from an iterator: the shortest wins.
        let sleeps: Vec<_> = [3, 1, 2]
            .iter()
            .map(|&n| foo(n * S, count.clone()))
            .collect();
        wait_any(sleeps).await.unwrap();
        assert_elapsed(t0, S);
        assert_eq!(count.load(SeqCst), 1);
        // An array: all of them.
        wait_all([1, 2].map(|n| foo(n * S, count.clone())))
            .await
            .unwrap();
        assert_elapsed(t0, 3 * S);
        assert_eq!(count.load(SeqCst), 3);
        // A tuple of 8 different future types, including one that never returns.
        let t1 = Instant::now();
        wait_any((
            sleep(8 * S),
            async {
                loop {
                    sleep(S / 3).await;
                }
            },
            async {
                sleep(7 * S).await;
                Ok::<(), Boom>(())
            },
            foo(6 * S, count.clone()),
            Box::pin(sleep(5 * S)),
            async {
                sleep(4 * S).await;
            },
            async move { sleep(3 * S).await },
            trellis::time::sleep_until(t1 + 2 * S),
        ))
        .await
        .unwrap();
        assert_elapsed(t1, 2 * S);
        assert_eq!(count.load(SeqCst), 3);
    });
}

#[test]
fn several_may_return_in_the_same_tick() {
    // Both are due at the same instant: whichever returns first wins; a second return after
    // the cancel is not an error.
    let _w = Watchdog::new("same tick");
    paused_rt(2).block_on(async {
        let count = Arc::new(AtomicUsize::new(0));
        let t0 = Instant::now();
        wait_any((foo(S, count.clone()), foo(S, count.clone())))
            .await
            .unwrap();
        assert!((1..=2).contains(&count.load(SeqCst)));
        assert_elapsed(t0, S);
    });
}

#[test]
fn the_futures_run_in_parallel_on_the_pool() {
    // They are nursery children: each may run on its own worker (here each blocks its thread
    // until the other has started, which needs two threads).
    let _w = Watchdog::new("parallel");
    paused_rt(2).block_on(async {
        let started = Arc::new(AtomicUsize::new(0));
        let both = |started: Arc<AtomicUsize>| async move {
            started.fetch_add(1, SeqCst);
            assert!(support::spin_until(Duration::from_secs(20), || {
                started.load(SeqCst) == 2
            }));
        };
        wait_all((both(started.clone()), both(started.clone())))
            .await
            .unwrap();
    });
}

#[test]
fn the_returned_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let f = wait_any((std::future::pending::<()>(), async {}));
    assert_send(&f);
    let g = wait_all(vec![std::future::ready(())]);
    assert_send(&g);
    // And so they can be spawned.
    paused_rt(2).block_on(async {
        trellis::spawn(wait_any((sleep(S), sleep(2 * S))))
            .await
            .unwrap()
            .unwrap();
    });
}

/// `wait_any` reports which future won: its index in the tuple, array or `Vec`; `None` with
/// no futures.
#[test]
fn wait_any_reports_the_winner() {
    let _w = Watchdog::new("wait_any_reports_the_winner");
    paused_rt(2).block_on(async {
        let count = Arc::new(AtomicUsize::new(0));
        let won = wait_any((
            foo(3 * S, count.clone()),
            foo(S, count.clone()),
            sleep(2 * S),
        ))
        .await
        .unwrap();
        assert_eq!(won, Some(1));
        let sleeps: Vec<_> = [5, 4, 9].map(|s| sleep(s * S)).into_iter().collect();
        assert_eq!(wait_any(sleeps).await.unwrap(), Some(1));
        assert_eq!(wait_any(()).await.unwrap(), None);
    });
}

/// `wait_any_value` returns the winner's index and value; later values are dropped, and the
/// losers are cancelled before it returns.
#[test]
fn wait_any_value_returns_the_winners_value() {
    let _w = Watchdog::new("wait_any_value_returns_the_winners_value");
    paused_rt(2).block_on(async {
        let t0 = Instant::now();
        let drops = Counter::new();
        let futures: Vec<_> = [3u32, 1, 2]
            .into_iter()
            .map(|secs| {
                let token = DropToken(drops.clone());
                async move {
                    let _token = token;
                    sleep(secs * S).await;
                    secs * 10
                }
            })
            .collect();
        let won = wait_any_value(futures).await.unwrap();
        assert_eq!(won, Some((1, 10)));
        assert_elapsed(t0, S);
        assert_eq!(drops.get(), 3); // every future dropped before it returned
        let none = wait_any_value(Vec::<std::future::Ready<u8>>::new())
            .await
            .unwrap();
        assert_eq!(none, None);
    });
}

/// A panic in `wait_any_value` is a failure; an `Err` value is just a value.
#[test]
fn wait_any_value_panics_fail_errors_are_values() {
    let _w = Watchdog::new("wait_any_value_panics_fail_errors_are_values");
    paused_rt(2).block_on(async {
        let err: Result<u8, Boom> = Err(Boom("value"));
        let won = wait_any_value([std::future::ready(err)]).await.unwrap();
        assert!(matches!(won, Some((0, Err(Boom("value"))))));
        let failed = wait_any_value([async { panic!("loser panics") }])
            .await
            .map(|w: Option<(usize, ())>| w.is_some())
            .unwrap_err();
        assert!(matches!(failed.failures(), [TaskFailure::Panic(_)]));
    });
}
