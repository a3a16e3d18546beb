//! `channel::Receiver` is a `FusedStream`: terminated once its stream returned `None` (closed
//! and drained), never before, and a clone of a terminated receiver is terminated too.

mod support;

use futures_core::FusedStream;
use futures_lite::StreamExt;
use support::Watchdog;

#[test]
fn receiver_is_terminated_after_the_stream_ends() {
    let _wd = Watchdog::new("receiver_is_terminated_after_the_stream_ends");
    trellis::run(async {
        for cap in [0, 1, 4] {
            let (tx, mut rx) = trellis::channel::bounded::<u32>(cap);
            let producer = trellis::spawn(async move {
                for i in 0..3 {
                    tx.send(i).await.unwrap();
                }
            });
            assert!(!rx.is_terminated());
            let mut got = Vec::new();
            while let Some(v) = rx.next().await {
                assert!(!rx.is_terminated());
                got.push(v);
            }
            producer.await.unwrap();
            assert_eq!(got, [0, 1, 2]);
            assert!(rx.is_terminated(), "capacity {cap}");
            assert_eq!(rx.next().await, None); // polling again stays at the end
            assert!(rx.clone().is_terminated());
        }
        // Closed but not drained: not terminated until the values are taken.
        let (tx, mut rx) = trellis::channel::unbounded::<u8>();
        tx.send(1).await.unwrap();
        drop(tx);
        assert!(!rx.is_terminated());
        assert_eq!(rx.next().await, Some(1));
        assert_eq!(rx.next().await, None);
        assert!(rx.is_terminated());
    });
}
