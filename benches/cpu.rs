//! CPU-bound fork-join shapes: Trellis against rayon (`rayon::join`, `par_iter`) and tokio
//! (multi-thread), side by side in one binary and one run (see `BENCHMARKS.md`, "CPU shapes").
//!
//! # Benchmark ids
//!
//! Every id is `<group>/<function>`, where the group is `<shape>/<workers>w` and the function is
//! the runtime: `trellis`, `tokio`, `rayon`, and for `cpu::mandelbrot_rows` also
//! `trellis_nursery` (the rows as children of one `trellis::nursery`). For example
//! `cpu::fib_spawn/2w/rayon`. `benches/tools/bench_table.rs` parses this scheme (rayon and
//! `trellis_nursery` land in its "other functions" table, with the Trellis/function ratio).
//!
//! | group | per iteration |
//! |---|---|
//! | `cpu::fib_spawn/Nw` | fib(30), recursively; every call above fib(12) forks: fib(n-1) on another task (`spawn` + `await`; rayon: the first closure of `rayon::join`), fib(n-2) inline. 6 764 forks, 6 765 sequential leaves (fib(12) or fib(11)) |
//! | `cpu::tree_sum/Nw` | the sum of a balanced binary tree of 2^20 - 1 heap nodes (built once, outside the timed loop), recursively; every node more than 10 levels above the leaves forks its left subtree (as `fib_spawn`), so 1 023 forks and 1 024 sequential subtrees of 1 023 nodes |
//! | `cpu::mandelbrot_rows/Nw` | a 256x256 Mandelbrot image, 256 iterations at most per pixel, one task per row (256 tasks, uneven: rows through the set cost far more than edge rows), each returning its row; rayon: `(0..256).into_par_iter().map(row).collect()`; `trellis_nursery`: each row a `Nursery::start_soon` child storing its row in a slot |
//! | `cpu::mergesort/Nw` | a parallel mergesort of 2^20 pseudo-random `u32` (a fresh copy per iteration, made outside the timed part): a run above 4 096 values splits in halves, sorts the left half on another task and the right inline, then merges both into a new `Vec`; a run of at most 4 096 is `sort_unstable`ed. 255 forks |
//!
//! N is 2 and 4 (or `TRELLIS_BENCH_WORKERS`), as in `benches/rt.rs`. Each runtime is built once
//! per worker count, outside the timed loops: Trellis and tokio through the adapter of
//! `benches/common/peer.rs`, rayon as a `ThreadPool` of N threads. Every iteration starts on the
//! bench thread and runs on the workers: `block_on(spawn(root))` for Trellis and tokio (the
//! forks are in-task spawns), `ThreadPool::install(root)` for rayon. The work is written once
//! for Trellis and tokio, generically over the adapter; the rayon side is the same recursion
//! with `rayon::join` in place of spawn-then-await. A recursive async fork must box its future
//! (`async` recursion), so Trellis and tokio pay one allocation per fork above the one of the
//! spawn itself; rayon's join allocates nothing (its job lives on the forking stack). Every
//! peer's result is checked once against a sequential run, outside the timed loop.
//!
//! For instruction counts (callgrind), `TRELLIS_CPU_COUNT="SHAPE PEER ITERS"` (a shape without
//! its `cpu::` prefix, a function name other than `trellis_nursery`) runs that one shape `ITERS`
//! times at the first worker count and exits, without criterion; the difference between two
//! counts (say 10 and 20 iterations) is the shape's cost, without the set-up:
//!
//! ```text
//! TRELLIS_BENCH_WORKERS=1 TRELLIS_CPU_COUNT="fib_spawn trellis 10" \
//!     valgrind --tool=callgrind target/release/deps/cpu-HASH
//! ```
//!
//! Iterations take milliseconds, so the groups sample flat (the same number of iterations per
//! sample). Criterion defaults are the house's (20 samples, 1 s warm-up, 2 s measurement);
//! command-line flags override them.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use common::peer::{Peer, TokioPeer, TrellisPeer};
use criterion::measurement::WallTime;
use criterion::{BatchSize, BenchmarkGroup, Criterion, SamplingMode, black_box};
use rayon::prelude::*;

/// `fib_spawn`: the argument, and the largest argument computed without a fork.
const FIB_N: u32 = 30;
const FIB_CUTOFF: u32 = 12;
/// `tree_sum`: levels of the tree (2^depth - 1 nodes), and the height of the subtrees summed
/// without a fork.
const TREE_DEPTH: u32 = 20;
const TREE_CUTOFF: u32 = 10;
/// `mandelbrot_rows`: image side (pixels = rows = columns) and iteration limit.
const MANDEL_SIZE: usize = 256;
const MANDEL_MAX_ITER: u32 = 256;
/// `mergesort`: values sorted, and the longest run sorted without a fork.
const SORT_LEN: usize = 1 << 20;
const SORT_CUTOFF: usize = 4_096;

/// A boxed future: what a recursive async fork returns.
type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

// ---------------------------------------------------------------------------------------------
// Sequential kernels, shared by every peer.

fn fib_seq(n: u32) -> u64 {
    if n < 2 {
        u64::from(n)
    } else {
        fib_seq(n - 1) + fib_seq(n - 2)
    }
}

/// One node of the `tree_sum` tree.
struct Node {
    value: u64,
    left: Option<Box<Node>>,
    right: Option<Box<Node>>,
}

/// A perfect tree of `2^depth - 1` nodes, valued `next..` in pre-order (so the sum is known).
fn build_tree(depth: u32, next: &mut u64) -> Option<Box<Node>> {
    if depth == 0 {
        return None;
    }
    let value = *next;
    *next += 1;
    let left = build_tree(depth - 1, next);
    let right = build_tree(depth - 1, next);
    Some(Box::new(Node { value, left, right }))
}

fn tree_seq(node: Option<&Node>) -> u64 {
    node.map_or(0, |n| {
        n.value + tree_seq(n.left.as_deref()) + tree_seq(n.right.as_deref())
    })
}

/// Row `y` of the image: each pixel's escape count, capped to a byte.
fn mandel_row(y: usize) -> Vec<u8> {
    let scale = 3.0 / MANDEL_SIZE as f64;
    let ci = 1.5 - y as f64 * scale;
    (0..MANDEL_SIZE)
        .map(|x| {
            let cr = -2.1 + x as f64 * scale;
            let (mut zr, mut zi) = (0.0f64, 0.0f64);
            let mut i = 0;
            while i < MANDEL_MAX_ITER && zr * zr + zi * zi <= 4.0 {
                let t = zr * zr - zi * zi + cr;
                zi = 2.0 * zr * zi + ci;
                zr = t;
                i += 1;
            }
            i.min(255) as u8
        })
        .collect()
}

/// `SORT_LEN` values from a fixed xorshift sequence.
fn sort_input() -> Vec<u32> {
    let mut x: u32 = 0x9E37_79B9;
    (0..SORT_LEN)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        })
        .collect()
}

/// Merges two sorted runs into a new one.
fn merge(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i] <= b[j] {
            out.push(a[i]);
            i += 1;
        } else {
            out.push(b[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// The sequential leaf of `mergesort`.
fn sort_leaf(mut v: Vec<u32>) -> Vec<u32> {
    v.sort_unstable();
    v
}

// ---------------------------------------------------------------------------------------------
// Trellis and tokio: written once over the adapter; a fork is `spawn_here` then `await`.

/// fib(n) for `n > FIB_CUTOFF`: fib(n-1) on a spawned task, fib(n-2) inline.
fn fib_async<R: Peer>(s: R::Spawner, n: u32) -> BoxFut<u64> {
    Box::pin(async move {
        let a = if n - 1 > FIB_CUTOFF {
            R::spawn_here(s, fib_async::<R>(s, n - 1))
        } else {
            R::spawn_here(s, async move { fib_seq(n - 1) })
        };
        let b = if n - 2 > FIB_CUTOFF {
            fib_async::<R>(s, n - 2).await
        } else {
            fib_seq(n - 2)
        };
        a.await + b
    })
}

/// The sum of `node`'s subtree, `height` levels high, for `height > TREE_CUTOFF`: the left
/// subtree on a spawned task, the right inline.
fn tree_async<R: Peer>(s: R::Spawner, node: &'static Node, height: u32) -> BoxFut<u64> {
    Box::pin(async move {
        let (left, right) = (node.left.as_deref(), node.right.as_deref());
        let a = match left {
            Some(l) if height - 1 > TREE_CUTOFF => {
                R::spawn_here(s, tree_async::<R>(s, l, height - 1))
            }
            _ => R::spawn_here(s, async move { tree_seq(left) }),
        };
        let b = match right {
            Some(r) if height - 1 > TREE_CUTOFF => tree_async::<R>(s, r, height - 1).await,
            _ => tree_seq(right),
        };
        node.value + a.await + b
    })
}

/// Every row on its own spawned task, awaited in order.
async fn mandel_async<R: Peer>(s: R::Spawner) -> Vec<Vec<u8>> {
    let rows: Vec<_> = (0..MANDEL_SIZE)
        .map(|y| R::spawn_here(s, async move { mandel_row(y) }))
        .collect();
    let mut image = Vec::with_capacity(MANDEL_SIZE);
    for row in rows {
        image.push(row.await);
    }
    image
}

/// Sorts `v` (longer than `SORT_CUTOFF`): the left half on a spawned task, the right inline.
fn sort_async<R: Peer>(s: R::Spawner, mut v: Vec<u32>) -> BoxFut<Vec<u32>> {
    Box::pin(async move {
        let right = v.split_off(v.len() / 2);
        let a = if v.len() > SORT_CUTOFF {
            R::spawn_here(s, sort_async::<R>(s, v))
        } else {
            R::spawn_here(s, async move { sort_leaf(v) })
        };
        let b = if right.len() > SORT_CUTOFF {
            sort_async::<R>(s, right).await
        } else {
            sort_leaf(right)
        };
        merge(&a.await, &b)
    })
}

fn fib_peer<R: Peer>(rt: &R) -> u64 {
    rt.run(fib_async::<R>(rt.spawner(), FIB_N))
}

fn tree_peer<R: Peer>(rt: &R, tree: &'static Node) -> u64 {
    rt.run(tree_async::<R>(rt.spawner(), tree, TREE_DEPTH))
}

fn mandel_peer<R: Peer + 'static>(rt: &R) -> Vec<Vec<u8>> {
    rt.run(mandel_async::<R>(rt.spawner()))
}

fn sort_peer<R: Peer>(rt: &R, v: Vec<u32>) -> Vec<u32> {
    rt.run(sort_async::<R>(rt.spawner(), v))
}

/// Trellis's structured variant of `mandelbrot_rows`: every row a child of one nursery, which
/// stores its row in a slot; the nursery returns once every row is done.
fn mandel_nursery(rt: &TrellisPeer) -> Vec<Vec<u8>> {
    rt.block_on(rt.rt.spawn(async {
        let slots: Arc<Vec<Mutex<Vec<u8>>>> =
            Arc::new((0..MANDEL_SIZE).map(|_| Mutex::new(Vec::new())).collect());
        trellis::nursery(async |n| {
            for y in 0..MANDEL_SIZE {
                let slots = slots.clone();
                n.start_soon(async move {
                    *slots[y].lock().unwrap() = mandel_row(y);
                });
            }
        })
        .await
        .expect("no row fails");
        slots
            .iter()
            .map(|slot| std::mem::take(&mut *slot.lock().unwrap()))
            .collect::<Vec<_>>()
    }))
    .expect("the render task does not fail")
}

// ---------------------------------------------------------------------------------------------
// rayon: the same recursions with `rayon::join`.

fn fib_rayon(n: u32) -> u64 {
    if n <= FIB_CUTOFF {
        return fib_seq(n);
    }
    let (a, b) = rayon::join(|| fib_rayon(n - 1), || fib_rayon(n - 2));
    a + b
}

fn tree_rayon(node: &Node, height: u32) -> u64 {
    if height <= TREE_CUTOFF {
        return tree_seq(Some(node));
    }
    let (l, r) = (node.left.as_deref(), node.right.as_deref());
    let (a, b) = rayon::join(
        || l.map_or(0, |l| tree_rayon(l, height - 1)),
        || r.map_or(0, |r| tree_rayon(r, height - 1)),
    );
    node.value + a + b
}

fn mandel_rayon() -> Vec<Vec<u8>> {
    (0..MANDEL_SIZE).into_par_iter().map(mandel_row).collect()
}

fn sort_rayon(mut v: Vec<u32>) -> Vec<u32> {
    if v.len() <= SORT_CUTOFF {
        return sort_leaf(v);
    }
    let right = v.split_off(v.len() / 2);
    let (a, b) = rayon::join(|| sort_rayon(v), || sort_rayon(right));
    merge(&a, &b)
}

// ---------------------------------------------------------------------------------------------
// Driver

/// The peers for one worker count, built once and dropped before the next count.
struct Peers {
    trellis: TrellisPeer,
    tokio: TokioPeer,
    rayon: rayon::ThreadPool,
}

/// A flat-sampled group (iterations take milliseconds).
fn group<'a>(c: &'a mut Criterion, name: String) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sampling_mode(SamplingMode::Flat);
    g
}

fn bench_fib(c: &mut Criterion, p: &Peers, id: String) {
    let want = fib_seq(FIB_N);
    assert_eq!(fib_peer(&p.trellis), want, "trellis fib");
    assert_eq!(fib_peer(&p.tokio), want, "tokio fib");
    assert_eq!(p.rayon.install(|| fib_rayon(FIB_N)), want, "rayon fib");
    let mut g = group(c, id);
    g.bench_function(TrellisPeer::NAME, |b| b.iter(|| fib_peer(&p.trellis)));
    g.bench_function(TokioPeer::NAME, |b| b.iter(|| fib_peer(&p.tokio)));
    g.bench_function("rayon", |b| {
        b.iter(|| p.rayon.install(|| fib_rayon(black_box(FIB_N))))
    });
    g.finish();
}

fn bench_tree(c: &mut Criterion, p: &Peers, id: String, tree: &'static Node) {
    let nodes = (1u64 << TREE_DEPTH) - 1;
    let want = nodes * (nodes - 1) / 2; // values 0..nodes
    assert_eq!(tree_seq(Some(tree)), want, "sequential tree");
    assert_eq!(tree_peer(&p.trellis, tree), want, "trellis tree");
    assert_eq!(tree_peer(&p.tokio, tree), want, "tokio tree");
    assert_eq!(
        p.rayon.install(|| tree_rayon(tree, TREE_DEPTH)),
        want,
        "rayon tree"
    );
    let mut g = group(c, id);
    g.bench_function(TrellisPeer::NAME, |b| {
        b.iter(|| tree_peer(&p.trellis, tree))
    });
    g.bench_function(TokioPeer::NAME, |b| b.iter(|| tree_peer(&p.tokio, tree)));
    g.bench_function("rayon", |b| {
        b.iter(|| p.rayon.install(|| tree_rayon(tree, TREE_DEPTH)))
    });
    g.finish();
}

fn bench_mandel(c: &mut Criterion, p: &Peers, id: String) {
    let want: Vec<Vec<u8>> = (0..MANDEL_SIZE).map(mandel_row).collect();
    assert!(
        want.iter().flatten().any(|&i| i == 255),
        "some pixels are in the set"
    );
    assert!(want == mandel_peer(&p.trellis), "trellis mandelbrot");
    assert!(
        want == mandel_nursery(&p.trellis),
        "trellis nursery mandelbrot"
    );
    assert!(want == mandel_peer(&p.tokio), "tokio mandelbrot");
    assert!(want == p.rayon.install(mandel_rayon), "rayon mandelbrot");
    let mut g = group(c, id);
    g.bench_function(TrellisPeer::NAME, |b| b.iter(|| mandel_peer(&p.trellis)));
    g.bench_function("trellis_nursery", |b| b.iter(|| mandel_nursery(&p.trellis)));
    g.bench_function(TokioPeer::NAME, |b| b.iter(|| mandel_peer(&p.tokio)));
    g.bench_function("rayon", |b| b.iter(|| p.rayon.install(mandel_rayon)));
    g.finish();
}

fn bench_sort(c: &mut Criterion, p: &Peers, id: String) {
    let input = sort_input();
    let want = sort_leaf(input.clone());
    assert!(
        sort_peer(&p.trellis, input.clone()) == want,
        "trellis mergesort"
    );
    assert!(
        sort_peer(&p.tokio, input.clone()) == want,
        "tokio mergesort"
    );
    assert!(
        p.rayon.install(|| sort_rayon(input.clone())) == want,
        "rayon mergesort"
    );
    let fresh = || input.clone();
    let mut g = group(c, id);
    g.bench_function(TrellisPeer::NAME, |b| {
        b.iter_batched(fresh, |v| sort_peer(&p.trellis, v), BatchSize::LargeInput)
    });
    g.bench_function(TokioPeer::NAME, |b| {
        b.iter_batched(fresh, |v| sort_peer(&p.tokio, v), BatchSize::LargeInput)
    });
    g.bench_function("rayon", |b| {
        b.iter_batched(
            fresh,
            |v| p.rayon.install(|| sort_rayon(v)),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn bench_workers(c: &mut Criterion, workers: usize) {
    // Built once for the binary (every worker count sums the same tree), and never freed.
    static TREE: std::sync::OnceLock<&'static Node> = std::sync::OnceLock::new();
    let tree = *TREE.get_or_init(|| {
        let root = build_tree(TREE_DEPTH, &mut 0).expect("depth > 0");
        Box::leak(root)
    });
    let peers = Peers {
        trellis: TrellisPeer::new(workers),
        tokio: TokioPeer::new(workers),
        rayon: rayon::ThreadPoolBuilder::new()
            .num_threads(workers)
            .thread_name(|i| format!("rayon-{i}"))
            .build()
            .expect("build rayon pool"),
    };
    let id = |shape: &str| format!("{shape}/{workers}w");
    bench_fib(c, &peers, id("cpu::fib_spawn"));
    bench_tree(c, &peers, id("cpu::tree_sum"), tree);
    bench_mandel(c, &peers, id("cpu::mandelbrot_rows"));
    bench_sort(c, &peers, id("cpu::mergesort"));
}

/// Instruction-count mode (`TRELLIS_CPU_COUNT="SHAPE PEER ITERS"`, see the module docs): runs
/// one shape on one peer `ITERS` times at the first worker count, without criterion.
fn count_mode(spec: &str) {
    let words: Vec<&str> = spec.split_whitespace().collect();
    let [shape, peer, iters] = words[..] else {
        panic!("TRELLIS_CPU_COUNT={spec:?}: expected \"SHAPE PEER ITERS\"");
    };
    let iters: usize = iters.parse().expect("ITERS is a number");
    let workers = common::worker_counts()[0];
    let tree: &'static Node = Box::leak(build_tree(TREE_DEPTH, &mut 0).expect("depth > 0"));
    let input = sort_input();
    macro_rules! shapes {
        ($fib:expr, $tree:expr, $mandel:expr, $sort:expr) => {
            for _ in 0..iters {
                match shape {
                    "fib_spawn" => drop(black_box($fib)),
                    "tree_sum" => drop(black_box($tree)),
                    "mandelbrot_rows" => drop(black_box($mandel)),
                    "mergesort" => drop(black_box($sort(input.clone()))),
                    _ => panic!("unknown shape {shape:?}"),
                }
            }
        };
    }
    match peer {
        "trellis" => {
            let rt = TrellisPeer::new(workers);
            shapes!(fib_peer(&rt), tree_peer(&rt, tree), mandel_peer(&rt), |v| {
                sort_peer(&rt, v)
            });
        }
        "tokio" => {
            let rt = TokioPeer::new(workers);
            shapes!(fib_peer(&rt), tree_peer(&rt, tree), mandel_peer(&rt), |v| {
                sort_peer(&rt, v)
            });
        }
        "rayon" => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(workers)
                .build()
                .expect("build rayon pool");
            shapes!(
                pool.install(|| fib_rayon(FIB_N)),
                pool.install(|| tree_rayon(tree, TREE_DEPTH)),
                pool.install(mandel_rayon),
                |v| pool.install(|| sort_rayon(v))
            );
        }
        _ => panic!("unknown peer {peer:?}"),
    }
}

fn main() {
    match std::env::var("TRELLIS_CPU_COUNT") {
        Ok(spec) => count_mode(&spec),
        Err(_) => common::run(bench_workers),
    }
}
