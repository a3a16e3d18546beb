//! Channel benchmarks: Trellis channels on the Trellis runtime against tokio's `mpsc` and
//! `oneshot` on tokio (multi-thread) and `async-channel` on async-executor, side by side in one
//! binary and one run (see `BENCHMARKS.md`, "Domains and channels").
//!
//! # Benchmark ids
//!
//! The scheme of `benches/rt.rs`: group `<shape>/<workers>w`, function `trellis`, `tokio` or
//! `async_executor`, e.g. `chan::ring/2w/tokio`; `benches/tools/bench_table.rs` parses it.
//!
//! | group | per iteration |
//! |---|---|
//! | `chan::ring/Nw` | async-executor's own `channels` bench: a ring of 300 tasks linked by capacity-1 channels; a token travels 300 laps (90_000 hops). The driver that injects the token and reads it back is itself a task; creating the channels and spawning the ring are part of the iteration, as in the original |
//! | `chan::cross_domain_ping_pong/Nw` | two tasks exchange a counter over two `bounded(1)` channels, 10_000 round trips. Trellis pins them on domains 0 and 1 (`spawn_on`), so every hop crosses threads; the peers have no domains and run two ordinary tasks, which their schedulers may place on one worker; function `threads` is the raw baseline, two OS threads doing the same over crossbeam-channel (the same at every worker count), and `tokio_pinned` the tasks pinned on two threads of a tokio-util `LocalPoolHandle` of N threads, so every tokio hop crosses threads too |
//! | `chan::request_reply/Nw` | a client task makes 1_000 sequential requests to a server task over a `bounded(10)` channel; each request carries a fresh oneshot for the reply |
//!
//! Channels per peer: Trellis `channel::bounded` and `channel::oneshot`; tokio
//! `sync::mpsc::channel` and `sync::oneshot`; async-executor with `async_channel::bounded`, and
//! `async_channel::bounded(1)` as the oneshot (async-channel has no oneshot). N is 2 and 4 (or `TRELLIS_BENCH_WORKERS`; at 1 worker `cross_domain_ping_pong`, which needs two domains, is skipped); each
//! runtime is built once per worker count, outside the timed loops, as in `benches/rt.rs`
//! (tokio `new_multi_thread().worker_threads(N)`, async-executor run by N runner threads), and
//! the measured closure blocks on the shape's root task from the bench thread. The shapes are
//! written once, generically over [`Peer`]; each peer's channel calls are wrapped the same way
//! (one `async` block, the error unwrapped), so they pay the same adapter cost.
//!
//! Criterion defaults: 20 samples, 1 s warm-up, 2 s measurement, flat sampling (an iteration
//! takes milliseconds); command-line flags override them.

mod common;

use common::peer::{AsyncExecutorPeer, Peer, TokioPeer, TrellisPeer};
use std::future::Future;

use criterion::{Criterion, SamplingMode};

/// async-executor `benches/executor.rs` `channels`: `TASKS` and `STEPS`.
const RING_TASKS: usize = 300;
const RING_LAPS: usize = 300;
/// `chan::request_reply`.
const REQUESTS: u64 = 1_000;
const REQUEST_CAP: usize = 10;

/// A runtime's channels, on top of the common [`Peer`] adapter: everything the shapes need, so
/// each shape is written once.
trait ChanPeer: Peer {
    /// A bounded channel's halves.
    type Tx<T: Send + 'static>: Send + Sync + 'static;
    type Rx<T: Send + 'static>: Send + 'static;
    /// A oneshot's halves.
    type OneTx<T: Send + 'static>: Send + 'static;
    type OneRx<T: Send + 'static>: Send + 'static;

    fn bounded<T: Send + 'static>(cap: usize) -> (Self::Tx<T>, Self::Rx<T>);
    /// Sends; panics if the channel is closed.
    fn send<T: Send + 'static>(tx: &Self::Tx<T>, v: T) -> impl Future<Output = ()> + Send + '_;
    /// Receives; `None` once the channel is closed and empty.
    fn recv<T: Send + 'static>(rx: &mut Self::Rx<T>)
    -> impl Future<Output = Option<T>> + Send + '_;

    fn oneshot<T: Send + 'static>() -> (Self::OneTx<T>, Self::OneRx<T>);
    /// Sends the reply; panics if the receiver is gone.
    fn reply<T: Send + 'static>(tx: Self::OneTx<T>, v: T);
    /// Awaits the reply; panics if the sender is gone.
    fn reply_recv<T: Send + 'static>(rx: Self::OneRx<T>) -> impl Future<Output = T> + Send;
}

/// Trellis: `trellis::channel`.
impl ChanPeer for TrellisPeer {
    type Tx<T: Send + 'static> = trellis::channel::Sender<T>;
    type Rx<T: Send + 'static> = trellis::channel::Receiver<T>;
    type OneTx<T: Send + 'static> = trellis::channel::oneshot::Sender<T>;
    type OneRx<T: Send + 'static> = trellis::channel::oneshot::Receiver<T>;

    fn bounded<T: Send + 'static>(cap: usize) -> (Self::Tx<T>, Self::Rx<T>) {
        trellis::channel::bounded(cap)
    }

    async fn send<T: Send + 'static>(tx: &Self::Tx<T>, v: T) {
        if tx.send(v).await.is_err() {
            panic!("channel closed");
        }
    }

    async fn recv<T: Send + 'static>(rx: &mut Self::Rx<T>) -> Option<T> {
        rx.recv().await.ok()
    }

    fn oneshot<T: Send + 'static>() -> (Self::OneTx<T>, Self::OneRx<T>) {
        trellis::channel::oneshot()
    }

    fn reply<T: Send + 'static>(tx: Self::OneTx<T>, v: T) {
        if tx.send(v).is_err() {
            panic!("oneshot receiver gone");
        }
    }

    async fn reply_recv<T: Send + 'static>(rx: Self::OneRx<T>) -> T {
        rx.await.expect("oneshot sender gone")
    }
}

/// tokio: `tokio::sync::mpsc` and `oneshot`.
impl ChanPeer for TokioPeer {
    type Tx<T: Send + 'static> = tokio::sync::mpsc::Sender<T>;
    type Rx<T: Send + 'static> = tokio::sync::mpsc::Receiver<T>;
    type OneTx<T: Send + 'static> = tokio::sync::oneshot::Sender<T>;
    type OneRx<T: Send + 'static> = tokio::sync::oneshot::Receiver<T>;

    fn bounded<T: Send + 'static>(cap: usize) -> (Self::Tx<T>, Self::Rx<T>) {
        tokio::sync::mpsc::channel(cap)
    }

    async fn send<T: Send + 'static>(tx: &Self::Tx<T>, v: T) {
        if tx.send(v).await.is_err() {
            panic!("channel closed");
        }
    }

    async fn recv<T: Send + 'static>(rx: &mut Self::Rx<T>) -> Option<T> {
        rx.recv().await
    }

    fn oneshot<T: Send + 'static>() -> (Self::OneTx<T>, Self::OneRx<T>) {
        tokio::sync::oneshot::channel()
    }

    fn reply<T: Send + 'static>(tx: Self::OneTx<T>, v: T) {
        if tx.send(v).is_err() {
            panic!("oneshot receiver gone");
        }
    }

    async fn reply_recv<T: Send + 'static>(rx: Self::OneRx<T>) -> T {
        rx.await.expect("oneshot sender gone")
    }
}

/// async-executor: async-channel (its oneshot is a bounded channel of one).
impl ChanPeer for AsyncExecutorPeer {
    type Tx<T: Send + 'static> = async_channel::Sender<T>;
    type Rx<T: Send + 'static> = async_channel::Receiver<T>;
    type OneTx<T: Send + 'static> = async_channel::Sender<T>;
    type OneRx<T: Send + 'static> = async_channel::Receiver<T>;

    fn bounded<T: Send + 'static>(cap: usize) -> (Self::Tx<T>, Self::Rx<T>) {
        async_channel::bounded(cap)
    }

    async fn send<T: Send + 'static>(tx: &Self::Tx<T>, v: T) {
        if tx.send(v).await.is_err() {
            panic!("channel closed");
        }
    }

    async fn recv<T: Send + 'static>(rx: &mut Self::Rx<T>) -> Option<T> {
        rx.recv().await.ok()
    }

    fn oneshot<T: Send + 'static>() -> (Self::OneTx<T>, Self::OneRx<T>) {
        async_channel::bounded(1)
    }

    fn reply<T: Send + 'static>(tx: Self::OneTx<T>, v: T) {
        if tx.try_send(v).is_err() {
            panic!("oneshot receiver gone");
        }
    }

    async fn reply_recv<T: Send + 'static>(rx: Self::OneRx<T>) -> T {
        rx.recv().await.expect("oneshot sender gone")
    }
}

// ---------------------------------------------------------------------------------------------
// Shapes, written once.

/// async-executor's `channels`: a ring of `RING_TASKS` tasks over capacity-1 channels; the root
/// task sends a token around `RING_LAPS` times.
async fn ring_body<P: ChanPeer + 'static>(s: P::Spawner) {
    let (first_tx, first_rx) = P::bounded::<()>(1);
    let mut last_rx = first_rx;
    let mut tasks = Vec::with_capacity(RING_TASKS);
    for _ in 0..RING_TASKS {
        let (next_tx, next_rx) = P::bounded::<()>(1);
        let mut rx = std::mem::replace(&mut last_rx, next_rx);
        tasks.push(P::spawn_here(s, async move {
            for _ in 0..RING_LAPS {
                P::recv(&mut rx).await.expect("ring broken");
                P::send(&next_tx, ()).await;
            }
        }));
    }
    for _ in 0..RING_LAPS {
        P::send(&first_tx, ()).await;
        P::recv(&mut last_rx).await.expect("ring broken");
    }
    for t in tasks {
        t.await;
    }
}

fn ring<P: ChanPeer + 'static>(rt: &P) {
    let s = rt.spawner();
    rt.block_on(rt.spawn(ring_body::<P>(s)));
}

/// `REQUESTS` sequential requests from a client task to a server task over
/// `bounded(REQUEST_CAP)`, each answered on its own oneshot.
async fn request_reply_body<P: ChanPeer + 'static>(s: P::Spawner) {
    let (tx, mut rx) = P::bounded::<(u64, P::OneTx<u64>)>(REQUEST_CAP);
    let server = P::spawn_here(s, async move {
        while let Some((n, reply)) = P::recv(&mut rx).await {
            P::reply(reply, n + 1);
        }
    });
    let mut sum = 0;
    for i in 0..REQUESTS {
        let (reply_tx, reply_rx) = P::oneshot::<u64>();
        P::send(&tx, (i, reply_tx)).await;
        sum += P::reply_recv(reply_rx).await;
    }
    drop(tx);
    server.await;
    assert_eq!(sum, (1..=REQUESTS).sum::<u64>());
}

fn request_reply<P: ChanPeer + 'static>(rt: &P) {
    let s = rt.spawner();
    rt.block_on(rt.spawn(request_reply_body::<P>(s)));
}

/// `chan::cross_domain_ping_pong`: round trips between two tasks.
const ROUND_TRIPS: usize = 10_000;

async fn pinger<P: ChanPeer + 'static>(tx: P::Tx<usize>, mut rx: P::Rx<usize>) {
    for i in 0..ROUND_TRIPS {
        P::send(&tx, i).await;
        assert_eq!(P::recv(&mut rx).await, Some(i));
    }
}

async fn ponger<P: ChanPeer + 'static>(tx: P::Tx<usize>, mut rx: P::Rx<usize>) {
    while let Some(v) = P::recv(&mut rx).await {
        P::send(&tx, v).await;
    }
}

/// The peers' version: two ordinary tasks.
fn cross_domain_ping_pong<P: ChanPeer + 'static>(rt: &P) {
    let (ping_tx, ping_rx) = P::bounded::<usize>(1);
    let (pong_tx, pong_rx) = P::bounded::<usize>(1);
    let pong = rt.spawn(ponger::<P>(pong_tx, ping_rx));
    let ping = rt.spawn(pinger::<P>(ping_tx, pong_rx));
    rt.block_on(async move {
        ping.await;
        pong.await;
    });
}

/// Trellis's version: the two tasks pinned on domains 0 and 1.
fn cross_domain_ping_pong_pinned(rt: &TrellisPeer) {
    use trellis::DomainId;
    let (ping_tx, ping_rx) = TrellisPeer::bounded::<usize>(1);
    let (pong_tx, pong_rx) = TrellisPeer::bounded::<usize>(1);
    let pong = rt.rt.spawn_on(DomainId::new(1), move || {
        ponger::<TrellisPeer>(pong_tx, ping_rx)
    });
    let ping = rt.rt.spawn_on(DomainId::new(0), move || {
        pinger::<TrellisPeer>(ping_tx, pong_rx)
    });
    rt.block_on(async move {
        ping.await.unwrap();
        pong.await.unwrap();
    });
}

/// The raw baseline of `chan::cross_domain_ping_pong` (function `threads`): the same exchange
/// between two OS threads over two `crossbeam_channel::bounded(1)` channels (which spin briefly,
/// then block on a futex), no runtime at all: the cost of a thread-to-thread hand-off on these
/// cores.
fn cross_thread_ping_pong() {
    let (ping_tx, ping_rx) = crossbeam_channel::bounded::<usize>(1);
    let (pong_tx, pong_rx) = crossbeam_channel::bounded::<usize>(1);
    let ponger = std::thread::spawn(move || {
        while let Ok(v) = ping_rx.recv() {
            pong_tx.send(v).unwrap();
        }
    });
    for i in 0..ROUND_TRIPS {
        ping_tx.send(i).unwrap();
        assert_eq!(pong_rx.recv(), Ok(i));
    }
    drop(ping_tx);
    ponger.join().unwrap();
}

/// tokio's nearest to pinning (function `tokio_pinned`): the two tasks pinned on threads 0
/// and 1 of a tokio-util `LocalPoolHandle` of N threads (each a current-thread runtime with a
/// `LocalSet`), over tokio `mpsc` channels: every hop crosses threads, as Trellis's do.
fn tokio_pinned_ping_pong(pool: &tokio_util::task::LocalPoolHandle) {
    let (ping_tx, ping_rx) = TokioPeer::bounded::<usize>(1);
    let (pong_tx, pong_rx) = TokioPeer::bounded::<usize>(1);
    let pong = pool.spawn_pinned_by_idx(move || ponger::<TokioPeer>(pong_tx, ping_rx), 1);
    let ping = pool.spawn_pinned_by_idx(move || pinger::<TokioPeer>(ping_tx, pong_rx), 0);
    futures_lite::future::block_on(async move {
        ping.await.expect("pinger");
        pong.await.expect("ponger");
    });
}

// ---------------------------------------------------------------------------------------------
// Driver

/// The three peers for one worker count, built once and dropped before the next count.
struct Peers {
    trellis: TrellisPeer,
    tokio: TokioPeer,
    async_executor: AsyncExecutorPeer,
}

/// Runs the generic shape `$shape(rt)` on every peer inside one criterion group.
macro_rules! each_peer {
    ($c:expr, $peers:expr, $group:expr, $shape:ident) => {{
        let mut g = $c.benchmark_group($group);
        g.sampling_mode(SamplingMode::Flat);
        let peers: &Peers = $peers;
        g.bench_function(TrellisPeer::NAME, |b| b.iter(|| $shape(&peers.trellis)));
        g.bench_function(TokioPeer::NAME, |b| b.iter(|| $shape(&peers.tokio)));
        g.bench_function(AsyncExecutorPeer::NAME, |b| {
            b.iter(|| $shape(&peers.async_executor))
        });
        g.finish();
    }};
}

fn bench_workers(c: &mut Criterion, workers: usize) {
    let peers = Peers {
        trellis: TrellisPeer::new(workers),
        tokio: TokioPeer::new(workers),
        async_executor: AsyncExecutorPeer::new(workers),
    };
    let id = |shape: &str| format!("{shape}/{workers}w");

    each_peer!(c, &peers, id("chan::ring"), ring);
    each_peer!(c, &peers, id("chan::request_reply"), request_reply);
    // Two domains needed: skipped on a one-worker runtime.
    if workers >= 2 {
        let mut g = c.benchmark_group(id("chan::cross_domain_ping_pong"));
        g.sampling_mode(SamplingMode::Flat);
        g.bench_function(TrellisPeer::NAME, |b| {
            b.iter(|| cross_domain_ping_pong_pinned(&peers.trellis))
        });
        g.bench_function(TokioPeer::NAME, |b| {
            b.iter(|| cross_domain_ping_pong(&peers.tokio))
        });
        g.bench_function(AsyncExecutorPeer::NAME, |b| {
            b.iter(|| cross_domain_ping_pong(&peers.async_executor))
        });
        g.bench_function("threads", |b| b.iter(cross_thread_ping_pong));
        let pool = tokio_util::task::LocalPoolHandle::new(workers);
        g.bench_function("tokio_pinned", |b| b.iter(|| tokio_pinned_ping_pong(&pool)));
        g.finish();
    }

    // Drop order: each runtime shuts down on its own.
    let Peers {
        trellis,
        tokio,
        async_executor,
    } = peers;
    drop(trellis);
    drop(tokio);
    drop(async_executor);
}

fn main() {
    common::run(bench_workers);
}
