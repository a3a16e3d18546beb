//! TCP on the reactor: echo with many clients and large payloads, partial reads and writes,
//! 1 000 simultaneous connections, refused connect, half-close, an accept loop cancelled with
//! its nursery, a read cancelled by a deadline losing nothing, readiness delivered while every
//! worker computes, and sockets used from pinned tasks on every domain.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt, StreamExt};
use support::Watchdog;
use trellis::DomainId;
use trellis::net::{TcpListener, TcpStream};

/// Serves echo on `listener` until cancelled: one child per connection.
async fn echo_server(listener: TcpListener) -> std::io::Result<()> {
    trellis::nursery(async |n| -> std::io::Result<()> {
        loop {
            let (conn, _) = listener.accept().await?;
            n.start_soon(async move {
                let (mut r, mut w) = conn.into_split();
                futures_lite::io::copy(&mut r, &mut w).await?;
                w.close().await
            });
        }
    })
    .await
    .map_err(std::io::Error::other)
}

fn pattern(seed: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ seed) as u8)
        .collect()
}

/// Sends `data` and reads the echo back concurrently (writer and reader in separate tasks, so
/// neither side's buffers fill up and deadlock).
async fn round_trip(addr: std::net::SocketAddr, data: Vec<u8>) -> Vec<u8> {
    let conn = TcpStream::connect(addr).await.unwrap();
    let (mut r, mut w) = conn.into_split();
    let writer = trellis::spawn(async move {
        w.write_all(&data).await.unwrap();
        w.close().await.unwrap();
    });
    let mut echo = Vec::new();
    r.read_to_end(&mut echo).await.unwrap();
    writer.await.unwrap();
    echo
}

#[test]
fn echo_with_many_concurrent_clients_and_large_payloads() {
    let _w = Watchdog::new("echo_with_many_concurrent_clients_and_large_payloads");
    support::rt(2).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = trellis::spawn(echo_server(listener));
        let clients: Vec<_> = (0..32)
            .map(|i| {
                let data = pattern(i, 256 * 1024 + i * 977);
                trellis::spawn(async move { (round_trip(addr, data.clone()).await, data) })
            })
            .collect();
        for client in clients {
            let (echo, sent) = client.await.unwrap();
            assert_eq!(echo.len(), sent.len());
            assert!(echo == sent, "echoed bytes differ");
        }
        server.abort();
    });
}

#[test]
fn a_large_write_is_partial_and_small_reads_reassemble_it() {
    let _w = Watchdog::new("a_large_write_is_partial_and_small_reads_reassemble_it");
    support::rt(2).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        let data = pattern(7, 32 * 1024 * 1024);
        // Nobody reads yet: one write fills the socket buffers and reports how much it took.
        let n = client.write(&data).await.unwrap();
        assert!(
            0 < n && n < data.len(),
            "a 32 MiB write should be partial, wrote {n}"
        );
        let sent = data.clone();
        let writer = trellis::spawn(async move {
            client.write_all(&sent[n..]).await.unwrap();
            client.close().await.unwrap();
        });
        let mut got = Vec::with_capacity(data.len());
        let mut chunk = [0u8; 4093];
        loop {
            let k = server.read(&mut chunk).await.unwrap();
            if k == 0 {
                break;
            }
            got.extend_from_slice(&chunk[..k]);
        }
        writer.await.unwrap();
        assert!(got == data, "reassembled bytes differ");
    });
}

#[test]
fn a_thousand_simultaneous_connections() {
    let _w = Watchdog::new("a_thousand_simultaneous_connections");
    support::rt(2).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = trellis::spawn(echo_server(listener));
        // Open all of them first, then talk on all at once.
        let mut conns = Vec::new();
        for _ in 0..1000 {
            conns.push(TcpStream::connect(addr).await.unwrap());
        }
        let done = Arc::new(AtomicUsize::new(0));
        trellis::nursery(async |n| {
            for (i, mut conn) in conns.into_iter().enumerate() {
                let done = done.clone();
                n.start_soon(async move {
                    let msg = (i as u64).to_le_bytes();
                    conn.write_all(&msg).await?;
                    let mut back = [0u8; 8];
                    conn.read_exact(&mut back).await?;
                    assert_eq!(back, msg);
                    done.fetch_add(1, SeqCst);
                    Ok::<_, std::io::Error>(())
                });
            }
        })
        .await
        .unwrap();
        assert_eq!(done.load(SeqCst), 1000);
        server.abort();
    });
}

#[test]
fn a_refused_connect_fails_promptly() {
    let _w = Watchdog::new("a_refused_connect_fails_promptly");
    support::rt(1).block_on(async {
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let err = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    });
}

#[test]
fn half_close_delivers_eof_and_the_other_direction_still_works() {
    let _w = Watchdog::new("half_close_delivers_eof_and_the_other_direction_still_works");
    support::rt(2).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        client.write_all(b"request").await.unwrap();
        client.close().await.unwrap(); // shuts the write half only
        let mut req = Vec::new();
        server.read_to_end(&mut req).await.unwrap();
        assert_eq!(req, b"request");
        server.write_all(b"response").await.unwrap();
        server.close().await.unwrap();
        let mut resp = Vec::new();
        client.read_to_end(&mut resp).await.unwrap();
        assert_eq!(resp, b"response");
    });
}

/// The peer's bytes and its FIN are both queued before the reader's first look (one edge for
/// both): a read that takes the bytes is short, and must not clear the readiness that the EOF
/// still needs (`io/readiness.rs`, `CLOSED`). A runtime whose short read cleared it would wait
/// here for an edge that never comes.
#[test]
fn a_short_read_before_a_queued_fin_still_returns_the_eof() {
    let _w = Watchdog::with_timeout(
        "a_short_read_before_a_queued_fin_still_returns_the_eof",
        Duration::from_secs(10),
    );
    support::rt(1).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        for _ in 0..20 {
            let mut peer = std::net::TcpStream::connect(addr).unwrap();
            std::io::Write::write_all(&mut peer, b"last words").unwrap();
            peer.shutdown(std::net::Shutdown::Write).unwrap();
            let (mut server, _) = listener.accept().await.unwrap();
            // Let the worker park in the poller, so the one edge (data and FIN) is delivered
            // before the first read.
            trellis::time::sleep(Duration::from_millis(5)).await;
            let mut buf = [0u8; 64];
            let n = server.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"last words");
            assert_eq!(
                server.read(&mut buf).await.unwrap(),
                0,
                "EOF after the bytes"
            );
        }
    });
}

#[test]
fn an_accept_loop_in_a_nursery_is_cancelled_cleanly() {
    let _w = Watchdog::new("an_accept_loop_in_a_nursery_is_cancelled_cleanly");
    support::rt(2).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let served = Arc::new(AtomicUsize::new(0));
        let s2 = served.clone();
        let result = trellis::nursery(async |n| {
            let handle = n.handle();
            n.start_soon(async move {
                let mut incoming = listener.incoming();
                while let Some(conn) = incoming.next().await {
                    let mut conn = conn?;
                    conn.write_all(b"bye").await?;
                    s2.fetch_add(1, SeqCst);
                    handle.cancel();
                }
                Ok::<_, std::io::Error>(())
            });
            let mut c = TcpStream::connect(addr).await.unwrap();
            let mut buf = Vec::new();
            c.read_to_end(&mut buf).await.unwrap();
            assert_eq!(buf, b"bye");
        })
        .await;
        assert!(
            result.is_ok(),
            "a cancelled nursery is a clean exit: {result:?}"
        );
        assert_eq!(served.load(SeqCst), 1);
        // The listener was dropped with its task: nothing listens on the port any more.
        let err = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    });
}

#[test]
fn reads_cancelled_by_deadlines_lose_no_byte() {
    let _w = Watchdog::new("reads_cancelled_by_deadlines_lose_no_byte");
    support::rt(2).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut writer = TcpStream::connect(addr).await.unwrap();
        writer.set_nodelay(true).unwrap();
        let (mut reader, _) = listener.accept().await.unwrap();
        const N: usize = 300;
        let feeder = trellis::spawn(async move {
            for i in 0..N {
                writer.write_all(&[i as u8]).await.unwrap();
                // Let deadlines race with arrivals.
                if i % 3 == 0 {
                    trellis::time::sleep(Duration::from_micros(200)).await;
                }
            }
            writer.close().await.unwrap();
        });
        let mut got = Vec::new();
        let mut cancelled = 0;
        loop {
            let mut byte = [0u8; 1];
            let step = trellis::move_on_after(
                Duration::from_micros(100 + (got.len() as u64 % 7) * 50),
                reader.read(&mut byte),
            )
            .await;
            match step {
                None => cancelled += 1,
                Some(Ok(0)) => break,
                Some(Ok(_)) => got.push(byte[0]),
                Some(Err(e)) => panic!("read failed: {e}"),
            }
        }
        feeder.await.unwrap();
        let expected: Vec<u8> = (0..N).map(|i| i as u8).collect();
        assert_eq!(
            got, expected,
            "{cancelled} cancelled reads lost or duplicated bytes"
        );
    });
}

#[test]
fn readiness_is_delivered_while_every_worker_computes() {
    let _w = Watchdog::new("readiness_is_delivered_while_every_worker_computes");
    let rt = support::rt(2);
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let ((mut server, _), _client) = {
            let client = std::thread::spawn(move || {
                let mut c = std::net::TcpStream::connect(addr).unwrap();
                std::thread::sleep(Duration::from_millis(50));
                std::io::Write::write_all(&mut c, b"wake").unwrap();
                c
            });
            let accepted = listener.accept().await.unwrap();
            (accepted, client)
        };
        let stop = Arc::new(AtomicBool::new(false));
        // One hog per worker: each computes in 1 ms slices and yields, so no worker is ever
        // idle (none sleeps in the poller) until the read below completes.
        let hogs: Vec<_> = (0..2)
            .map(|_| {
                let stop = stop.clone();
                trellis::spawn(async move {
                    while !stop.load(SeqCst) {
                        let t = std::time::Instant::now();
                        while t.elapsed() < Duration::from_millis(1) {
                            std::hint::spin_loop();
                        }
                        trellis::yield_now().await;
                    }
                })
            })
            .collect();
        let reader = trellis::spawn(async move {
            let mut buf = [0u8; 4];
            server.read_exact(&mut buf).await.unwrap();
            buf
        });
        let buf = reader.await.unwrap();
        stop.store(true, SeqCst);
        for h in hogs {
            h.await.unwrap();
        }
        assert_eq!(&buf, b"wake");
    });
}

#[test]
fn sockets_used_from_pinned_tasks_stay_on_their_domains() {
    let _w = Watchdog::new("sockets_used_from_pinned_tasks_stay_on_their_domains");
    let workers = 3;
    support::rt(workers).block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = trellis::spawn(echo_server(listener));
        let tasks: Vec<_> = (0..workers)
            .map(|d| {
                trellis::spawn_on(DomainId::new(d), move || async move {
                    let home = trellis::domain::current();
                    assert_eq!(home, Some(DomainId::new(d)));
                    // A `!Send` value held across awaits: this task can only live at home.
                    let local = std::rc::Rc::new(d);
                    let mut conn = TcpStream::connect(addr).await.unwrap();
                    for round in 0..20u8 {
                        conn.write_all(&[round, *local as u8]).await.unwrap();
                        let mut back = [0u8; 2];
                        conn.read_exact(&mut back).await.unwrap();
                        assert_eq!(back, [round, d as u8]);
                        assert_eq!(trellis::domain::current(), home);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        server.abort();
    });
}
