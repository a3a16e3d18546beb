//! Unix-domain sockets, and the reactor's key rule: a closed socket whose fd number is reused
//! by a new one never wakes the old socket's waiter.

mod support;

use std::future::Future;
use std::os::fd::AsRawFd;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Wake, Waker};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use support::Watchdog;
use trellis::net::{UnixListener, UnixStream};

/// Fd numbers are per process, and the fd-reuse test needs the lowest free one to be the one it
/// just closed: the tests of this file take turns, so no other test opens an fd in between.
static FDS: Mutex<()> = Mutex::new(());

#[test]
fn a_unix_listener_serves_a_client() {
    let _w = Watchdog::new("a_unix_listener_serves_a_client");
    let _fds = FDS.lock().unwrap_or_else(|e| e.into_inner());
    support::rt(2).block_on(async {
        let path =
            std::env::temp_dir().join(format!("trellis-io-unix-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        let server = trellis::spawn(async move {
            let (conn, _) = listener.accept().await.unwrap();
            let (mut r, mut w) = conn.into_split();
            futures_lite::io::copy(&mut r, &mut w).await.unwrap();
            w.close().await.unwrap();
        });
        let mut client = UnixStream::connect(&path).await.unwrap();
        let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let (mut r, mut w) = client.split();
        let (_, echoed) = futures_lite::future::zip(
            async {
                w.write_all(&data).await.unwrap();
                w.close().await.unwrap();
            },
            async {
                let mut echoed = Vec::new();
                r.read_to_end(&mut echoed).await.unwrap();
                echoed
            },
        )
        .await;
        assert!(echoed == data);
        server.await.unwrap();
        std::fs::remove_file(&path).unwrap();
        // Connecting to a path nobody listens on fails at once.
        let err = UnixStream::connect(&path).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    });
}

#[derive(Default)]
struct CountWakes(AtomicUsize);

impl Wake for CountWakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn a_reused_fd_never_wakes_the_closed_sockets_waiter() {
    let _w = Watchdog::new("a_reused_fd_never_wakes_the_closed_sockets_waiter");
    let _fds = FDS.lock().unwrap_or_else(|e| e.into_inner());
    support::rt(1).block_on(async {
        let (mut old, _old_peer) = UnixStream::pair().unwrap();
        let old_fd = old.as_raw_fd();
        let wakes = Arc::new(CountWakes::default());
        let waker = Waker::from(wakes.clone());
        {
            let mut buf = [0u8; 1];
            let mut read = pin!(old.read(&mut buf));
            // Not readable: the read registers the counting waker and stays pending.
            assert!(
                read.as_mut()
                    .poll(&mut Context::from_waker(&waker))
                    .is_pending()
            );
        }
        drop(old); // deregistered and closed; its fd number is free
        let (mut new, mut new_peer) = UnixStream::pair().unwrap();
        // The lowest free fd is reused (this is what makes the test bite).
        assert_eq!(new.as_raw_fd(), old_fd);
        new_peer.write_all(b"!").await.unwrap();
        let mut buf = [0u8; 1];
        new.read_exact(&mut buf).await.unwrap(); // the reactor delivered the new socket's event
        assert_eq!(
            wakes.0.load(SeqCst),
            0,
            "the closed socket's waiter was woken"
        );
    });
}
