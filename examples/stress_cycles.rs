//! Stress: a thousand runtimes created and dropped while every domain has live tasks, timers,
//! sockets and channels; then ten thousand TCP connections opened and dropped mid-read.
//!
//! ```text
//! STRESS_SCALE=1 cargo run --release --example stress_cycles
//! ```
//!
//! Phase 1, `1_000 × STRESS_SCALE` cycles: on each domain of a fresh runtime a task binds a
//! listener, connects to it and accepts, and leaves behind pinned tasks parked in an accept,
//! in a read of the accepted stream, in a one-hour sleep and in a channel receive, and a
//! stealable task parked on a oneshot; then it tells the controller and parks in a read of
//! its own stream. The runtime is dropped with all of that live. Phase 2, in batches, opens
//! `10_000 × STRESS_SCALE` connections to a server that writes 4 bytes on each; every client
//! reads them, tells the controller, and waits for 4 more, until its nursery is cancelled
//! (dropped mid-read); the server's side sees the end of the stream and closes.
//!
//! Every future holds a drop slot (each dropped exactly once), and at the end the runtime
//! threads, the open descriptors and the heap are back where they started. Prints
//! `RELIABILITY stress_cycles.key=value` lines; exits 1 if an invariant failed.

#[path = "stress/common.rs"]
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Count, Report, Slots};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use trellis::DomainId;
use trellis::net::{TcpListener, TcpStream};

const WORKERS: usize = 2;
/// Futures with a drop slot per domain and cycle (the five parked tasks and the setup task).
const FUTURES_PER_DOMAIN: usize = 6;
/// Connections open at once in phase 2.
const BATCH: usize = 100;

/// Spawns `fut` detached on this domain, holding drop slot `slot` (the runtime's drop cancels
/// it).
fn park(slots: &Arc<Slots>, slot: usize, fut: impl Future<Output = ()> + 'static) {
    let guard = slots.guard(slot);
    drop(trellis::spawn_local(async move {
        let _guard = guard;
        fut.await;
    }));
}

/// One domain's share of a cycle: sockets, a timer, a channel and parked tasks, slot `base`
/// onwards; sends on `ready` once they are all started, then parks in a read.
async fn populate(slots: Arc<Slots>, base: usize, ready: trellis::channel::Sender<()>) {
    let _guard = slots.guard(base);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let mut client = TcpStream::connect(addr).await.expect("connect");
    let (mut server, _) = listener.accept().await.expect("accept");
    let (tx, rx) = trellis::channel::unbounded::<u64>();
    let (never_tx, never_rx) = trellis::channel::oneshot::<()>();
    // Each is detached: the runtime's drop cancels it.
    park(&slots, base + 1, async move {
        let _ = listener.accept().await;
    });
    park(&slots, base + 2, async move {
        let _keep = never_tx;
        let mut buf = [0u8; 16];
        let _ = server.read(&mut buf).await;
    });
    park(
        &slots,
        base + 3,
        trellis::time::sleep(Duration::from_secs(3600)),
    );
    park(&slots, base + 4, async move {
        let _ = rx.recv().await;
    });
    // A stealable one too (the others are pinned to this domain).
    let guard = slots.guard(base + 5);
    drop(trellis::spawn(async move {
        let _guard = guard;
        let _ = never_rx.await;
    }));
    ready.send(()).await.expect("the controller waits");
    let _keep = tx;
    let mut buf = [0u8; 16];
    let _ = client.read(&mut buf).await;
}

fn cycles(report: &Report, cycles: usize) {
    let slots = Slots::new(cycles * WORKERS * FUTURES_PER_DOMAIN);
    for cycle in 0..cycles {
        let rt = common::runtime(WORKERS);
        rt.block_on(async {
            let (ready_tx, ready_rx) = trellis::channel::unbounded::<()>();
            for d in 0..WORKERS {
                let base = (cycle * WORKERS + d) * FUTURES_PER_DOMAIN;
                let (slots, ready) = (slots.clone(), ready_tx.clone());
                // Detached: the runtime's drop cancels it with the rest.
                drop(trellis::spawn_on(DomainId::new(d), move || {
                    populate(slots, base, ready)
                }));
            }
            for _ in 0..WORKERS {
                ready_rx.recv().await.expect("every domain gets ready");
            }
        });
        drop(rt);
    }
    report.value("runtime_cycles", cycles);
    slots.check(report, "cycle_futures");
}

fn connections(report: &Report, n: usize) {
    let clients = Slots::new(n);
    let servers = Slots::new(n);
    let mid_read = Count::default();
    let rt = common::runtime(WORKERS);
    let (accepted, eofs) = rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (closed_tx, closed_rx) = trellis::channel::unbounded::<bool>();
        let accepted = Count::default();
        let server = {
            let (servers, accepted) = (servers.clone(), accepted.clone());
            trellis::spawn(async move {
                trellis::nursery(async |n| {
                    loop {
                        let (mut conn, _) = listener.accept().await.expect("accept");
                        let guard = servers.guard(accepted.get());
                        accepted.add();
                        let closed = closed_tx.clone();
                        n.start_soon(async move {
                            let _guard = guard;
                            conn.write_all(b"half").await.expect("write");
                            let mut buf = [0u8; 8];
                            let eof = matches!(conn.read(&mut buf).await, Ok(0) | Err(_));
                            let _ = closed.send(eof).await;
                        });
                    }
                })
                .await
            })
        };
        let mut next = 0;
        while next < n {
            let batch = BATCH.min(n - next);
            let (mid_tx, mid_rx) = trellis::channel::unbounded::<()>();
            trellis::nursery(async |nursery| {
                for i in next..next + batch {
                    let (guard, mid, mid_read) =
                        (clients.guard(i), mid_tx.clone(), mid_read.clone());
                    nursery.start_soon(async move {
                        let _guard = guard;
                        let mut conn = TcpStream::connect(addr).await.expect("connect");
                        let mut buf = [0u8; 8];
                        conn.read_exact(&mut buf[..4])
                            .await
                            .expect("the first half");
                        mid_read.add();
                        mid.send(()).await.expect("the controller waits");
                        // Never completes: the server sends only half.
                        let _ = conn.read_exact(&mut buf[4..]).await;
                    });
                }
                for _ in 0..batch {
                    mid_rx.recv().await.expect("every client reads half");
                }
                nursery.cancel();
            })
            .await
            .expect("a cancelled nursery exits cleanly");
            next += batch;
        }
        let mut eofs = 0;
        for _ in 0..n {
            if closed_rx.recv().await.expect("every server side closes") {
                eofs += 1;
            }
        }
        server.abort();
        let _ = server.await;
        (accepted.get(), eofs)
    });
    drop(rt);
    report.value("connections", n);
    report.check_eq("connections_read_half", mid_read.get(), n);
    report.check_eq("connections_accepted", accepted, n);
    report.check_eq("connections_server_saw_eof", eofs, n);
    clients.check(report, "connection_clients");
    servers.check(report, "connection_servers");
}

fn main() {
    let report = Report::new("stress_cycles");
    let baseline = common::warm_up(WORKERS);
    let fds = common::open_fds();
    cycles(&report, common::scaled(1_000) as usize);
    connections(&report, common::scaled(10_000) as usize);
    report.check_eq(
        "runtime_threads_after_drop",
        common::runtime_threads_after_drop(),
        0,
    );
    report.check_eq("open_fds_after_drop", common::open_fds(), fds);
    report.check_memory(&baseline);
    report.finish();
}
