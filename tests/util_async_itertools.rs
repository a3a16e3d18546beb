//! `azip` / `azip_longest` / `try_azip`: trio-util's `test_async_itertools.py`, case by case,
//! plus the semantics of 1.10 in the reference (rounds as long as the slowest stream, items of
//! the last round dropped, the verified empty cases, errors ending the zip). Every time is
//! virtual (`start_paused`) and asserted exactly.

mod support;

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::{Stream, StreamExt, stream};
use support::{Counter, DropToken, Watchdog};
use trellis::CancelScope;
use trellis::time::{Instant, sleep};
use trellis::util::{azip, azip_longest, try_azip};

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// trio-util's `periodic_iter(it)`: yield each item, then sleep 1 s (so the end comes 1 s
/// after the last item).
fn periodic_iter<T: Send + 'static>(
    items: impl IntoIterator<Item = T, IntoIter: Send + 'static>,
) -> impl Stream<Item = T> + Send + 'static {
    stream::unfold(
        (items.into_iter(), false),
        |(mut items, started)| async move {
            if started {
                sleep(secs(1.0)).await;
            }
            let item = items.next()?;
            Some((item, (items, true)))
        },
    )
}

/// Yields `item` after `delay`, then ends; holds `token` so its drop can be observed.
fn after<T: Send + 'static>(
    delay: f64,
    item: T,
    token: Option<DropToken>,
) -> impl Stream<Item = T> + Send + 'static {
    stream::once_future(async move {
        sleep(secs(delay)).await;
        drop(token);
        item
    })
}

#[test]
fn test_azip() {
    let _wd = Watchdog::new("test_azip");
    support::paused_rt(2).block_on(async {
        let t0 = Instant::now();
        let mut expected = (0..5).zip(0..3).zip(0..3).map(|((a, b), c)| (a, b, c));
        let mut zipped = azip((
            periodic_iter(0..5),
            periodic_iter(0..3),
            periodic_iter(0..3),
        ));
        while let Some(item) = zipped.next().await {
            assert_eq!(Some(item), expected.next());
        }
        assert_eq!(expected.next(), None);
        assert_eq!(t0.elapsed(), secs(3.0));
    });
}

#[test]
fn test_azip_longest() {
    let _wd = Watchdog::new("test_azip_longest");
    support::paused_rt(2).block_on(async {
        let t0 = Instant::now();
        // Python's `zip_longest(range(5), range(3), fillvalue=-10)`.
        let mut expected = (0..5).map(|i| (i, if i < 3 { i } else { -10 }));
        let mut zipped = azip_longest((periodic_iter(0..5), periodic_iter(0..3)));
        while let Some((a, b)) = zipped.next().await {
            let item = (a.unwrap_or(-10), b.unwrap_or(-10));
            assert_eq!(Some(item), expected.next());
        }
        assert_eq!(expected.next(), None);
        assert_eq!(t0.elapsed(), secs(5.0));
    });
}

/// Semantics reference 1.10 (verified): `azip()` with no streams yields `()` forever.
#[test]
fn azip_of_nothing_yields_unit_forever() {
    let _wd = Watchdog::new("azip_of_nothing_yields_unit_forever");
    support::paused_rt(2).block_on(async {
        let units: Vec<()> = azip(()).take(1000).collect().await;
        assert_eq!(units.len(), 1000);
        let empty: Vec<Vec<()>> = azip(Vec::<stream::Empty<()>>::new())
            .take(3)
            .collect()
            .await;
        assert_eq!(empty, [Vec::<()>::new(), vec![], vec![]]);
    });
}

/// Semantics reference 1.10 (verified): `azip_longest()` yields nothing.
#[test]
fn azip_longest_of_nothing_yields_nothing() {
    let _wd = Watchdog::new("azip_longest_of_nothing_yields_nothing");
    support::paused_rt(2).block_on(async {
        assert_eq!(azip_longest(()).next().await, None);
        assert_eq!(
            azip_longest(Vec::<stream::Empty<u8>>::new()).next().await,
            None
        );
    });
}

/// A round lasts as long as its slowest stream, even when another stream ended at once: the
/// zip ends after that round, and the item the slow stream produced in it is dropped.
#[test]
fn azip_last_round_waits_for_every_stream_and_drops_its_items() {
    let _wd = Watchdog::new("azip_last_round_waits_for_every_stream_and_drops_its_items");
    support::paused_rt(2).block_on(async {
        let t0 = Instant::now();
        let produced = Counter::new();
        let counted = produced.clone();
        let slow = after(5.0, "late", None).inspect(move |_| {
            counted.incr();
        });
        let mut zipped = azip((stream::empty::<u8>(), slow));
        assert_eq!(zipped.next().await, None);
        assert_eq!(t0.elapsed(), secs(5.0));
        assert_eq!(
            produced.get(),
            1,
            "the slow stream's item was pulled, then dropped"
        );
        assert_eq!(zipped.next().await, None);
    });
}

/// The streams of a round are polled concurrently: three streams of 1, 2 and 3 s take 3 s,
/// not 6.
#[test]
fn azip_polls_a_round_concurrently() {
    let _wd = Watchdog::new("azip_polls_a_round_concurrently");
    support::paused_rt(2).block_on(async {
        let t0 = Instant::now();
        let round = azip((
            after(1.0, 1u8, None),
            after(2.0, 'b', None),
            after(3.0, "c", None),
        ))
        .next()
        .await;
        assert_eq!(round, Some((1, 'b', "c")));
        assert_eq!(t0.elapsed(), secs(3.0));
    });
}

/// The `Vec` and array forms, and a heterogeneous tuple of four.
#[test]
fn azip_vec_array_and_tuple_forms() {
    let _wd = Watchdog::new("azip_vec_array_and_tuple_forms");
    support::paused_rt(2).block_on(async {
        let rows: Vec<Vec<i32>> = azip(vec![periodic_iter(0..3), periodic_iter(10..12)])
            .collect()
            .await;
        assert_eq!(rows, [vec![0, 10], vec![1, 11]]);
        let rows: Vec<[i32; 2]> = azip([periodic_iter(0..2), periodic_iter(5..7)])
            .collect()
            .await;
        assert_eq!(rows, [[0, 5], [1, 6]]);
        let rows: Vec<_> = azip((
            stream::iter([1u8, 2]),
            stream::iter(["a", "b"]),
            stream::iter([1.5f32, 2.5]),
            stream::iter(['x', 'y', 'z']),
        ))
        .collect()
        .await;
        assert_eq!(rows, [(1, "a", 1.5, 'x'), (2, "b", 2.5, 'y')]);
        let rows: Vec<_> = azip_longest([stream::iter(vec![1]), stream::iter(vec![])])
            .collect()
            .await;
        assert_eq!(rows, [[Some(1), None]]);
    });
}

/// A stream that panics if polled again after it ended (Rust allows a stream to do that).
struct PanicsAfterEnd {
    items: Vec<u8>,
    ended: bool,
}

impl Stream for PanicsAfterEnd {
    type Item = u8;
    fn poll_next(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<u8>> {
        assert!(!self.ended, "polled after its end");
        if self.items.is_empty() {
            self.ended = true;
            Poll::Ready(None)
        } else {
            Poll::Ready(Some(self.items.remove(0)))
        }
    }
}

/// trio-util re-polls ended iterators every round; here an ended stream is never polled again
/// (the deliberate difference): the others go on, `None` fills its place.
#[test]
fn azip_longest_never_polls_an_ended_stream_again() {
    let _wd = Watchdog::new("azip_longest_never_polls_an_ended_stream_again");
    support::paused_rt(2).block_on(async {
        let short = PanicsAfterEnd {
            items: vec![1],
            ended: false,
        };
        let rows: Vec<_> = azip_longest((short, periodic_iter(0..4))).collect().await;
        assert_eq!(
            rows,
            [
                (Some(1), Some(0)),
                (None, Some(1)),
                (None, Some(2)),
                (None, Some(3)),
            ]
        );
    });
}

/// Every round is a checkpoint, also when no stream had to wait (`trellis::poll_checkpoint`,
/// as every runtime operation that is ready at once): the rounds spend the task's budget, so
/// `azip(())` lets a task queued behind it run once the budget is spent, and a cancelled scope
/// stops it.
#[test]
fn azip_round_is_a_checkpoint() {
    let _wd = Watchdog::new("azip_round_is_a_checkpoint");
    // One worker, the consumer a task on it: the other task runs only if the consumer is
    // switched out.
    support::paused_rt(1).block_on(async {
        trellis::spawn(async {
            let mut units = azip(());
            let ran = Arc::new(AtomicBool::new(false));
            let flag = ran.clone();
            let other = trellis::spawn(async move { flag.store(true, SeqCst) });
            let mut rounds = 0;
            while !ran.load(SeqCst) {
                assert_eq!(units.next().await, Some(()));
                rounds += 1;
                // The budget is 128 units a poll; far more rounds mean it was not spent.
                assert!(rounds <= 1000, "the rounds never let the other task run");
            }
            other.await.unwrap();

            let scope = CancelScope::new();
            scope.handle().cancel();
            assert_eq!(scope.run(units.next()).await, None);
            let mut ready = azip((stream::iter([1]), stream::iter([2])));
            let scope = CancelScope::new();
            scope.handle().cancel();
            assert_eq!(scope.run(ready.next()).await, None);
            // Nothing was lost: the round's items are still there.
            assert_eq!(ready.next().await, Some((1, 2)));
        })
        .await
        .unwrap();
    });
}

/// trio-util: an `__anext__` that raises cancels the round's siblings and ends the zip with the
/// error. `try_azip`: the first `Err` ends the round at once (here at 1 s, not at the slow
/// stream's 10 s), every stream is dropped, the error is yielded, then the zip ends.
#[test]
fn try_azip_error_cancels_the_round_and_ends_the_zip() {
    let _wd = Watchdog::new("try_azip_error_cancels_the_round_and_ends_the_zip");
    support::paused_rt(2).block_on(async {
        let t0 = Instant::now();
        let dropped = Counter::new();
        let good = periodic_iter([Ok(1), Ok(2)]);
        let failing = periodic_iter([Ok('a'), Err("broken")]);
        let slow = stream::iter([Ok::<_, &str>("first")]).chain(after(
            10.0,
            Ok("never"),
            Some(DropToken(dropped.clone())),
        ));
        let mut zipped = try_azip((good, failing, slow));
        assert_eq!(zipped.next().await, Some(Ok((1, 'a', "first"))));
        assert_eq!(zipped.next().await, Some(Err("broken")));
        assert_eq!(t0.elapsed(), secs(1.0));
        assert_eq!(
            dropped.get(),
            1,
            "the slow sibling was dropped with the zip's round"
        );
        assert_eq!(zipped.next().await, None);
    });
}

/// `try_azip` without errors is `azip` of the `Ok` values; it ends when a stream ends.
#[test]
fn try_azip_without_errors_zips_the_ok_values() {
    let _wd = Watchdog::new("try_azip_without_errors_zips_the_ok_values");
    support::paused_rt(2).block_on(async {
        let rows: Vec<Result<Vec<u8>, String>> = try_azip(vec![
            stream::iter(vec![Ok(1), Ok(2), Ok(3)]),
            stream::iter(vec![Ok(10), Ok(20)]),
        ])
        .collect()
        .await;
        assert_eq!(rows, [Ok(vec![1, 10]), Ok(vec![2, 20])]);
        let rows: Vec<Result<[u8; 2], String>> =
            try_azip([stream::iter([Ok(1)]), stream::iter([Err("e".to_string())])])
                .collect()
                .await;
        assert_eq!(rows, [Err("e".to_string())]);
    });
}

/// A plain `azip` treats `Err` items as values: they do not stop it.
#[test]
fn azip_zips_err_items_as_values() {
    let _wd = Watchdog::new("azip_zips_err_items_as_values");
    support::paused_rt(2).block_on(async {
        let rows: Vec<_> = azip((
            stream::iter([Err::<u8, &str>("a"), Ok(2)]),
            stream::iter([1, 2]),
        ))
        .collect()
        .await;
        assert_eq!(rows, [(Err("a"), 1), (Ok(2), 2)]);
    });
}
