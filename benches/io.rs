//! TCP on loopback: Trellis (`trellis::net`) against tokio (`tokio::net`) and async-io
//! (`async_io::Async<TcpStream>`, run by async-executor), side by side in one binary and one
//! run.
//!
//! # Benchmark ids
//!
//! `io::<shape>/<workers>w/<runtime>`, runtime `trellis`, `tokio` or `async_executor` (with
//! async-io's reactor).
//!
//! | group | per iteration |
//! |---|---|
//! | `io::tcp_ping_pong/Nw` | one 64-byte round trip on one connection: a client task writes, an echo task on the other end reads and writes back, the client reads |
//! | `io::echo_100_clients/Nw` | 100 connections at once, each 20 round trips of 1 KiB against one echo task per connection (2 000 round trips; criterion's throughput is per round trip) |
//!
//! Each sample builds its connections outside the timed part, then times the round trips
//! only. Every runtime runs the same shape code (`NetPeer`, below): the differences are the
//! socket types and their read/write calls.

mod common;

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::peer::{AsyncExecutorPeer, Peer, TokioPeer, TrellisPeer};
use criterion::{Criterion, Throughput};

/// What a shape needs from a runtime's networking: a listener, connections, and exact reads
/// and writes.
trait NetPeer: Peer + 'static {
    type Listener: Send + Sync + 'static;
    type Stream: Send + 'static;

    fn bind() -> impl Future<Output = (Self::Listener, SocketAddr)> + Send;
    fn accept(l: &Self::Listener) -> impl Future<Output = Self::Stream> + Send + '_;
    fn connect(addr: SocketAddr) -> impl Future<Output = Self::Stream> + Send;
    /// Reads exactly `buf.len()` bytes; `false` at EOF or on an error (the echo ends).
    fn read_exact<'a>(
        s: &'a mut Self::Stream,
        buf: &'a mut [u8],
    ) -> impl Future<Output = bool> + Send + 'a;
    fn write_all<'a>(
        s: &'a mut Self::Stream,
        buf: &'a [u8],
    ) -> impl Future<Output = bool> + Send + 'a;
}

impl NetPeer for TrellisPeer {
    type Listener = trellis::net::TcpListener;
    type Stream = trellis::net::TcpStream;

    async fn bind() -> (Self::Listener, SocketAddr) {
        let l = trellis::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap();
        let addr = l.local_addr().unwrap();
        (l, addr)
    }
    async fn accept(l: &Self::Listener) -> Self::Stream {
        let (s, _) = l.accept().await.unwrap();
        s.set_nodelay(true).unwrap();
        s
    }
    async fn connect(addr: SocketAddr) -> Self::Stream {
        let s = trellis::net::TcpStream::connect(addr).await.unwrap();
        s.set_nodelay(true).unwrap();
        s
    }
    async fn read_exact<'a>(s: &'a mut Self::Stream, buf: &'a mut [u8]) -> bool {
        futures_lite::AsyncReadExt::read_exact(s, buf).await.is_ok()
    }
    async fn write_all<'a>(s: &'a mut Self::Stream, buf: &'a [u8]) -> bool {
        futures_lite::AsyncWriteExt::write_all(s, buf).await.is_ok()
    }
}

impl NetPeer for TokioPeer {
    type Listener = tokio::net::TcpListener;
    type Stream = tokio::net::TcpStream;

    async fn bind() -> (Self::Listener, SocketAddr) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        (l, addr)
    }
    async fn accept(l: &Self::Listener) -> Self::Stream {
        let (s, _) = l.accept().await.unwrap();
        s.set_nodelay(true).unwrap();
        s
    }
    async fn connect(addr: SocketAddr) -> Self::Stream {
        let s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.set_nodelay(true).unwrap();
        s
    }
    async fn read_exact<'a>(s: &'a mut Self::Stream, buf: &'a mut [u8]) -> bool {
        tokio::io::AsyncReadExt::read_exact(s, buf).await.is_ok()
    }
    async fn write_all<'a>(s: &'a mut Self::Stream, buf: &'a [u8]) -> bool {
        tokio::io::AsyncWriteExt::write_all(s, buf).await.is_ok()
    }
}

impl NetPeer for AsyncExecutorPeer {
    type Listener = async_io::Async<std::net::TcpListener>;
    type Stream = async_io::Async<std::net::TcpStream>;

    async fn bind() -> (Self::Listener, SocketAddr) {
        let l = async_io::Async::<std::net::TcpListener>::bind(([127, 0, 0, 1], 0)).unwrap();
        let addr = l.get_ref().local_addr().unwrap();
        (l, addr)
    }
    async fn accept(l: &Self::Listener) -> Self::Stream {
        let (s, _) = l.accept().await.unwrap();
        s.get_ref().set_nodelay(true).unwrap();
        s
    }
    async fn connect(addr: SocketAddr) -> Self::Stream {
        let s = async_io::Async::<std::net::TcpStream>::connect(addr)
            .await
            .unwrap();
        s.get_ref().set_nodelay(true).unwrap();
        s
    }
    async fn read_exact<'a>(s: &'a mut Self::Stream, buf: &'a mut [u8]) -> bool {
        futures_lite::AsyncReadExt::read_exact(s, buf).await.is_ok()
    }
    async fn write_all<'a>(s: &'a mut Self::Stream, buf: &'a [u8]) -> bool {
        futures_lite::AsyncWriteExt::write_all(s, buf).await.is_ok()
    }
}

/// Echoes `SIZE`-byte messages on `s` until the peer goes away.
async fn echo<P: NetPeer, const SIZE: usize>(mut s: P::Stream) {
    let mut buf = [0u8; SIZE];
    while P::read_exact(&mut s, &mut buf).await {
        if !P::write_all(&mut s, &buf).await {
            return;
        }
    }
}

/// `clients` connections, each with an echo task on the server side; returns the client ends.
async fn connections<P: NetPeer, const SIZE: usize>(
    spawner: P::Spawner,
    clients: usize,
) -> Vec<P::Stream> {
    let (listener, addr) = P::bind().await;
    let mut out = Vec::with_capacity(clients);
    for _ in 0..clients {
        let (client, server) =
            futures_lite::future::zip(P::connect(addr), P::accept(&listener)).await;
        P::detach(P::spawn_here(spawner, echo::<P, SIZE>(server)));
        out.push(client);
    }
    out
}

fn ping_pong<P: NetPeer>(c: &mut Criterion, workers: usize) {
    let peer = P::new(workers);
    let spawner = peer.spawner();
    let mut group = c.benchmark_group(format!("io::tcp_ping_pong/{workers}w"));
    group.throughput(Throughput::Elements(1));
    group.bench_function(P::NAME, |b| {
        b.iter_custom(|iters| {
            peer.run(async move {
                let mut client = connections::<P, 64>(spawner, 1).await.pop().unwrap();
                let mut msg = [7u8; 64];
                let start = Instant::now();
                for _ in 0..iters {
                    assert!(P::write_all(&mut client, &msg).await);
                    assert!(P::read_exact(&mut client, &mut msg).await);
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

const CLIENTS: usize = 100;
const ROUNDS: usize = 20;

fn echo_clients<P: NetPeer>(c: &mut Criterion, workers: usize) {
    let peer = P::new(workers);
    let spawner = peer.spawner();
    let mut group = c.benchmark_group(format!("io::echo_100_clients/{workers}w"));
    group.throughput(Throughput::Elements((CLIENTS * ROUNDS) as u64));
    group.sample_size(10);
    group.bench_function(P::NAME, |b| {
        b.iter_custom(|iters| {
            peer.run(async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let clients = connections::<P, 1024>(spawner, CLIENTS).await;
                    let start = Instant::now();
                    let tasks: Vec<_> = clients
                        .into_iter()
                        .map(|mut c| {
                            P::spawn_here(spawner, async move {
                                let mut msg = [1u8; 1024];
                                for _ in 0..ROUNDS {
                                    assert!(P::write_all(&mut c, &msg).await);
                                    assert!(P::read_exact(&mut c, &mut msg).await);
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await;
                    }
                    total += start.elapsed();
                }
                total
            })
        })
    });
    group.finish();
}

fn bench_workers(c: &mut Criterion, workers: usize) {
    ping_pong::<TrellisPeer>(c, workers);
    ping_pong::<TokioPeer>(c, workers);
    ping_pong::<AsyncExecutorPeer>(c, workers);
    echo_clients::<TrellisPeer>(c, workers);
    echo_clients::<TokioPeer>(c, workers);
    echo_clients::<AsyncExecutorPeer>(c, workers);
}

fn main() {
    common::run(bench_workers);
}
