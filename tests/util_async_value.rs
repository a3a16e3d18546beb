//! `AsyncValue` and `AsyncBool`: trio-util's `test_async_value.py` and `test_async_bool.py`,
//! case by case under their names, plus the edge cases marked "(verified)" in sections 1.1 and
//! 1.2 of the semantics reference.
//!
//! Most tests run their body as a task on a one-worker runtime with the paused clock: the
//! tasks of a test take turns on one thread, as in Trio, and time only moves when every task
//! waits, straight to the next timer (Trio's `autojump_clock`). So virtual times are exact,
//! and [`settle`] is Trio's `wait_all_tasks_blocked`.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{SETTLE, Watchdog, run_paused as run, settle};
use trellis::CancelScope;
use trellis::time::{Instant, sleep};
use trellis::util::{
    AsyncBool, AsyncValue, SharedValue, any_transition, any_value, equal_to, transition_to,
};

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// A list shared between a consumer task and the test.
type Log<T> = Arc<Mutex<Vec<T>>>;

fn log<T>() -> Log<T> {
    Arc::new(Mutex::new(Vec::new()))
}

fn take<T: Clone>(log: &Log<T>) -> Vec<T> {
    log.lock().unwrap().clone()
}

// ---------------------------------------------------------------------------------------------
// test_async_value.py

#[test]
fn test_async_value() {
    // Step #5 of trio-util's test never runs there: the waiter resumes from #4 after 51 and 0
    // were both assigned, registers `x > 50` on 0, and pytest-trio's nursery cancels it when
    // the test returns. Here the None assignment is followed by a settle, so step #5 runs and
    // shows what it means to show: the waiter gets 51 although the value is 0 when it resumes.
    run("test_async_value", async {
        let foo: SharedValue<Option<i32>> = AsyncValue::shared(Some(10));
        assert_eq!(foo.get(), Some(10));
        foo.set(Some(20));
        assert_eq!(foo.get(), Some(20));
        let steps = log();

        let event = foo.clone();
        let seen = steps.clone();
        // 1 (predicate x == 20 already true)
        let waiter = trellis::spawn(async move {
            assert_eq!(event.get(), Some(20));
            // A checkpoint even if the condition already holds (Trio's `assert_checkpoints`).
            let cancelled = CancelScope::new();
            cancelled.handle().cancel();
            assert_eq!(
                cancelled.run(event.wait_value(|x| *x == Some(20))).await,
                None
            );
            assert_eq!(event.wait_value(|x| *x == Some(20)).await, Some(20));
            seen.lock().unwrap().push(1);
            assert_eq!(
                event.wait_value(|x| x.is_some_and(|x| x > 20)).await,
                Some(21)
            );
            seen.lock().unwrap().push(2);
            // (the "any transition" predicate)
            assert_eq!(
                event.wait_transition(any_transition).await,
                (Some(30), Some(21))
            );
            seen.lock().unwrap().push(3);
            assert_eq!(
                event
                    .wait_transition(|new, old| new.is_none() && old.is_some())
                    .await,
                (None, Some(30))
            );
            seen.lock().unwrap().push(4);
            assert_eq!(
                event.wait_value(|x| x.is_some_and(|x| x > 50)).await,
                Some(51)
            );
            settle().await;
            assert_eq!(event.get(), Some(0));
            seen.lock().unwrap().push(5);
        });
        settle().await;
        assert_eq!(take(&steps), [1]);
        // 2 (predicate x > 20)
        foo.set(Some(21));
        settle().await;
        assert_eq!(take(&steps), [1, 2]);
        // 3 (any transition)
        foo.set(Some(30));
        settle().await;
        assert_eq!(take(&steps), [1, 2, 3]);
        // 4 (predicate "transition to None"): None is not special.
        foo.set(None);
        settle().await;
        assert_eq!(take(&steps), [1, 2, 3, 4]);
        // 5 (predicate x > 50 satisfied, then the value changes at once): the wait is
        // triggered with the value that satisfied the predicate.
        foo.set(Some(51));
        foo.set(Some(0));
        waiter.await.unwrap();
        assert_eq!(take(&steps), [1, 2, 3, 4, 5]);
    });
}

#[test]
fn test_repr() {
    let _w = support::Watchdog::new("test_repr");
    let foo = AsyncValue::new(10);
    assert_eq!(format!("{foo:?}"), "AsyncValue(10)");
}

#[test]
fn test_wait_value_held_for() {
    run("test_wait_value_held_for", async {
        let x = AsyncValue::shared(10);
        let test1_done = Arc::new(AsyncBool::new(false));
        let listener = {
            let (event, test1_done) = (x.clone(), test1_done.clone());
            trellis::spawn(async move {
                assert_eq!(event.get(), 10); // condition already true
                let t0 = Instant::now();
                let held = event.wait_value(|x| *x == 10).held_for(secs(1.0)).await;
                assert_eq!(held, 10);
                assert_eq!(t0.elapsed(), secs(1.0));
                test1_done.set(true);

                assert!(event.get() < 20); // condition not yet true
                let t0 = Instant::now();
                let held = event.wait_value(|x| *x >= 20).held_for(secs(1.0)).await;
                assert_eq!(held, 22);
                assert_eq!(t0.elapsed(), secs(1.5));
            })
        };
        // (bounded: if the listener fails, it never sets the flag)
        trellis::fail_after(secs(100.0), test1_done.wait_value(|done| *done))
            .await
            .expect("the listener's first wait finished");
        x.set(20);
        sleep(secs(0.25)).await;
        x.set(5);
        sleep(secs(0.25)).await;
        x.set(22);
        listener.await.unwrap();
    });
}

/// Which wait `test_predicate_eval_scope` runs.
#[derive(Debug, Clone, Copy)]
enum EvalScopeCase {
    Value,
    ValueHeldFor,
    Transition,
}

#[test]
fn test_predicate_eval_scope() {
    // Predicates are not evaluated outside the lifetime of the wait.
    for (case, predicate_return) in [
        (EvalScopeCase::Value, false),
        (EvalScopeCase::ValueHeldFor, true),
        (EvalScopeCase::Transition, false),
    ] {
        run("test_predicate_eval_scope", async move {
            let x = AsyncValue::shared(0);
            let calls = Arc::new(AtomicUsize::new(0));
            let cancel_scope = CancelScope::new();
            let cancel = cancel_scope.handle();
            let waiter = {
                let (x, calls) = (x.clone(), calls.clone());
                trellis::spawn(async move {
                    cancel_scope
                        .run(async {
                            match case {
                                EvalScopeCase::Value => {
                                    x.wait_value(move |_| {
                                        calls.fetch_add(1, SeqCst);
                                        predicate_return
                                    })
                                    .await;
                                }
                                EvalScopeCase::ValueHeldFor => {
                                    x.wait_value(move |_| {
                                        calls.fetch_add(1, SeqCst);
                                        predicate_return
                                    })
                                    .held_for(secs(1.0))
                                    .await;
                                }
                                EvalScopeCase::Transition => {
                                    x.wait_transition(move |_, _| {
                                        calls.fetch_add(1, SeqCst);
                                        predicate_return
                                    })
                                    .await;
                                }
                            }
                        })
                        .await
                })
            };
            settle().await;
            let predicate_call_count = calls.load(SeqCst);
            cancel.cancel();
            settle().await;
            assert_eq!(waiter.await.unwrap(), None, "{case:?}: cancelled");
            x.set(10);
            assert_eq!(calls.load(SeqCst), predicate_call_count, "{case:?}");
        });
    }
}

#[test]
fn test_wait_value_by_value() {
    run("test_wait_value_by_value", async {
        let x = AsyncValue::shared(10);
        let event = x.clone();
        let listener = trellis::spawn(async move {
            assert_eq!(event.get(), 10);
            assert_eq!(event.wait_value(equal_to(10)).await, 10);
            assert_eq!(event.wait_value(equal_to(12)).await, 12);
        });
        settle().await;
        x.set(12);
        listener.await.unwrap();
    });
}

#[test]
fn test_wait_transition_by_value() {
    run("test_wait_transition_by_value", async {
        let x = AsyncValue::shared(10);
        let event = x.clone();
        let listener = trellis::spawn(async move {
            assert_eq!(event.get(), 10);
            assert_eq!(event.wait_transition(transition_to(10)).await, (10, 9));
        });
        settle().await;
        assert!(!listener.is_finished());
        x.set(9);
        x.set(10);
        listener.await.unwrap();
    });
}

/// Two tasks wait on `x` for `wait`; checks the registrations, then releases them.
async fn wait_queue_case<T, P>(initial: T, wait: P, release: Option<T>, registrations: usize)
where
    T: Clone + PartialEq + Send + 'static,
    P: FnMut(&T) -> bool + Clone + Send + 'static,
{
    let x = AsyncValue::shared(initial);
    let listeners: Vec<_> = (0..2)
        .map(|_| {
            let (x, wait) = (x.clone(), wait.clone());
            trellis::spawn(async move {
                x.wait_value(wait).await;
            })
        })
        .collect();
    settle().await;
    assert_eq!(x.statistics().level_predicates, registrations);
    match release {
        Some(value) => x.set(value),
        None => listeners.iter().for_each(|l| l.abort()),
    }
    for listener in listeners {
        let _ = listener.await;
    }
    assert_eq!(x.statistics().level_predicates, 0);
}

#[test]
fn test_wait_queue() {
    let _w = support::Watchdog::new("test_wait_queue");
    // trio-util shares one wait queue between waiters on the same key (an equal hashable
    // value, or the same function object): its expected counts are 0, 1, 1, 2 and 1. Here
    // every waiter has its own slot (what a waiter receives is the same either way), so the
    // counts are 0 when the value already matches and 2 otherwise.
    fn always_false(_: &Option<i32>) -> bool {
        false
    }
    run("test_wait_queue", async {
        // already set to the desired value: no registration
        wait_queue_case("foo", equal_to("foo"), None, 0).await;
        // listeners waiting for the same value
        wait_queue_case("foo", equal_to("bar"), Some("bar"), 2).await;
        wait_queue_case(false, equal_to(true), Some(true), 2).await;
        // an "unhashable" value
        wait_queue_case(None, equal_to(Some(vec![0u8])), Some(Some(vec![0])), 2).await;
        // the same function
        wait_queue_case(None, always_false, None, 2).await;
    });
}

/// One case of `test_eventual_values`: `(predicate, held_for, consume_duration,
/// publish_durations, expected_values)`. `None` as the predicate is trio-util's default.
type EventualCase = (Option<fn(&i32) -> bool>, f64, f64, Vec<f64>, Vec<i32>);

fn even(v: &i32) -> bool {
    v & 1 == 0
}

fn odd(v: &i32) -> bool {
    v & 1 == 1
}

#[test]
fn test_eventual_values() {
    let cases: Vec<EventualCase> = vec![
        // fast consumer
        (None, 0.0, 0.0, vec![0.1; 3], vec![0, 1, 2, 3]),
        (Some(even), 0.0, 0.0, vec![0.1; 6], vec![0, 2, 4, 6]),
        (Some(odd), 0.0, 0.0, vec![0.1; 6], vec![1, 3, 5]), // (the initial value does not match)
        // the consumer is a little slower (1 s vs 0.9 s), but no value is lost
        (None, 0.0, 1.0, vec![0.9; 3], vec![0, 1, 2, 3]),
        // a slow consumer misses a change
        (None, 0.0, 1.0, vec![0.4; 3], vec![0, 2, 3]),
        // held_for
        (Some(even), 0.5, 0.0, vec![0.9; 6], vec![0, 2, 4, 6]),
        (
            Some(even),
            0.5,
            0.0,
            [vec![0.4; 2], vec![0.9; 4]].concat(),
            vec![2, 4, 6],
        ),
        (Some(even), 0.5, 0.0, [0.4, 0.9].repeat(3), vec![6]),
        (Some(even), 0.5, 0.0, [0.9, 0.4].repeat(3), vec![0, 2, 4, 6]),
    ];
    for (predicate, held_for, consume_duration, publish_durations, expected_values) in cases {
        run("test_eventual_values", async move {
            let x = AsyncValue::shared(0); // the publisher assigns 0, 1, 2, ...
            let seen = log();
            let consumer = {
                let (x, seen) = (x.clone(), seen.clone());
                trellis::spawn(async move {
                    let predicate = predicate.unwrap_or(any_value);
                    let mut values = x.eventual_values(predicate).held_for(secs(held_for));
                    while let Some(value) = values.next().await {
                        seen.lock().unwrap().push(value);
                        sleep(secs(consume_duration)).await;
                    }
                })
            };
            settle().await;
            for duration in publish_durations {
                sleep(secs(duration)).await;
                x.update_for_test(|v| v + 1);
            }
            // trio-util waits for the last expected value; here the consumer gets ten more
            // seconds, so an unexpected additional value fails too.
            sleep(secs(10.0)).await;
            consumer.abort();
            assert_eq!(
                take(&seen),
                expected_values,
                "held_for {held_for}, consume {consume_duration}"
            );
        });
    }
}

#[test]
fn test_eventual_values_aba() {
    // A→B→A while the consumer is blocked does not yield a value (by design).
    run("test_eventual_values_aba", async {
        let x = AsyncValue::shared(0); // the publisher assigns 0, 1, 0, 1, ...
        let seen = log();
        let consumer = {
            let (x, seen) = (x.clone(), seen.clone());
            trellis::spawn(async move {
                let mut values = x.eventual_values(any_value);
                while let Some(value) = values.next().await {
                    seen.lock().unwrap().push(value);
                    sleep(secs(1.0)).await;
                }
            })
        };
        settle().await;
        for _ in 0..4 {
            sleep(secs(0.1)).await;
            x.update_for_test(|v| v ^ 1);
        }
        sleep(secs(10.0)).await;
        consumer.abort();
        assert_eq!(take(&seen), [0]);
    });
}

/// One case of `test_transitions`: `(consume_duration, publish_durations (None: no sleep),
/// expected_values)`.
type TransitionsCase = (f64, Vec<Option<f64>>, Vec<(i32, i32)>);

#[test]
fn test_transitions() {
    let cases: Vec<TransitionsCase> = vec![
        // fast consumer
        (0.0, vec![Some(0.1); 3], vec![(1, 0), (2, 1), (3, 2)]),
        // the consumer is a little slower (1 s vs 0.9 s), so the middle transition is lost
        (1.0, vec![Some(0.9); 3], vec![(1, 0), (3, 2)]),
        // a lost transition: several transitions before the consumer resumes
        (
            0.0,
            vec![Some(0.1), Some(0.1), None, Some(0.1)],
            vec![(1, 0), (2, 1), (4, 3)],
        ),
    ];
    for (consume_duration, publish_durations, expected_values) in cases {
        run("test_transitions", async move {
            let x = AsyncValue::shared(0);
            let seen = log();
            let consumer = {
                let (x, seen) = (x.clone(), seen.clone());
                trellis::spawn(async move {
                    let mut transitions = x.transitions(any_transition);
                    while let Some(pair) = transitions.next().await {
                        seen.lock().unwrap().push(pair);
                        sleep(secs(consume_duration)).await;
                    }
                })
            };
            settle().await;
            for duration in publish_durations {
                x.update_for_test(|v| v + 1);
                if let Some(duration) = duration {
                    sleep(secs(duration)).await;
                }
            }
            sleep(secs(10.0)).await;
            consumer.abort();
            assert_eq!(take(&seen), expected_values, "consume {consume_duration}");
        });
    }
}

#[test]
fn test_transitions_parallel_consumers() {
    // trio-util counts 2 edge registrations: listeners B and C pass the equal value 2 and
    // share one. Here each stream has its own: 3.
    run("test_transitions_parallel_consumers", async {
        let x = AsyncValue::shared(0);
        let all = log();
        let selective = [log(), log()];
        let consumers = {
            let (x, all, selective) = (x.clone(), all.clone(), selective.clone());
            async move |n: &trellis::Nursery| {
                // listener A: all transitions
                let (xa, a) = (x.clone(), all.clone());
                n.start_soon(async move {
                    let mut transitions = xa.transitions(any_transition);
                    while let Some(pair) = transitions.next().await {
                        a.lock().unwrap().push(pair);
                    }
                });
                // listeners B and C: selective transitions (identical)
                for seen in selective {
                    let x = x.clone();
                    n.start_soon(async move {
                        let mut transitions = x.transitions(transition_to(2));
                        while let Some(pair) = transitions.next().await {
                            seen.lock().unwrap().push(pair);
                        }
                    });
                }
                settle().await;
                // emit values slowly: the consumers keep up
                for _ in 0..4 {
                    x.update_for_test(|v| v + 1);
                    sleep(secs(0.1)).await;
                }
                assert_eq!(x.statistics().edge_predicates, 3);
                n.cancel();
            }
        };
        trellis::nursery(consumers).await.unwrap();
        assert_eq!(take(&all), [(1, 0), (2, 1), (3, 2), (4, 3)]);
        for seen in &selective {
            assert_eq!(take(seen), [(2, 1)]);
        }
        assert_eq!(x.statistics().edge_predicates, 0);
    });
}

#[test]
fn test_open_transform() {
    let _w = support::Watchdog::new("test_open_transform");
    let x = AsyncValue::new(1);
    let y = x.open_transform(|val| val * 2);
    assert_eq!(y.get(), 2);
    x.set(10);
    assert_eq!(y.get(), 20);
}

// ---------------------------------------------------------------------------------------------
// test_async_bool.py

#[test]
fn test_async_bool() {
    run("test_async_bool", async {
        let event = AsyncBool::default();
        assert!(!event.get());
        event.wait_value(equal_to(false)).await;
    });
}

// ---------------------------------------------------------------------------------------------
// Section 1.1: the core model

/// Lets the tests assign `f(current)` the way trio-util's tests write `x.value += 1`.
trait UpdateForTest<T> {
    fn update_for_test(&self, f: impl FnOnce(T) -> T);
}

impl<T: Clone + PartialEq> UpdateForTest<T> for AsyncValue<T> {
    fn update_for_test(&self, f: impl FnOnce(T) -> T) {
        self.set(f(self.get()));
    }
}

#[test]
fn test_wait_value_returns_at_once_when_already_true_and_is_a_checkpoint() {
    run("wait_value already true", async {
        let v = AsyncValue::new(10);
        let t0 = Instant::now();
        assert_eq!(v.wait_value(|x| *x == 10).await, 10);
        assert_eq!(t0.elapsed(), Duration::ZERO);
        // Always a checkpoint: cancelled even though the predicate already holds.
        let scope = CancelScope::new();
        scope.handle().cancel();
        assert_eq!(scope.run(v.wait_value(|x| *x == 10)).await, None);
    });
}

#[test]
fn test_wait_value_gets_the_latest_match_assigned_before_it_resumed() {
    // Sets 11, 15, 2 in one go, predicate v > 10: returns 15 while the value is 2 (verified).
    run("latest match", async {
        let v = AsyncValue::shared(0);
        let v2 = v.clone();
        let waiter = trellis::spawn(async move { v2.wait_value(|x| *x > 10).await });
        settle().await;
        v.set(11);
        v.set(15);
        v.set(2);
        assert_eq!(waiter.await.unwrap(), 15);
        assert_eq!(v.get(), 2);
    });
}

#[test]
fn test_equal_assignment_notifies_nobody() {
    run("equal assignment", async {
        let v = AsyncValue::shared(vec![1]);
        let calls = Arc::new(AtomicUsize::new(0));
        let (v2, c) = (v.clone(), calls.clone());
        let waiter = trellis::spawn(async move {
            v2.wait_transition(move |_, _| {
                c.fetch_add(1, SeqCst);
                true
            })
            .await
        });
        settle().await;
        v.set(vec![1]); // an equal value, another object: no transition
        settle().await;
        assert!(!waiter.is_finished());
        assert_eq!(calls.load(SeqCst), 0, "no predicate ran");
        v.set(vec![2]);
        assert_eq!(waiter.await.unwrap(), (vec![2], vec![1]));
    });
}

#[test]
fn test_wait_transition_plain_value_ignores_old() {
    // 10 -> 5 -> 10 with "new == 10" returns (10, 5) (verified).
    run("wait_transition", async {
        let v = AsyncValue::shared(10);
        let v2 = v.clone();
        let waiter = trellis::spawn(async move { v2.wait_transition(transition_to(10)).await });
        settle().await;
        v.set(5);
        v.set(10);
        assert_eq!(waiter.await.unwrap(), (10, 5));
    });
}

#[test]
fn test_wait_transition_never_checks_the_current_value() {
    run("transition not level", async {
        let v = AsyncValue::new(3);
        let out = trellis::move_on_after(secs(1.0), v.wait_transition(|new, _| *new == 3)).await;
        assert_eq!(
            out, None,
            "the value is 3 already, but no transition happened"
        );
    });
}

#[test]
fn test_wait_value_held_for_returns_the_value_that_started_the_hold() {
    // 11 is assigned, then 12 during the hold: returns 11 while the value is 12 (verified).
    run("held_for candidate", async {
        let x = AsyncValue::shared(0);
        let x2 = x.clone();
        let waiter = trellis::spawn(async move {
            let held = x2.wait_value(|v| *v > 10).held_for(secs(1.0)).await;
            (held, Instant::now())
        });
        settle().await;
        let t0 = Instant::now();
        x.set(11);
        sleep(secs(0.5)).await;
        x.set(12); // matching to matching: the hold goes on
        let (held, at) = waiter.await.unwrap();
        assert_eq!(held, 11);
        assert_eq!(x.get(), 12);
        assert_eq!(at - t0, secs(1.0));
    });
}

#[test]
fn test_wait_value_held_for_restarts_when_the_value_stops_matching_at_once() {
    // The value stops matching before the waiter resumes: the hold starts over from the
    // current value, and the waiter returns only after a full hold of a later match.
    run("held_for restart", async {
        let x = AsyncValue::shared(0);
        let x2 = x.clone();
        let waiter = trellis::spawn(async move {
            let held = x2.wait_value(|v| *v > 0).held_for(secs(1.0)).await;
            (held, Instant::now())
        });
        settle().await;
        let t0 = Instant::now();
        x.set(1);
        x.set(0); // the candidate 1 is gone before the waiter runs
        sleep(secs(2.0)).await;
        assert!(!waiter.is_finished());
        x.set(2);
        let (held, at) = waiter.await.unwrap();
        assert_eq!(held, 2);
        assert_eq!(at - t0, secs(3.0));
    });
}

#[test]
fn test_predicate_panic_commits_the_value_and_skips_later_predicates() {
    let _w = Watchdog::new("predicate panic");
    let rt = support::rt(2);
    rt.block_on(async {
        let v = AsyncValue::shared(0);
        let (v0, v1, v2) = (v.clone(), v.clone(), v.clone());
        // Registered before the bad predicate: matched, and woken despite the panic.
        let earlier = trellis::spawn(async move { v0.wait_value(|x| *x == 1).await });
        sleep(Duration::from_millis(5)).await;
        let bad = trellis::spawn(async move {
            v1.wait_value(|x| {
                if *x == 1 {
                    panic!("bad predicate")
                } else {
                    false
                }
            })
            .await
        });
        sleep(Duration::from_millis(5)).await;
        let later = trellis::spawn(async move {
            trellis::move_on_after(Duration::from_millis(50), v2.wait_value(|x| *x == 1)).await
        });
        sleep(Duration::from_millis(5)).await;
        let v3 = v.clone();
        let set = std::thread::spawn(move || v3.set(1)).join();
        assert!(set.is_err(), "the predicate's panic propagates out of set");
        assert_eq!(v.get(), 1, "committed before the predicates ran");
        assert_eq!(
            later.await.unwrap(),
            None,
            "the later waiter missed that value"
        );
        assert_eq!(earlier.await.unwrap(), 1, "the earlier waiter was woken");
        bad.abort();
    });
}

#[test]
fn test_set_from_a_plain_thread_wakes_a_task_on_any_domain() {
    let _w = Watchdog::new("cross-thread set");
    let rt = support::rt(2);
    let ready = Arc::new(AsyncBool::new(false));
    let r = ready.clone();
    let waiter = rt.spawn_on(trellis::DomainId::new(1), move || async move {
        r.wait_value(|b| *b).await
    });
    std::thread::sleep(Duration::from_millis(10));
    ready.set(true);
    assert!(rt.block_on(waiter).unwrap());
}

#[test]
fn test_dropped_waiters_unregister() {
    run("unregister", async {
        let v = AsyncValue::new(0);
        for _ in 0..100 {
            let out = trellis::move_on_after(Duration::ZERO, v.wait_value(|x| *x == 1)).await;
            assert_eq!(out, None);
            let out =
                trellis::move_on_after(Duration::ZERO, v.wait_transition(any_transition)).await;
            assert_eq!(out, None);
        }
        let stats = v.statistics();
        assert_eq!((stats.level_predicates, stats.edge_predicates), (0, 0));
        v.set(1); // no stale waiter is woken (or leaks)
        assert_eq!(v.with(|x| *x), 1);
    });
}

#[test]
fn test_open_transform_equality_guard_of_the_output() {
    // The derived value's own equality guard: a source change that leaves f(new) unchanged
    // notifies nobody waiting on the derived value (verified).
    run("transform guard", async {
        let x = AsyncValue::shared(1);
        let parity = x.open_transform(|v| v % 2);
        let calls = Arc::new(AtomicUsize::new(0));
        let derived = parity.shared();
        let c = calls.clone();
        let waiter = trellis::spawn(async move {
            derived
                .wait_transition(move |_, _| {
                    c.fetch_add(1, SeqCst);
                    true
                })
                .await
        });
        settle().await;
        x.set(3); // parity 1 -> 1
        settle().await;
        assert!(!waiter.is_finished());
        assert_eq!(calls.load(SeqCst), 0);
        x.set(4);
        assert_eq!(waiter.await.unwrap(), (0, 1));
    });
}

#[test]
fn test_open_transform_twice_gives_two_derived_values() {
    let _w = support::Watchdog::new("test_open_transform_twice_gives_two_derived_values");
    // trio-util returns the same derived value for the same function object (verified);
    // closures have no identity, so each call here makes its own, and each guard stops only
    // its own.
    let x = AsyncValue::new(1);
    let a = x.open_transform(|v| v + 100);
    let b = x.open_transform(|v| v + 100);
    assert_eq!(x.statistics().transforms, 2);
    x.set(2);
    assert_eq!((a.get(), b.get()), (102, 102));
    drop(a);
    assert_eq!(x.statistics().transforms, 1);
    x.set(3);
    assert_eq!(b.get(), 103);
}

#[test]
fn test_open_transform_stops_updating_when_dropped() {
    let _w = support::Watchdog::new("test_open_transform_stops_updating_when_dropped");
    let x = AsyncValue::new(1);
    let doubled = x.open_transform(|v| v * 2);
    let shared = doubled.shared();
    drop(doubled);
    x.set(5);
    assert_eq!(shared.get(), 2, "frozen at its last value");
    assert_eq!(x.statistics().transforms, 0);
}

// ---------------------------------------------------------------------------------------------
// Section 1.2: eventual_values

#[test]
fn test_eventual_values_first_item_without_a_checkpoint() {
    // The first item comes at once, with no checkpoint: even in a cancelled scope (verified).
    // The next one, which must wait, is cancelled there.
    run("eventual first item", async {
        let x = AsyncValue::new(0);
        let mut values = x.eventual_values(any_value);
        let scope = CancelScope::new();
        scope.handle().cancel();
        assert_eq!(scope.run(values.next()).await, Some(Some(0)));
        let scope = CancelScope::new();
        scope.handle().cancel();
        assert_eq!(scope.run(values.next()).await, None);
    });
}

#[test]
fn test_eventual_values_stale_match() {
    // 11, 12, 3 in one go with v > 10 while the consumer waits: yields 12 while the value is
    // 3 (verified); the next request waits for a new match.
    run("eventual stale match", async {
        let x = AsyncValue::shared(0);
        let seen = log();
        let consumer = {
            let (x, seen) = (x.clone(), seen.clone());
            trellis::spawn(async move {
                let mut values = x.eventual_values(|v| *v > 10);
                while let Some(value) = values.next().await {
                    seen.lock().unwrap().push((value, x.get()));
                }
            })
        };
        settle().await;
        x.set(11);
        x.set(12);
        x.set(3);
        settle().await;
        assert_eq!(take(&seen), [(12, 3)]);
        x.set(5);
        settle().await;
        assert_eq!(take(&seen), [(12, 3)]);
        x.set(13);
        settle().await;
        assert_eq!(take(&seen), [(12, 3), (13, 13)]);
        consumer.abort();
    });
}

#[test]
fn test_eventual_values_slow_consumer_skips() {
    // 1..5 assigned every 0.3 s (from just after the first item), a 1 s body: yields 0, 4, 5
    // (verified).
    run("eventual slow consumer", async {
        let x = AsyncValue::shared(0);
        let seen = log();
        let t0 = Instant::now();
        let consumer = {
            let (x, seen) = (x.clone(), seen.clone());
            trellis::spawn(async move {
                let mut values = x.eventual_values(any_value);
                while let Some(value) = values.next().await {
                    seen.lock().unwrap().push((value, t0.elapsed()));
                    sleep(secs(1.0)).await;
                }
            })
        };
        settle().await; // the consumer took 0 and sleeps
        for v in 1..=5 {
            x.set(v);
            sleep(secs(0.3)).await;
        }
        sleep(secs(10.0)).await;
        consumer.abort();
        assert_eq!(
            take(&seen),
            [(0, secs(0.0)), (4, secs(1.0)), (5, secs(2.0))]
        );
    });
}

#[test]
fn test_eventual_values_duplicate() {
    // A→B→A in one go while the consumer waits for a change: it yields A again (verified).
    run("eventual duplicate", async {
        let x = AsyncValue::shared('a');
        let seen = log();
        let consumer = {
            let (x, seen) = (x.clone(), seen.clone());
            trellis::spawn(async move {
                let mut values = x.eventual_values(any_value);
                while let Some(value) = values.next().await {
                    seen.lock().unwrap().push(value);
                }
            })
        };
        settle().await;
        assert_eq!(take(&seen), ['a']);
        x.set('b');
        x.set('a');
        settle().await;
        assert_eq!(take(&seen), ['a', 'a']);
        consumer.abort();
    });
}

#[test]
fn test_eventual_values_held_for_keeps_the_first_candidate() {
    // 1 at t, 2 at t + 0.5, v > 0, hold 1 s: yields 1 at t + 1, then 2 at t + 2 (verified).
    run("eventual held_for candidate", async {
        let x = AsyncValue::shared(0);
        let seen = log();
        let t0 = Instant::now();
        let consumer = {
            let (x, seen) = (x.clone(), seen.clone());
            trellis::spawn(async move {
                let mut values = x.eventual_values(|v| *v > 0).held_for(secs(1.0));
                while let Some(value) = values.next().await {
                    seen.lock().unwrap().push((value, t0.elapsed()));
                }
            })
        };
        sleep(secs(1.0)).await;
        x.set(1);
        sleep(secs(0.5)).await;
        x.set(2);
        sleep(secs(10.0)).await;
        consumer.abort();
        assert_eq!(take(&seen), [(1, secs(2.0)), (2, secs(3.0))]);
    });
}

#[test]
fn test_eventual_values_held_for_holds_a_stale_candidate() {
    // The hold waits for a *new* non-matching assignment, as in trio-util: 11 then 3 in one go
    // while the consumer waits for a match makes 11 the candidate although the value is
    // already 3, and with no later assignment 11 is yielded when the hold ends.
    run("eventual held_for stale candidate", async {
        let x = AsyncValue::shared(0);
        let seen = log();
        let t0 = Instant::now();
        let consumer = {
            let (x, seen) = (x.clone(), seen.clone());
            trellis::spawn(async move {
                let mut values = x.eventual_values(|v| *v > 10).held_for(secs(1.0));
                while let Some(value) = values.next().await {
                    seen.lock().unwrap().push((value, x.get(), t0.elapsed()));
                }
            })
        };
        settle().await;
        x.set(11);
        x.set(3);
        sleep(secs(10.0)).await;
        consumer.abort();
        assert_eq!(take(&seen), [(11, 3, SETTLE + secs(1.0))]);
    });
}

#[test]
fn test_eventual_values_registration_lives_with_the_stream() {
    let x = AsyncValue::new(0);
    let values = x.eventual_values(any_value);
    assert_eq!(
        x.statistics().level_predicates,
        0,
        "registers at its first poll"
    );
    drop(values);
    run("eventual registration", async {
        let x = AsyncValue::new(0);
        let mut values = x.eventual_values(any_value);
        values.next().await;
        assert_eq!(x.statistics().level_predicates, 1);
        drop(values);
        assert_eq!(x.statistics().level_predicates, 0);
    });
}

/// Counts the allocations made by the current thread (a test binary's global allocator).
struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; the counter is a
// const-initialized thread-local `Cell`, which never allocates.
unsafe impl std::alloc::GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's obligations are those of `System.alloc`.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout` (see `alloc`).
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn allocations_in(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(|n| n.get());
    f();
    ALLOCATIONS.with(|n| n.get()) - before
}

#[test]
fn test_set_allocates_nothing_when_nobody_waits() {
    let v = AsyncValue::new(0u64);
    assert_eq!(allocations_in(|| (1..=1000).for_each(|i| v.set(i))), 0);
    // Nor when the registered predicates do not match.
    run("set allocation", async {
        let v = AsyncValue::shared(0u64);
        let v2 = v.clone();
        let waiter = trellis::spawn(async move { v2.wait_value(|x| *x == u64::MAX).await });
        settle().await;
        assert_eq!(v.statistics().level_predicates, 1);
        assert_eq!(allocations_in(|| (1..=1000).for_each(|i| v.set(i))), 0);
        waiter.abort();
    });
}

// ---------------------------------------------------------------------------------------------
// Auto traits: usable from any domain and from plain threads.

#[test]
fn test_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}
    send_sync::<AsyncValue<String>>();
    send_sync::<trellis::util::Statistics>();
    send_sync::<trellis::util::Transform<'static, String, usize>>();
    let v = AsyncValue::new(String::new());
    send(&v.wait_value(|s| s.is_empty()));
    send(&v.wait_value(|s| s.is_empty()).held_for(Duration::ZERO));
    send(&v.wait_transition(any_transition));
    send(&v.eventual_values(any_value));
    send(&v.transitions(any_transition));
}
