//! `RepeatedEvent`: trio-util's `test_repeated_event.py` case by case under its names, plus
//! the edge cases marked "(verified)" in section 1.5 of the semantics reference.
//!
//! The bodies run as a task on a one-worker runtime with the paused clock (Trio's
//! `autojump_clock`): the tasks of a test take turns as in Trio, virtual times are exact, and
//! [`settle`] is Trio's `wait_all_tasks_blocked`.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use support::{run_paused as run, settle};
use trellis::time::sleep;
use trellis::util::RepeatedEvent;
use trellis::{TooSlow, fail_after};

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// Per-listener iteration counts.
#[derive(Clone, Default)]
struct Counts(Arc<[AtomicUsize; 2]>);

impl Counts {
    fn incr(&self, i: usize) {
        self.0[i].fetch_add(1, SeqCst);
    }

    fn get(&self) -> [usize; 2] {
        [self.0[0].load(SeqCst), self.0[1].load(SeqCst)]
    }
}

#[test]
fn test_repeated_event_wait() {
    run("test_repeated_event_wait", async {
        let event = Arc::new(RepeatedEvent::new());
        event.set();
        assert_eq!(fail_after(secs(1.0), event.wait()).await, Err(TooSlow));

        let e = event.clone();
        let listener = trellis::spawn(async move { e.wait().await });
        settle().await;
        assert!(!listener.is_finished());
        event.set();
        listener.await.unwrap();
    });
}

#[test]
fn test_repeated_event_unqueued() {
    run("test_repeated_event_unqueued", async {
        let event = Arc::new(RepeatedEvent::new());
        let counts = Counts::default();

        // a set() before the listener opens is not queued
        event.set();

        let listeners: Vec<_> = (0..2)
            .map(|i| {
                let (event, counts) = (event.clone(), counts.clone());
                trellis::spawn(async move {
                    let mut events = event.unqueued_events();
                    while events.next().await.is_some() {
                        counts.incr(i);
                        sleep(secs(i as f64 + 1.0)).await;
                    }
                })
            })
            .collect();
        settle().await;
        assert_eq!(counts.get(), [0, 0]);

        event.set();
        settle().await;
        assert_eq!(counts.get(), [1, 1]);

        // this set() is ignored by the 2nd listener, still in its loop body
        sleep(secs(1.5)).await;
        event.set();
        settle().await;
        assert_eq!(counts.get(), [2, 1]);

        // the 1st listener misses this set()
        sleep(secs(0.9)).await;
        event.set();
        sleep(secs(4.0)).await;
        assert_eq!(counts.get(), [2, 2]);
        listeners.iter().for_each(|l| l.abort());
    });
}

#[test]
fn test_repeated_event_eventually_consistent() {
    run("test_repeated_event_eventually_consistent", async {
        let event = Arc::new(RepeatedEvent::new());
        let counts = Counts::default();

        // a set() before the listener opens is not queued
        event.set();

        let listeners: Vec<_> = (0..2)
            .map(|i| {
                let (event, counts) = (event.clone(), counts.clone());
                trellis::spawn(async move {
                    let mut events = event.events(false);
                    while events.next().await.is_some() {
                        counts.incr(i);
                        sleep(secs(i as f64 + 1.0)).await;
                    }
                })
            })
            .collect();
        settle().await;
        assert_eq!(counts.get(), [0, 0]);

        event.set();
        settle().await;
        assert_eq!(counts.get(), [1, 1]);

        // the 2nd listener is busy during this set()
        sleep(secs(1.5)).await;
        event.set();
        settle().await;
        assert_eq!(counts.get(), [2, 1]);
        sleep(secs(0.6)).await;
        assert_eq!(counts.get(), [2, 2]);

        // both listeners are busy during this set()
        event.set();
        settle().await;
        assert_eq!(counts.get(), [2, 2]);
        sleep(secs(3.0)).await;
        assert_eq!(counts.get(), [3, 3]);
        listeners.iter().for_each(|l| l.abort());
    });
}

#[test]
fn test_repeated_event_repeat_last() {
    run("test_repeated_event_repeat_last", async {
        let event = RepeatedEvent::new();

        // no event was set: repeat_last still iterates at once
        assert_eq!(event.events(true).next().await, Some(()));

        // a set between listener sessions is missed
        event.set();
        let missed = fail_after(secs(1.0), async { event.events(false).next().await }).await;
        assert_eq!(missed, Err(TooSlow));

        // repeat_last still iterates at once
        assert_eq!(event.events(true).next().await, Some(()));
    });
}

// ---------------------------------------------------------------------------------------------
// Section 1.5

#[test]
fn test_repeated_event_events_token_taken_at_the_first_poll() {
    // A set() between creating the stream and first polling it is not delivered (verified).
    run("events token", async {
        let event = RepeatedEvent::new();
        let mut events = event.events(false);
        event.set();
        assert_eq!(fail_after(secs(1.0), events.next()).await, Err(TooSlow));
        event.set();
        assert_eq!(events.next().await, Some(()));
    });
}

#[test]
fn test_repeated_event_events_merges_sets_during_the_body() {
    // One set, then five sets during the body: exactly two iterations (verified).
    run("events merge", async {
        let event = Arc::new(RepeatedEvent::new());
        let iterations = Arc::new(AtomicUsize::new(0));
        let listener = {
            let (event, iterations) = (event.clone(), iterations.clone());
            trellis::spawn(async move {
                let mut events = event.events(false);
                while events.next().await.is_some() {
                    iterations.fetch_add(1, SeqCst);
                    sleep(secs(1.0)).await;
                }
            })
        };
        settle().await;
        event.set();
        settle().await;
        assert_eq!(iterations.load(SeqCst), 1);
        for _ in 0..5 {
            event.set();
        }
        sleep(secs(10.0)).await;
        assert_eq!(iterations.load(SeqCst), 2);
        listener.abort();
    });
}

#[test]
fn test_repeated_event_unqueued_coalesces_sets_in_one_go() {
    // Several sets before the listener resumes count once; sets before the first poll are not
    // delivered.
    run("unqueued coalesce", async {
        let event = Arc::new(RepeatedEvent::new());
        let iterations = Arc::new(AtomicUsize::new(0));
        let listener = {
            let (event, iterations) = (event.clone(), iterations.clone());
            trellis::spawn(async move {
                let mut events = event.unqueued_events();
                while events.next().await.is_some() {
                    iterations.fetch_add(1, SeqCst);
                }
            })
        };
        settle().await;
        event.set();
        event.set();
        event.set();
        settle().await;
        assert_eq!(iterations.load(SeqCst), 1);
        event.set();
        settle().await;
        assert_eq!(iterations.load(SeqCst), 2);
        listener.abort();
    });
}

#[test]
fn test_repeated_event_is_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}
    send_sync::<RepeatedEvent>();
    let event = RepeatedEvent::new();
    send(&event.wait());
    send(&event.events(true));
    send(&event.unqueued_events());
}
