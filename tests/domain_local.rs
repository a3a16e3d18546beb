//! `domain_local!`: each domain gets its own value, created lazily on first use in that domain,
//! isolated from other domains and other runtimes, possibly `!Send`, dropped on its own domain's
//! thread when the runtime shuts down (after the domain's pinned tasks). Each test declares its
//! own statics, so tests running in parallel do not share counters.
#![cfg(panic = "unwind")]

mod domain_common;
mod support;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};
use std::time::Duration;

use domain_common::domain_threads;
use support::{Watchdog, panic_message, wait_until};
use trellis::{DomainId, Runtime};

const LIMIT: Duration = Duration::from_secs(30);

fn d(i: usize) -> DomainId {
    DomainId::new(i)
}

/// Runs `f` on domain `i` of `rt` and returns its result.
fn on<T: Send + 'static>(rt: &Runtime, i: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
    rt.block_on(rt.spawn_on(d(i), move || async move { f() }))
        .expect("domain task")
}

#[test]
fn initialised_lazily_once_per_domain_that_uses_it() {
    let _wd = Watchdog::new("initialised_lazily_once_per_domain_that_uses_it");
    static INITS: AtomicUsize = AtomicUsize::new(0);
    trellis::domain_local! {
        static LAZY: Cell<u32> = {
            INITS.fetch_add(1, SeqCst);
            Cell::new(0)
        };
    }
    let rt = support::rt_named(4, "trl-dloc1");
    assert_eq!(INITS.load(SeqCst), 0, "initialised before first use");
    // Domains 1 and 3 use it, many times, from several tasks.
    for round in 0..10 {
        for i in [1, 3] {
            let v = on(&rt, i, || {
                LAZY.with(|c| {
                    c.set(c.get() + 1);
                    c.get()
                })
            });
            assert_eq!(v, round + 1);
        }
    }
    // spawn_local tasks on domain 1 share the same value.
    let v = rt
        .block_on(rt.spawn_on(d(1), || async {
            let hs: Vec<_> = (0..5)
                .map(|_| trellis::spawn_local(async { LAZY.with(|c| c.set(c.get() + 1)) }))
                .collect();
            for h in hs {
                h.await.unwrap();
            }
            LAZY.with(Cell::get)
        }))
        .unwrap();
    assert_eq!(v, 15);
    assert_eq!(INITS.load(SeqCst), 2, "one init per domain that used it");
}

#[test]
fn values_are_isolated_between_domains() {
    let _wd = Watchdog::new("values_are_isolated_between_domains");
    trellis::domain_local! {
        static MINE: RefCell<Vec<usize>> = RefCell::new(Vec::new());
    }
    let rt = support::rt_named(3, "trl-dloc2");
    for round in 0..5 {
        for i in 0..3 {
            on(&rt, i, move || {
                MINE.with(|v| v.borrow_mut().push(i * 100 + round))
            });
        }
    }
    for i in 0..3 {
        let got = on(&rt, i, || MINE.with(|v| v.borrow().clone()));
        assert_eq!(got, (0..5).map(|r| i * 100 + r).collect::<Vec<_>>());
    }
}

#[test]
fn values_are_isolated_between_runtimes() {
    let _wd = Watchdog::new("values_are_isolated_between_runtimes");
    static INITS: AtomicUsize = AtomicUsize::new(0);
    trellis::domain_local! {
        static NAME: RefCell<String> = {
            INITS.fetch_add(1, SeqCst);
            RefCell::new(String::new())
        };
    }
    let a = support::rt_named(2, "trl-dlocA");
    let b = support::rt_named(2, "trl-dlocB");
    on(&a, 0, || NAME.with(|n| n.borrow_mut().push_str("a0")));
    on(&b, 0, || NAME.with(|n| n.borrow_mut().push_str("b0")));
    on(&a, 1, || NAME.with(|n| n.borrow_mut().push_str("a1")));
    assert_eq!(on(&a, 0, || NAME.with(|n| n.borrow().clone())), "a0");
    assert_eq!(on(&b, 0, || NAME.with(|n| n.borrow().clone())), "b0");
    assert_eq!(on(&a, 1, || NAME.with(|n| n.borrow().clone())), "a1");
    assert_eq!(on(&b, 1, || NAME.with(|n| n.borrow().clone())), "");
    assert_eq!(INITS.load(SeqCst), 4);
    drop(a);
    drop(b);
    // A new runtime starts fresh.
    let c = support::rt_named(1, "trl-dlocC");
    assert_eq!(on(&c, 0, || NAME.with(|n| n.borrow().clone())), "");
    assert_eq!(INITS.load(SeqCst), 5);
}

#[test]
fn a_not_send_value_works_across_awaits_and_pinned_tasks() {
    let _wd = Watchdog::new("a_not_send_value_works_across_awaits_and_pinned_tasks");
    trellis::domain_local! {
        /// A per-domain cache, `!Send`.
        static CACHE: Rc<RefCell<HashMap<u64, u64>>> = Rc::new(RefCell::new(HashMap::new()));
    }
    fn fib(n: u64) -> u64 {
        if n < 2 {
            return n;
        }
        if let Some(v) = CACHE.with(|c| c.borrow().get(&n).copied()) {
            return v;
        }
        let v = fib(n - 1) + fib(n - 2);
        CACHE.with(|c| c.borrow_mut().insert(n, v));
        v
    }
    let rt = support::rt_named(2, "trl-dloc3");
    let (v, cached) = rt
        .block_on(rt.spawn_on(d(1), || async {
            // Hold a clone of the Rc across awaits, share it with spawn_local tasks.
            let cache = CACHE.with(Rc::clone);
            let hs: Vec<_> = (10..20)
                .map(|n| {
                    trellis::spawn_local(async move {
                        trellis::yield_now().await;
                        fib(n)
                    })
                })
                .collect();
            let mut last = 0;
            for h in hs {
                last = h.await.unwrap();
                trellis::time::sleep(Duration::from_micros(10)).await;
            }
            let cached = cache.borrow().len();
            (last, cached)
        }))
        .unwrap();
    assert_eq!(v, 4181);
    assert_eq!(cached, 18); // fib(2..=19)
    // Domain 0 never computed anything.
    assert_eq!(on(&rt, 0, || CACHE.with(|c| c.borrow().len())), 0);
}

/// Records the thread it is dropped on, and which value it was.
struct Tracked {
    id: usize,
    log: &'static Mutex<Vec<(usize, ThreadId)>>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.log
            .lock()
            .unwrap()
            .push((self.id, thread::current().id()));
    }
}

#[test]
fn values_are_dropped_on_their_own_domain_at_shutdown() {
    let _wd = Watchdog::new("values_are_dropped_on_their_own_domain_at_shutdown");
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    static LOG: Mutex<Vec<(usize, ThreadId)>> = Mutex::new(Vec::new());
    static INIT_ON: Mutex<Vec<(usize, ThreadId)>> = Mutex::new(Vec::new());
    trellis::domain_local! {
        static VALUE: Tracked = {
            let id = NEXT.fetch_add(1, SeqCst);
            INIT_ON.lock().unwrap().push((id, thread::current().id()));
            Tracked { id, log: &LOG }
        };
    }
    let rt = support::rt_named(3, "trl-dloc4");
    let threads = domain_threads(&rt);
    for i in 0..3 {
        on(&rt, i, || VALUE.with(|v| v.id));
    }
    assert!(
        LOG.lock().unwrap().is_empty(),
        "dropped while the runtime lives"
    );
    drop(rt);
    let mut log = LOG.lock().unwrap().clone();
    let mut init_on = INIT_ON.lock().unwrap().clone();
    log.sort_by_key(|(id, _)| *id);
    init_on.sort_by_key(|(id, _)| *id);
    assert_eq!(log.len(), 3, "each value dropped exactly once: {log:?}");
    assert_eq!(
        log, init_on,
        "each value dropped on the thread that created it"
    );
    for (_, t) in &log {
        assert!(threads.contains(t));
    }
}

#[test]
fn pinned_tasks_dropped_at_shutdown_still_see_their_domain_locals() {
    let _wd = Watchdog::new("pinned_tasks_dropped_at_shutdown_still_see_their_domain_locals");
    static INITS: AtomicUsize = AtomicUsize::new(0);
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    static SEEN_IN_DROP: Mutex<Vec<u32>> = Mutex::new(Vec::new());
    static PARKED: AtomicUsize = AtomicUsize::new(0);
    struct Value(Cell<u32>);
    impl Drop for Value {
        fn drop(&mut self) {
            DROPS.fetch_add(1, SeqCst);
        }
    }
    trellis::domain_local! {
        static STATE: Value = {
            INITS.fetch_add(1, SeqCst);
            Value(Cell::new(0))
        };
    }
    /// Reads the domain-local value from its Drop (runs during shutdown).
    struct ReadOnDrop;
    impl Drop for ReadOnDrop {
        fn drop(&mut self) {
            SEEN_IN_DROP.lock().unwrap().push(STATE.with(|v| v.0.get()));
        }
    }
    let rt = support::rt_named(2, "trl-dloc5");
    let mut handles = Vec::new();
    for i in 0..2u32 {
        on(&rt, i as usize, move || STATE.with(|v| v.0.set(10 + i)));
        handles.push(rt.spawn_on(d(i as usize), || async {
            let _guard = ReadOnDrop;
            PARKED.fetch_add(1, SeqCst);
            std::future::pending::<()>().await;
        }));
    }
    assert!(wait_until(LIMIT, || PARKED.load(SeqCst) == 2));
    drop(rt);
    let mut seen = SEEN_IN_DROP.lock().unwrap().clone();
    seen.sort();
    assert_eq!(
        seen,
        vec![10, 11],
        "a pinned task's Drop saw a fresh or missing value"
    );
    assert_eq!(INITS.load(SeqCst), 2, "re-initialised during shutdown");
    assert_eq!(DROPS.load(SeqCst), 2);
    for h in handles {
        assert!(
            futures_lite::future::block_on(h)
                .unwrap_err()
                .is_cancelled()
        );
    }
}

#[test]
fn init_may_use_another_domain_local() {
    let _wd = Watchdog::new("init_may_use_another_domain_local");
    trellis::domain_local! {
        static BASE: Cell<u32> = Cell::new(trellis::domain::current().unwrap().index() as u32 * 100);
        static DERIVED: RefCell<Vec<u32>> = RefCell::new(vec![BASE.with(Cell::get) + 1]);
    }
    let rt = support::rt_named(2, "trl-dloc6");
    // DERIVED first: its init uses BASE, which is created inside.
    assert_eq!(on(&rt, 1, || DERIVED.with(|v| v.borrow()[0])), 101);
    assert_eq!(on(&rt, 1, || BASE.with(Cell::get)), 100);
    // BASE first, then DERIVED.
    assert_eq!(on(&rt, 0, || BASE.with(|b| b.replace(7))), 0);
    assert_eq!(on(&rt, 0, || DERIVED.with(|v| v.borrow()[0])), 8);
}

#[test]
fn with_may_nest_and_reenter_other_domain_locals() {
    let _wd = Watchdog::new("with_may_nest_and_reenter_other_domain_locals");
    trellis::domain_local! {
        static A: Cell<u32> = Cell::new(1);
        static B: Cell<u32> = Cell::new(2);
    }
    let rt = support::rt_named(1, "trl-dloc7");
    let v = on(&rt, 0, || {
        A.with(|a| B.with(|b| A.with(|a2| a.get() + b.get() + a2.get())))
    });
    assert_eq!(v, 4);
}

#[test]
fn use_outside_a_domain_panics_with_a_hint() {
    let _wd = Watchdog::new("use_outside_a_domain_panics_with_a_hint");
    trellis::domain_local! { static X: u8 = 1; }
    fn msg(r: std::thread::Result<u8>) -> String {
        match r {
            Ok(_) => panic!("expected a panic"),
            Err(p) => panic_message(&*p),
        }
    }
    let m = msg(catch_unwind(|| X.with(|x| *x)));
    assert!(m.contains("outside a domain"), "{m}");
    let rt = support::rt_named(1, "trl-dloc8");
    let m = rt.block_on(async { msg(catch_unwind(AssertUnwindSafe(|| X.with(|x| *x)))) });
    assert!(m.contains("outside a domain"), "block_on: {m}");
    let m = rt
        .block_on(rt.spawn_blocking(|| msg(catch_unwind(|| X.with(|x| *x)))))
        .unwrap();
    assert!(m.contains("outside a domain"), "blocking: {m}");
    assert_eq!(on(&rt, 0, || X.with(|x| *x)), 1);
}

#[test]
fn stealable_tasks_use_the_value_of_the_domain_that_polls_them() {
    let _wd = Watchdog::new("stealable_tasks_use_the_value_of_the_domain_that_polls_them");
    trellis::domain_local! {
        static WHO: usize = trellis::domain::current().unwrap().index();
    }
    let rt = support::rt_named(2, "trl-dloc9");
    let pairs = rt.block_on(async {
        let hs: Vec<_> = (0..200)
            .map(|_| {
                trellis::spawn(async {
                    (
                        trellis::domain::current().unwrap().index(),
                        WHO.with(|w| *w),
                    )
                })
            })
            .collect();
        let mut out = Vec::new();
        for h in hs {
            out.push(h.await.unwrap());
        }
        out
    });
    assert!(pairs.iter().all(|(cur, who)| cur == who), "{pairs:?}");
}

/// A domain-local whose `Drop` spawns a stealable task and wakes one: both handles must
/// resolve (to Cancelled) after the runtime is dropped, never hang.
#[test]
fn spawn_and_wake_from_a_domain_local_drop_do_not_strand_tasks() {
    let _wd = Watchdog::new("spawn_and_wake_from_a_domain_local_drop_do_not_strand_tasks");
    type Handles = Mutex<Vec<trellis::JoinHandle<u8>>>;
    static SPAWNED: Handles = Mutex::new(Vec::new());
    static DROPPED_FUTURES: AtomicUsize = AtomicUsize::new(0);
    struct CountDrop;
    impl Drop for CountDrop {
        fn drop(&mut self) {
            DROPPED_FUTURES.fetch_add(1, SeqCst);
        }
    }
    struct OnDrop(RefCell<Option<tokio::sync::oneshot::Sender<()>>>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            // Wakes the parked stealable task below.
            drop(self.0.borrow_mut().take());
            // Spawns from the domain's thread after its pinned tasks are gone.
            let c = CountDrop; // moved in: dropped with the future even if it never runs
            let h = trellis::spawn(async move {
                let _c = c;
                1u8
            });
            SPAWNED.lock().unwrap().push(h);
        }
    }
    trellis::domain_local! {
        static HOOK: OnDrop = OnDrop(RefCell::new(None));
    }
    let rt = support::rt_named(1, "trl-dlocA");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let waiting = Arc::new(AtomicUsize::new(0));
    let w2 = waiting.clone();
    let parked = rt.spawn(async move {
        let _c = CountDrop;
        w2.store(1, SeqCst);
        let _ = rx.await;
        2u8
    });
    assert!(wait_until(LIMIT, || waiting.load(SeqCst) == 1));
    on(&rt, 0, move || HOOK.with(|h| *h.0.borrow_mut() = Some(tx)));
    drop(rt);
    // Neither may hang: each is cancelled (or ran) and its future dropped.
    let woken_done = wait_until(Duration::from_secs(5), || parked.is_finished());
    let spawned = SPAWNED.lock().unwrap().pop().expect("the Drop ran");
    let spawned_done = wait_until(Duration::from_secs(5), || spawned.is_finished());
    assert!(
        woken_done && spawned_done,
        "tasks stranded at shutdown (never dropped, their handles would hang): woken by a \
         domain-local's Drop finished: {woken_done}; spawned from it finished: {spawned_done}"
    );
    assert_eq!(DROPPED_FUTURES.load(SeqCst), 2);
}

/// Domain-locals whose `Drop` uses other domain-locals (a cache flushing into a log, the log
/// reporting to a metrics value): at shutdown each must be dropped once, on its domain, seeing
/// the values it depends on, never re-initialising one nor panicking on a worker thread.
/// Init order gives a safe drop order: a value whose init used another was created after it.
#[test]
fn domain_local_drops_may_use_the_domain_locals_they_depend_on() {
    let _wd = Watchdog::new("domain_local_drops_may_use_the_domain_locals_they_depend_on");
    static INITS: [AtomicUsize; 3] = [const { AtomicUsize::new(0) }; 3];
    static DROPS_OFF_DOMAIN: AtomicUsize = AtomicUsize::new(0);
    static FLUSHED: AtomicUsize = AtomicUsize::new(0);
    struct Metrics(Cell<usize>);
    struct Log(Cell<usize>);
    struct Cache;
    fn check_domain() {
        if trellis::domain::current().is_none() {
            DROPS_OFF_DOMAIN.fetch_add(1, SeqCst);
        }
    }
    impl Drop for Metrics {
        fn drop(&mut self) {
            check_domain();
            FLUSHED.fetch_add(self.0.get(), SeqCst);
        }
    }
    impl Drop for Log {
        fn drop(&mut self) {
            check_domain();
            let n = self.0.get();
            METRICS.with(|m| m.0.set(m.0.get() + n));
        }
    }
    impl Drop for Cache {
        fn drop(&mut self) {
            check_domain();
            LOG.with(|l| l.0.set(l.0.get() + 1));
        }
    }
    trellis::domain_local! {
        static METRICS: Metrics = { INITS[0].fetch_add(1, SeqCst); Metrics(Cell::new(0)) };
        static LOG: Log = {
            INITS[1].fetch_add(1, SeqCst);
            METRICS.with(|_| ()); // depends on METRICS: created after it
            Log(Cell::new(0))
        };
        static CACHE: Cache = {
            INITS[2].fetch_add(1, SeqCst);
            LOG.with(|_| ()); // depends on LOG
            Cache
        };
    }
    let mut domains = 0;
    for _ in 0..5 {
        let rt = support::rt_named(4, "trl-dlocB");
        for i in 0..4 {
            on(&rt, i, || CACHE.with(|_| ()));
        }
        domains += 4;
        drop(rt);
    }
    let inits: Vec<_> = INITS.iter().map(|i| i.load(SeqCst)).collect();
    assert_eq!(
        inits,
        vec![domains; 3],
        "each value created once per domain"
    );
    assert_eq!(
        DROPS_OFF_DOMAIN.load(SeqCst),
        0,
        "dropped outside its domain context"
    );
    assert_eq!(
        FLUSHED.load(SeqCst),
        domains,
        "every cache flush reached its metrics"
    );
}

#[test]
fn a_panicking_init_is_not_cached() {
    let _wd = Watchdog::new("a_panicking_init_is_not_cached");
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    trellis::domain_local! {
        static FLAKY: u32 = {
            if CALLS.fetch_add(1, SeqCst) == 0 {
                panic!("first init fails");
            }
            7
        };
    }
    let rt = support::rt_named(1, "trl-dlocC");
    let err = rt
        .block_on(rt.spawn_on(d(0), || async { FLAKY.with(|v| *v) }))
        .unwrap_err();
    assert_eq!(panic_message(&*err.into_panic()), "first init fails");
    assert_eq!(on(&rt, 0, || FLAKY.with(|v| *v)), 7);
    assert_eq!(on(&rt, 0, || FLAKY.with(|v| *v)), 7);
    assert_eq!(CALLS.load(SeqCst), 2);
}

/// Issue 10, defect 11: a domain-local whose `Drop` reads the same domain-local made shutdown
/// spin forever (drop, re-create, drop ...). Re-creating a value that teardown already dropped
/// is refused: `with` panics with a message (the panic is contained by the teardown), so the
/// value is created and dropped exactly once and shutdown completes.
#[test]
fn domain_local_drop_reading_itself_does_not_recreate_it() {
    let _wd = Watchdog::new("domain_local_drop_reading_itself_does_not_recreate_it");
    static INITS: AtomicUsize = AtomicUsize::new(0);
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    static REFUSED: Mutex<Option<String>> = Mutex::new(None);
    struct ReadsItself(u32);
    impl Drop for ReadsItself {
        fn drop(&mut self) {
            if DROPS.fetch_add(1, SeqCst) > 10 {
                return; // the defect: keep the old code's spin from growing forever
            }
            let r = catch_unwind(|| SELF_READER.with(|v| v.0));
            if let Err(payload) = r {
                *REFUSED.lock().unwrap() = Some(panic_message(&*payload));
            }
        }
    }
    trellis::domain_local! {
        static SELF_READER: ReadsItself = {
            INITS.fetch_add(1, SeqCst);
            ReadsItself(7)
        };
    }
    let rt = support::rt_named(1, "trl-dlself");
    assert_eq!(on(&rt, 0, || SELF_READER.with(|v| v.0)), 7);
    {
        // A hang here (the old drop / re-create spin) is the test's watchdog's to report.
        let _shutdown = Watchdog::new("shutdown: a domain-local's Drop re-created it");
        drop(rt);
    }
    assert_eq!(INITS.load(SeqCst), 1, "re-created during teardown");
    assert_eq!(DROPS.load(SeqCst), 1, "dropped more than once");
    let msg = REFUSED
        .lock()
        .unwrap()
        .clone()
        .expect("the use in Drop was refused");
    assert!(msg.contains("shut"), "unclear message: {msg}");
}

/// `try_with` is how a `Drop` reads a domain-local that may be gone: `Err` during teardown
/// once that value was dropped, and outside a domain; `Ok` for a value not yet dropped.
#[test]
fn domain_local_try_with_reports_a_dropped_value_at_teardown() {
    let _wd = Watchdog::new("domain_local_try_with_reports_a_dropped_value_at_teardown");
    static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
    struct Older(u32);
    struct Newer;
    impl Drop for Newer {
        // Dropped first (newest first): its own value is gone, the older one is still there.
        fn drop(&mut self) {
            let own = NEWER.try_with(|_| ()).is_ok();
            let older = OLDER.try_with(|o| o.0);
            SEEN.lock()
                .unwrap()
                .push(format!("newer: own {own}, older {older:?}"));
        }
    }
    trellis::domain_local! {
        static OLDER: Older = Older(3);
        static NEWER: Newer = { OLDER.with(|_| ()); Newer };
    }
    assert!(OLDER.try_with(|o| o.0).is_err(), "outside a domain");
    let rt = support::rt_named(1, "trl-dltry");
    on(&rt, 0, || NEWER.with(|_| ()));
    {
        let _shutdown = Watchdog::new("shutdown of a runtime whose domain-locals read each other");
        drop(rt);
    }
    assert_eq!(*SEEN.lock().unwrap(), ["newer: own false, older Ok(3)"]);
}
