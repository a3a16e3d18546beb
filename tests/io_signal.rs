//! Signals on the reactor: a chosen signal as a stream, and Ctrl-C cancelling a program's root
//! nursery followed by a drain under a bounded shield. (Its own test binary: installing a
//! `SIGINT` handler changes the process's disposition for good.)

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use futures_lite::StreamExt;
use support::Watchdog;
use trellis::signal::{SignalKind, signal};
use trellis::sync::Event;

fn raise(signum: i32) {
    // SAFETY: sending a signal to this process; a handler for it is installed.
    assert_eq!(unsafe { libc::kill(libc::getpid(), signum) }, 0);
}

#[test]
fn a_signal_stream_reports_deliveries() {
    let _w = Watchdog::new("a_signal_stream_reports_deliveries");
    support::rt(2).block_on(async {
        let mut usr1 = signal(SignalKind::user_defined1()).unwrap();
        for _ in 0..3 {
            raise(libc::SIGUSR1);
            assert_eq!(usr1.next().await, Some(()));
        }
        // A cancelled receive consumed no delivery.
        assert!(
            trellis::move_on_after(Duration::from_millis(5), usr1.recv())
                .await
                .is_none()
        );
        raise(libc::SIGUSR1);
        assert!(
            trellis::move_on_after(Duration::from_millis(0), trellis::checkpoint())
                .await
                .is_none()
        );
        assert_eq!(usr1.recv().await, Some(()));
    });
}

#[test]
fn signals_that_cannot_be_handled_are_refused_with_a_message() {
    let _w = Watchdog::new("signals_that_cannot_be_handled_are_refused_with_a_message");
    support::rt(1).block_on(async {
        for bad in [libc::SIGKILL, libc::SIGSTOP, libc::SIGSEGV, 0, 1000] {
            let err = signal(SignalKind::from_raw(bad)).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
            assert!(err.to_string().contains("trellis::signal::signal"), "{err}");
        }
    });
}

#[test]
fn ctrl_c_cancels_the_root_nursery_then_a_bounded_shield_drains() {
    let _w = Watchdog::new("ctrl_c_cancels_the_root_nursery_then_a_bounded_shield_drains");
    support::rt(2).block_on(async {
        let listening = Arc::new(Event::new());
        let workers_stopped = Arc::new(AtomicUsize::new(0));
        let outcome = trellis::nursery(async |n| {
            let stop = n.handle();
            let l2 = listening.clone();
            n.start_soon(async move {
                let mut sigint = signal(SignalKind::interrupt())?;
                l2.set();
                sigint.recv().await;
                stop.cancel();
                Ok::<_, std::io::Error>(())
            });
            for _ in 0..4 {
                let stopped = workers_stopped.clone();
                n.start_soon(async move {
                    struct Count(Arc<AtomicUsize>);
                    impl Drop for Count {
                        fn drop(&mut self) {
                            self.0.fetch_add(1, SeqCst);
                        }
                    }
                    let _count = Count(stopped);
                    loop {
                        trellis::time::sleep(Duration::from_millis(1)).await;
                    }
                });
            }
            listening.wait().await;
            raise(libc::SIGINT);
        })
        .await;
        assert!(outcome.is_ok(), "{outcome:?}");
        assert_eq!(workers_stopped.load(SeqCst), 4);
        let drained = trellis::shielded(trellis::move_on_after(Duration::from_secs(5), async {
            trellis::time::sleep(Duration::from_millis(1)).await;
            "drained"
        }))
        .await;
        assert_eq!(drained, Some("drained"));
    });
}
