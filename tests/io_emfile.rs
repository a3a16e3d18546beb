//! An accept loop survives running out of file descriptors: `incoming()` yields the `EMFILE`
//! error and backs off instead of spinning on the still-readable listener, and accepts the
//! queued connections once descriptors are free again. (Its own test binary: it lowers the
//! process's descriptor limit.)

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::Duration;

use futures_lite::StreamExt;
use support::Watchdog;
use trellis::net::{Incoming, TcpListener};

fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").unwrap().count() as u64
}

fn set_soft_limit(limit: u64) -> u64 {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit calls on a local struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl), 0);
        let old = rl.rlim_cur;
        rl.rlim_cur = limit;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &rl), 0);
        old
    }
}

#[test]
fn an_accept_loop_survives_emfile_without_spinning() {
    let _w = Watchdog::new("an_accept_loop_survives_emfile_without_spinning");
    let rt = support::rt(1);
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Three connections wait in the backlog (the kernel completes the handshake).
        let clients: Vec<_> = (0..3)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        let window = Duration::from_millis(300);
        let starved = Arc::new(AtomicBool::new(true));
        // No descriptor left: every accept fails with EMFILE until the limit is raised.
        let old = set_soft_limit(open_fds());
        let s2 = starved.clone();
        let raise = trellis::spawn(async move {
            trellis::time::sleep(window).await;
            set_soft_limit(old);
            s2.store(false, SeqCst);
        });
        let mut incoming = listener.incoming();
        let (mut errors, mut accepted) = (0, Vec::new());
        while accepted.len() < 3 {
            // Read before the accept starts: the raise runs on the worker, in parallel with
            // this `block_on` future, so an accept that failed just before the raise may be
            // reported just after it; only one that started after the raise must succeed.
            let raised_before = !starved.load(SeqCst);
            match incoming.next().await.unwrap() {
                Ok(conn) => accepted.push(conn),
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
                    assert!(!raised_before, "EMFILE after the limit was raised");
                    errors += 1;
                }
            }
        }
        raise.await.unwrap();
        // At most one error per back-off period (plus the first): a loop that retried at once
        // would have yielded thousands.
        let bound = window.as_millis() / Incoming::BACKOFF.as_millis() + 2;
        assert!(errors >= 1, "the limit did not bite");
        assert!(
            errors as u128 <= bound,
            "{errors} EMFILE errors in {window:?}: the loop spins"
        );
        drop(clients);
    });
}
