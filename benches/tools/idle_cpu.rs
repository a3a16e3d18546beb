//! Measures the CPU time an idle runtime burns: Trellis, tokio and async-executor, each with
//! `--workers N` (default 2) worker threads, idle for `--secs S` (default 3) after one task has
//! run. Prints one line per runtime; BENCHMARKS.md quotes it ("idle: no spinning").
//!
//! ```sh
//! cargo run --release -p trellis-benches --bin idle_cpu -- --workers 2 --secs 3
//! ```

use std::time::{Duration, Instant};

/// Process CPU time (user + system) in seconds, from `/proc/self/stat` (clock ticks of 10 ms).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("needs Linux /proc");
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn measure(name: &str, idle: Duration, start: impl FnOnce() -> Box<dyn std::any::Any>) {
    let runtime = start();
    std::thread::sleep(Duration::from_millis(100)); // let the workers settle
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    std::thread::sleep(idle);
    let (cpu, wall) = (cpu_seconds() - cpu0, t0.elapsed());
    println!(
        "{name:<15} idle {:.1} s: {:.3} s CPU ({:.2}% of one core)",
        wall.as_secs_f64(),
        cpu,
        100.0 * cpu / wall.as_secs_f64()
    );
    drop(runtime);
}

fn main() {
    let mut workers = 2;
    let mut secs = 3.0;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().unwrap_or_default();
        match arg.as_str() {
            "--workers" => workers = value.parse().expect("--workers N"),
            "--secs" => secs = value.parse().expect("--secs S"),
            other => panic!("unknown argument {other}; use --workers N --secs S"),
        }
    }
    let idle = Duration::from_secs_f64(secs);
    println!(
        "{workers} workers, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    measure("trellis", idle, || {
        let rt = trellis::Runtime::builder()
            .workers(workers)
            .build()
            .unwrap();
        rt.block_on(async { trellis::spawn(async {}).await.unwrap() });
        Box::new(rt)
    });
    measure("tokio", idle, || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async { tokio::spawn(async {}).await.unwrap() });
        Box::new(rt)
    });
    measure("async-executor", idle, || {
        let ex: &'static async_executor::Executor<'static> =
            Box::leak(Box::new(async_executor::Executor::new()));
        let (stop, stopped) = async_channel_pair();
        for _ in 0..workers {
            let stopped = stopped.clone();
            std::thread::spawn(move || futures_lite::future::block_on(ex.run(stopped.recv())));
        }
        futures_lite::future::block_on(ex.spawn(async {}));
        Box::new(stop)
    });
}

/// A stop signal for the async-executor runner threads: dropping the sender ends them.
fn async_channel_pair() -> (Stop, StopRx) {
    let (tx, rx) = tokio::sync::watch::channel(());
    (Stop(tx), StopRx(rx))
}

struct Stop(#[allow(dead_code)] tokio::sync::watch::Sender<()>);

#[derive(Clone)]
struct StopRx(tokio::sync::watch::Receiver<()>);

impl StopRx {
    async fn recv(mut self) {
        while self.0.changed().await.is_ok() {}
    }
}
