//! A nursery that spans every domain: one pinned child per worker thread, each holding
//! `!Send` state. One child fails; the nursery cancels every other child across threads, and
//! each is dropped on its own home thread. The talk's closing slide ran an event loop inside
//! each of several sub-interpreters, one per thread; a Trellis domain is that isolated world,
//! and a nursery can supervise all of them at once.
//!
//! ```text
//! cargo run --example spanning_domains
//! ```
//!
//! The talk's last slide, in Python 3.13 (one event loop per sub-interpreter, one per thread;
//! written here with Trio), next to Trellis:
//!
//! ```text
//! def sensor_thread(d):                          let rt = Runtime::builder().workers(4).build()?;
//!     trio.run(sensor, d)  # own interpreter,    rt.block_on(trellis::nursery(async |n| {
//!                          # own loop, own state     for d in 0..trellis::domain::count() {
//! async def sensor(d):                                   n.start_soon_on(DomainId::new(d), move || async move {
//!     ticks = 0                                              let ticks = Rc::new(Cell::new(0)); // !Send: stays on d
//!     while True:                                            loop {
//!         await trio.sleep(TICK)                                 sleep(TICK).await;
//!         ticks += 1                                             ticks.set(ticks.get() + 1);
//!                                                            }
//! for d in range(4):                                     });
//!     Thread(target=sensor_thread, args=(d,)).start()  }
//! # No nursery spans the threads: when one       }))?; // returns once every child, on every domain, is gone
//! # sensor fails, the others must be told by
//! # hand, and nothing waits for them to stop.
//! ```
//!
//! # The translation
//!
//! - `n.start_soon_on(domain, || future)` starts a child *pinned* to a domain (a worker
//!   thread): the closure is sent there and builds the future there, so the future may hold
//!   `!Send` state (an `Rc`, a `RefCell`, a non-thread-safe handle). It is polled only on that
//!   thread, and, when cancelled, dropped only on that thread.
//! - The last domain's child fails (returns `Err`). The nursery's scope is cancelled; every
//!   other child, each parked in a `sleep` on its own thread, is woken across threads, dropped
//!   at that checkpoint on its home thread, and its `Drop` impls run there (the guard prints
//!   the thread and domain it is dropped on). The nursery returns only after all of them are
//!   gone, with the one failure.
//! - At the end the program asserts what it printed: every child was dropped on the domain it
//!   was pinned to, and none outlived the nursery.
//!
//! Timestamps are milliseconds since the start; the order of lines within one millisecond
//! varies from run to run (the domains run in parallel).

use std::cell::Cell;
use std::error::Error;
use std::fmt;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use trellis::time::sleep;
use trellis::{DomainId, domain};

/// Domains (worker threads) of the runtime.
const WORKERS: usize = 4;
/// Each parked child wakes this often to tick its local state.
const TICK: Duration = Duration::from_millis(25);
/// When the last domain's child fails.
const FAIL_AT: Duration = Duration::from_millis(60);

/// The failing child's error.
#[derive(Debug)]
struct SensorFault {
    domain: usize,
}

impl fmt::Display for SensorFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sensor on domain {} stopped answering", self.domain)
    }
}

impl Error for SensorFault {}

/// Where a child's guard was dropped.
#[derive(Debug)]
struct DropRecord {
    home: DomainId,
    dropped_on: Option<DomainId>,
}

/// Prints a timeline line: ms since start, the domain and thread it runs on, and what.
fn say(t0: Instant, what: &str) {
    let thread = std::thread::current();
    let place = match domain::current() {
        Some(d) => format!("domain {} ({})", d.index(), thread.name().unwrap_or("?")),
        None => format!("main ({})", thread.name().unwrap_or("?")),
    };
    println!("{:>4} ms  {place:<22} {what}", t0.elapsed().as_millis());
}

/// A child's `!Send` state and drop guard: records and prints where it is dropped.
struct Guard {
    t0: Instant,
    home: DomainId,
    ticks: Rc<Cell<u32>>,
    drops: Arc<Mutex<Vec<DropRecord>>>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        say(
            self.t0,
            &format!(
                "child of domain {}: dropped after {} ticks",
                self.home.index(),
                self.ticks.get()
            ),
        );
        self.drops.lock().unwrap().push(DropRecord {
            home: self.home,
            dropped_on: domain::current(),
        });
    }
}

/// The child pinned to `home`: ticks its `Rc` state until cancelled, or fails if `fails`.
async fn sensor(
    t0: Instant,
    home: DomainId,
    fails: bool,
    drops: Arc<Mutex<Vec<DropRecord>>>,
) -> Result<(), SensorFault> {
    assert_eq!(domain::current(), Some(home), "pinned children run at home");
    let ticks = Rc::new(Cell::new(0)); // !Send: this future can only live on `home`
    let _guard = Guard {
        t0,
        home,
        ticks: ticks.clone(),
        drops,
    };
    say(t0, "child: started, holding an Rc");
    if fails {
        sleep(FAIL_AT).await;
        say(t0, "child: failing with SensorFault");
        return Err(SensorFault {
            domain: home.index(),
        });
    }
    loop {
        sleep(TICK).await;
        ticks.set(ticks.get() + 1);
        say(t0, &format!("child: tick {}", ticks.get()));
    }
}

fn main() {
    let rt = trellis::Runtime::builder()
        .workers(WORKERS)
        .build()
        .expect("build the runtime");
    let t0 = Instant::now();
    let drops = Arc::new(Mutex::new(Vec::new()));
    let count = rt.block_on(async { domain::count() });

    let result = rt.block_on(trellis::nursery(async |n| {
        say(
            t0,
            &format!("body: one pinned child on each of {count} domains"),
        );
        for d in 0..count {
            let drops = drops.clone();
            let fails = d == count - 1;
            n.start_soon_on(DomainId::new(d), move || {
                sensor(t0, DomainId::new(d), fails, drops)
            });
        }
    }));
    say(t0, "main: the nursery returned");

    let err = result.expect_err("the last domain's child failed");
    println!("\n{err}\n");
    assert_eq!(err.len(), 1, "cancelled children are not failures");
    assert_eq!(err.find::<SensorFault>().map(|e| e.domain), Some(count - 1));

    // Every child, the failed one included, was dropped before the nursery returned, on the
    // domain it was pinned to.
    let drops = drops.lock().unwrap();
    assert_eq!(drops.len(), count, "every child was dropped: {drops:?}");
    for r in drops.iter() {
        assert_eq!(
            r.dropped_on,
            Some(r.home),
            "a child was dropped away from home: {r:?}"
        );
    }
    println!(
        "ok: {} children dropped, each on its home domain ({})",
        drops.len(),
        drops
            .iter()
            .map(|r| format!(
                "child of {} dropped on {}",
                r.home.index(),
                r.dropped_on.map_or(usize::MAX, DomainId::index)
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
}
