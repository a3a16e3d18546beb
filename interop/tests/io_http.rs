//! hyper 1.x on Trellis (feature `hyper`): `examples/http_hello.rs`'s server answers hyper
//! clients and a plain blocking client, many requests over concurrent keep-alive connections,
//! and shuts down gracefully: the accept loop stops, idle connections close, and the server
//! returns without waiting for its drain deadline.

#[path = "../../tests/support/mod.rs"]
mod support;

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/http_hello.rs"]
mod http_hello;

use std::io::{Read, Write};
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use support::Watchdog;
use trellis::hyper::HyperIo;
use trellis::net::{TcpListener, TcpStream};
use trellis::sync::Event;

/// One GET on a keep-alive connection. hyper takes a request only once the connection task
/// has finished the previous exchange (`ready`); without the wait, a client on one worker that
/// outruns its connection task on the other gets `Canceled: connection was not ready`.
async fn get(sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>) -> (u16, Bytes) {
    sender.ready().await.unwrap();
    let req = hyper::Request::get("/")
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.into_body().collect().await.unwrap().to_bytes())
}

#[test]
fn the_server_answers_many_keep_alive_requests_and_a_blocking_client() {
    let _w = Watchdog::new("the_server_answers_many_keep_alive_requests_and_a_blocking_client");
    support::rt(2).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = Arc::new(Event::new());
        trellis::nursery(async |n| {
            n.start_soon(http_hello::run_server(listener, shutdown.clone()));
            let clients: Vec<_> = (0..10)
                .map(|_| {
                    trellis::spawn(async move {
                        let stream = TcpStream::connect(addr).await.unwrap();
                        let (mut sender, conn) =
                            hyper::client::conn::http1::handshake(HyperIo::new(stream))
                                .await
                                .unwrap();
                        let conn = trellis::spawn(conn);
                        for _ in 0..20 {
                            assert_eq!(get(&mut sender).await, (200, Bytes::from("Hello, World!")));
                        }
                        drop(sender);
                        conn.await.unwrap().unwrap();
                    })
                })
                .collect();
            for c in clients {
                c.await.unwrap();
            }
            let raw = trellis::spawn_blocking(move || {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    .unwrap();
                let mut out = String::new();
                s.read_to_string(&mut out).unwrap();
                out
            })
            .await
            .unwrap();
            assert!(raw.starts_with("HTTP/1.1 200 OK"), "{raw}");
            assert!(raw.ends_with("Hello, World!"), "{raw}");
            shutdown.set();
        })
        .await
        .unwrap();
    });
}

#[test]
fn graceful_shutdown_closes_idle_connections_and_refuses_new_ones() {
    let _w = Watchdog::new("graceful_shutdown_closes_idle_connections_and_refuses_new_ones");
    support::rt(2).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = Arc::new(Event::new());
        let server = trellis::spawn(http_hello::run_server(listener, shutdown.clone()));
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(HyperIo::new(stream))
            .await
            .unwrap();
        let conn = trellis::spawn(conn);
        assert_eq!(get(&mut sender).await.0, 200);
        // The connection is idle (keep-alive) when the shutdown starts.
        shutdown.set();
        // The server closes it: the client's connection task ends.
        conn.await.unwrap().unwrap();
        // The server returned on its own (its drain deadline is 5 s away; the watchdog would
        // notice a hang), with no failure.
        server.await.unwrap().unwrap();
        let err = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    });
}
