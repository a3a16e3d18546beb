//! `with_async_generator`: trio-util's `test_trio_async_generator.py`, case by case, plus the
//! semantics of 1.13 in the reference (consumer exit ends the producer quietly, consumer
//! cancellation cancels it, producer failures propagate). Times are virtual (`start_paused`).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::Duration;

use futures_lite::StreamExt;
use support::{Counter, DropToken, Watchdog};
use trellis::time::{Instant, sleep};
use trellis::util::{AsyncGenerator, GeneratorClosed, Yielder, with_async_generator};
use trellis::{BoxError, CancelScope, TaskFailure};

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// trio-util's `squares_in_range(start, stop, timeout=inf, max_timeout_count=1)`: each yield
/// (and the checkpoint after it) runs in its own `move_on_after(timeout)`; a timed-out yield
/// is counted, and the generator stops at `max_timeout_count` of them.
async fn squares_in_range(
    y: Yielder<u64>,
    start: u64,
    stop: u64,
    timeout: Option<Duration>,
    max_timeout_count: u32,
) -> Result<(), GeneratorClosed> {
    let mut timeout_count = 0;
    for i in start..stop {
        let mut scope = CancelScope::new();
        if let Some(timeout) = timeout {
            scope = scope.timeout(timeout);
        }
        let cancel_scope = scope.handle();
        let yielded = scope
            .run(async {
                y.yield_(i * i).await?;
                trellis::checkpoint().await; // trio.sleep(0)
                Ok::<(), GeneratorClosed>(())
            })
            .await;
        if let Some(result) = yielded {
            result?;
        }
        if cancel_scope.cancelled_caught() {
            timeout_count += 1;
            if timeout_count == max_timeout_count {
                break;
            }
        }
    }
    Ok(())
}

#[test]
fn test_trio_agen_full_iteration() {
    let _wd = Watchdog::new("test_trio_agen_full_iteration");
    support::paused_rt(2).block_on(async {
        let last = with_async_generator(
            |y| squares_in_range(y, 0, 50, None, 1),
            async |mut squares| {
                let mut last = None;
                while let Some(square) = squares.next().await {
                    last = Some(square);
                }
                last
            },
        )
        .await
        .unwrap();
        assert_eq!(last, Some(49 * 49));
    });
}

#[test]
fn test_trio_agen_caller_exits() {
    let _wd = Watchdog::new("test_trio_agen_caller_exits");
    support::paused_rt(2).block_on(async {
        let exited_at = with_async_generator(
            |y| squares_in_range(y, 0, 50, None, 1),
            async |mut squares| {
                while let Some(square) = squares.next().await {
                    if square >= 400 {
                        return Some(square);
                    }
                }
                None // trio-util's `assert False`
            },
        )
        .await
        .unwrap(); // the producer's failed yield ended it quietly
        assert_eq!(exited_at, Some(400));
    });
}

#[test]
fn test_trio_agen_caller_cancelled() {
    let _wd = Watchdog::new("test_trio_agen_caller_cancelled");
    support::paused_rt(2).block_on(async {
        let t0 = Instant::now();
        let out = trellis::move_on_after(
            secs(1.0),
            with_async_generator(
                |y| squares_in_range(y, 0, 50, None, 1),
                async |mut squares| {
                    while let Some(square) = squares.next().await {
                        assert_eq!(square, 0);
                        // The sleep is cancelled by move_on_after above.
                        sleep(secs(10.0)).await;
                    }
                },
            ),
        )
        .await;
        assert!(out.is_none());
        assert_eq!(t0.elapsed(), secs(1.0));
    });
}

#[test]
fn test_trio_agen_aborts_yield() {
    let _wd = Watchdog::new("test_trio_agen_aborts_yield");
    support::paused_rt(2).block_on(async {
        let t0 = Instant::now();
        let seen = with_async_generator(
            |y| squares_in_range(y, 0, 50, Some(secs(0.5)), 1),
            async |mut squares| {
                let mut seen = Vec::new();
                while let Some(square) = squares.next().await {
                    assert_eq!(square, 0);
                    seen.push(square);
                    // The timeout in the generator is triggered, and it aborts the iteration.
                    sleep(secs(1.0)).await;
                }
                seen
            },
        )
        .await
        .unwrap();
        assert_eq!(seen, [0]);
        assert_eq!(t0.elapsed(), secs(1.0));
    });
}

#[test]
fn test_trio_agen_aborts_yield_and_continues() {
    let _wd = Watchdog::new("test_trio_agen_aborts_yield_and_continues");
    support::paused_rt(2).block_on(async {
        let sum = with_async_generator(
            |y| squares_in_range(y, 0, 50, Some(secs(0.5)), 99),
            async |mut squares| {
                let mut sum = 0;
                while let Some(square) = squares.next().await {
                    sum += square;
                    if square == 5 * 5 {
                        // This makes the next yield (6 * 6) time out.
                        sleep(secs(0.6)).await;
                    }
                }
                sum
            },
        )
        .await
        .unwrap();
        assert_eq!(sum, (0..50u64).map(|i| i * i).sum::<u64>() - 6 * 6);
    });
}

/// The point of the pattern: the producer holds a nursery (with a child running beside it) and
/// a cancel scope across its yields.
#[test]
fn async_generator_producer_holds_a_nursery_across_yields() {
    let _wd = Watchdog::new("async_generator_producer_holds_a_nursery_across_yields");
    support::paused_rt(2).block_on(async {
        let t0 = Instant::now();
        let got = with_async_generator(
            |y: Yielder<(u32, Duration)>| async move {
                trellis::nursery(async |n| {
                    let (tx, rx) = trellis::channel::bounded(0);
                    n.start_soon(async move {
                        for i in 0..3u32 {
                            sleep(secs(1.0)).await;
                            if tx.send(i).await.is_err() {
                                break;
                            }
                        }
                    });
                    // A scope around all the yields.
                    CancelScope::new()
                        .timeout(secs(100.0))
                        .run(async {
                            while let Ok(i) = rx.recv().await {
                                y.yield_((i, t0.elapsed())).await?;
                            }
                            Ok::<(), GeneratorClosed>(())
                        })
                        .await
                        .unwrap_or(Ok(()))
                })
                .await
            },
            async |values| values.collect::<Vec<_>>().await,
        )
        .await
        .unwrap();
        assert_eq!(got, [(0, secs(1.0)), (1, secs(2.0)), (2, secs(3.0))]);
    });
}

/// The consumer drops the stream: the producer's pending yield fails with `GeneratorClosed`,
/// the producer returns it, and that is not a failure.
#[test]
fn async_generator_dropped_stream_ends_the_producer_quietly() {
    let _wd = Watchdog::new("async_generator_dropped_stream_ends_the_producer_quietly");
    support::paused_rt(2).block_on(async {
        let (noticed, notice) = trellis::channel::oneshot();
        let out = with_async_generator(
            |y: Yielder<u8>| async move {
                y.yield_(1).await?;
                let second = y.yield_(2).await;
                let _ = noticed.send(second);
                second?; // returns GeneratorClosed, in the same poll as the send above
                unreachable!("the consumer took only one value");
                #[allow(unreachable_code)]
                Ok::<(), GeneratorClosed>(())
            },
            async move |mut values: AsyncGenerator<u8>| {
                let first = values.next().await;
                drop(values);
                (first, notice.await.unwrap())
            },
        )
        .await;
        assert_eq!(out.unwrap(), (Some(1), Err(GeneratorClosed)));
    });
}

/// `GeneratorClosed` is recognised inside a `BoxError` too.
#[test]
fn async_generator_closed_inside_box_error_is_quiet() {
    let _wd = Watchdog::new("async_generator_closed_inside_box_error_is_quiet");
    support::paused_rt(2).block_on(async {
        let out = with_async_generator(
            |y: Yielder<u8>| async move {
                loop {
                    y.yield_(7).await?;
                }
                #[allow(unreachable_code)]
                Ok::<(), BoxError>(())
            },
            async |mut values| values.next().await,
        )
        .await;
        assert_eq!(out.unwrap(), Some(7));
    });
}

/// A producer error propagates: the consumer is cancelled at its next checkpoint and the call
/// returns the `NurseryError`.
#[test]
fn async_generator_producer_error_propagates() {
    let _wd = Watchdog::new("async_generator_producer_error_propagates");
    support::paused_rt(2).block_on(async {
        let t0 = Instant::now();
        let consumer_done = Arc::new(AtomicBool::new(false));
        let done = consumer_done.clone();
        let err = with_async_generator(
            |y: Yielder<u8>| async move {
                y.yield_(1).await?;
                sleep(secs(1.0)).await;
                Err::<(), BoxError>("sensor broke".into())
            },
            async move |mut values| {
                assert_eq!(values.next().await, Some(1));
                sleep(secs(60.0)).await; // cancelled when the producer fails
                done.store(true, SeqCst);
            },
        )
        .await
        .unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(err.failures()[0].to_string(), "error: sensor broke");
        assert!(!consumer_done.load(SeqCst));
        assert_eq!(t0.elapsed(), secs(1.0));
    });
}

/// A producer panic propagates as a `TaskFailure::Panic`.
#[test]
fn async_generator_producer_panic_propagates() {
    let _wd = Watchdog::new("async_generator_producer_panic_propagates");
    support::paused_rt(2).block_on(async {
        let err = with_async_generator(
            |y: Yielder<u8>| async move {
                y.yield_(1).await.unwrap();
                panic!("producer bug");
            },
            async |values| values.collect::<Vec<_>>().await,
        )
        .await
        .unwrap_err();
        assert!(matches!(
            &err.failures()[0],
            TaskFailure::Panic(p) if p.message().as_deref() == Some("producer bug")
        ));
    });
}

/// Cancelling the consumer's scope cancels the producer: it is dropped before the scope
/// completes.
#[test]
fn async_generator_consumer_cancellation_drops_the_producer() {
    let _wd = Watchdog::new("async_generator_consumer_cancellation_drops_the_producer");
    support::paused_rt(2).block_on(async {
        let dropped = Counter::new();
        let token = DropToken(dropped.clone());
        let scope = CancelScope::new();
        let cancel = scope.handle();
        let out = scope
            .run(with_async_generator(
                |y: Yielder<u8>| async move {
                    let _token = token;
                    loop {
                        y.yield_(0).await?;
                        sleep(secs(3600.0)).await; // e.g. waiting for data
                    }
                    #[allow(unreachable_code)]
                    Ok::<(), GeneratorClosed>(())
                },
                async |mut values| {
                    values.next().await;
                    cancel.cancel();
                    trellis::checkpoint().await;
                    unreachable!("cancelled at the checkpoint");
                },
            ))
            .await;
        assert!(out.is_none());
        assert_eq!(dropped.get(), 1);
    });
}

/// A value whose yield was cancelled is never delivered (the rendezvous: a cancelled send did
/// not happen), and the consumer gets the next one.
#[test]
fn async_generator_cancelled_yield_is_not_delivered() {
    let _wd = Watchdog::new("async_generator_cancelled_yield_is_not_delivered");
    support::paused_rt(2).block_on(async {
        let got = with_async_generator(
            |y: Yielder<&'static str>| async move {
                let skipped = trellis::move_on_after(secs(1.0), y.yield_("stale")).await;
                assert!(skipped.is_none());
                y.yield_("fresh").await?;
                Ok::<(), GeneratorClosed>(())
            },
            async |values| {
                sleep(secs(2.0)).await;
                values.collect::<Vec<_>>().await
            },
        )
        .await
        .unwrap();
        assert_eq!(got, ["fresh"]);
    });
}

/// When the consumer returns, a producer that waits for something other than a yield (a sensor
/// gone quiet) is cancelled, not waited for (the deliberate difference from trio-util, whose
/// context manager would wait until the generator's next `yield`).
#[test]
fn async_generator_consumer_return_cancels_a_producer_not_at_a_yield() {
    let _wd = Watchdog::new("async_generator_consumer_return_cancels_a_producer_not_at_a_yield");
    support::paused_rt(2).block_on(async {
        let t0 = Instant::now();
        let dropped = Counter::new();
        let token = DropToken(dropped.clone());
        let first = with_async_generator(
            |y: Yielder<u8>| async move {
                let _token = token;
                y.yield_(1).await?;
                sleep(secs(3600.0)).await; // the sensor went quiet
                y.yield_(2).await?;
                Ok::<(), GeneratorClosed>(())
            },
            async |mut values| {
                let first = values.next().await;
                sleep(secs(1.0)).await;
                first
            },
        )
        .await
        .unwrap();
        assert_eq!(first, Some(1));
        assert_eq!(dropped.get(), 1);
        assert_eq!(t0.elapsed(), secs(1.0));
    });
}

/// The public types are `Send` (and the streams `Unpin`) when their contents are, so a
/// generator block can run in a spawned task.
#[test]
fn async_generator_types_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    fn assert_send_unpin<T: Send + Unpin>() {}
    assert_send_unpin::<AsyncGenerator<u8>>();
    assert_send_unpin::<Yielder<u8>>();
    assert_send_unpin::<trellis::util::Periodic>();
    assert_send_unpin::<trellis::util::IterFailAfter<AsyncGenerator<u8>>>();
    assert_send_unpin::<trellis::util::Azip<(AsyncGenerator<u8>, AsyncGenerator<String>)>>();
    let _wd = Watchdog::new("async_generator_types_are_send");
    support::paused_rt(2).block_on(async {
        let block = with_async_generator(
            |y: Yielder<u8>| async move { y.yield_(3).await },
            async |values| values.collect::<Vec<_>>().await,
        );
        assert_send(&block);
        assert_eq!(trellis::spawn(block).await.unwrap().unwrap(), [3]);
    });
}
