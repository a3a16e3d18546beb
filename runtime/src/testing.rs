//! Test helpers, as in `trio.testing`: [`wait_all_tasks_blocked`] on a paused clock. (The
//! `Sequencer` of `trio.testing` is `trellis::util::Sequencer`.)
//!
//! # Protocol: waking the waiters instead of jumping
//!
//! A paused clock jumps when the worker in the driver finds every participant asleep and
//! claims the jump (`time/clock.rs`, rule 3): at that moment no task is runnable. The waiters
//! of [`wait_all_tasks_blocked`] are registered here, per runtime; at such a claimed moment,
//! the driver wakes them *instead of* jumping (`scheduler/driver.rs`), so they return with the
//! clock unchanged, and the jump happens at the next moment everything is blocked again, if no
//! waiter is left. The driver is a counted participant when it wakes them (rule 2). A pending
//! waiter counts as a pending timer for the driver's last sleeper (it looks again at once
//! instead of blocking), and a waiter registers while its own thread is counted, so the last
//! participant to sleep after it makes the driver look (rule 4).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::scheduler::{Shared, context};

/// One pending [`wait_all_tasks_blocked`].
struct Waiter {
    /// The runtime (the address of its shared state; compared only).
    runtime: usize,
    id: u64,
    woken: Arc<AtomicBool>,
    waker: Waker,
}

/// Pending waiters of every runtime; `PENDING` counts them (the driver's fast path).
static WAITERS: Mutex<Vec<Waiter>> = Mutex::new(Vec::new());
static PENDING: AtomicUsize = AtomicUsize::new(0);

fn waiters() -> MutexGuard<'static, Vec<Waiter>> {
    // No critical section panics.
    WAITERS.lock().unwrap_or_else(|e| e.into_inner())
}

fn key(shared: &Shared) -> usize {
    std::ptr::from_ref(shared).addr()
}

/// Does `shared` have a pending waiter? (The driver's last sleeper then looks at once.)
pub(crate) fn has_blocked_waiters(shared: &Shared) -> bool {
    PENDING.load(Ordering::SeqCst) > 0 && waiters().iter().any(|w| w.runtime == key(shared))
}

/// Every task of `shared` is blocked (a claimed jump): wakes its waiters. Returns `true` if
/// there were any (the driver then does not jump this time).
pub(crate) fn wake_blocked_waiters(shared: &Shared) -> bool {
    if PENDING.load(Ordering::SeqCst) == 0 {
        return false;
    }
    let runtime = key(shared);
    let woken: Vec<Waiter> = {
        let mut all = waiters();
        let (mine, others) = std::mem::take(&mut *all)
            .into_iter()
            .partition(|w| w.runtime == runtime);
        *all = others;
        PENDING.store(all.len(), Ordering::SeqCst);
        mine
    };
    for w in &woken {
        w.woken.store(true, Ordering::SeqCst);
    }
    let any = !woken.is_empty();
    for w in woken {
        w.waker.wake();
    }
    any
}

/// Waits until every other task of the runtime is blocked: none is runnable, and only a
/// timer or a wake from outside could make one runnable. Trio's
/// `trio.testing.wait_all_tasks_blocked()`. The clock does not move meanwhile: on a paused
/// clock the moment "everything is blocked" is the one at which the clock would jump, and
/// the waiters return instead; the jump comes at the next such moment.
///
/// Several waiters all return at the same moment. Typical use: start tasks, wait until they
/// have all reached their blocking point, then check or poke them.
///
/// # Panics
///
/// The returned future panics if polled outside a Trellis runtime, or on a runtime whose clock
/// is not paused ([`Builder::start_paused`](crate::Builder::start_paused)).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// let rt = trellis::Runtime::builder().workers(2).start_paused(true).build().unwrap();
/// rt.block_on(async {
///     let (tx, rx) = trellis::channel::bounded::<()>(0);
///     let waiting = Arc::new(AtomicUsize::new(0));
///     for _ in 0..3 {
///         let (rx, waiting) = (rx.clone(), waiting.clone());
///         drop(trellis::spawn(async move {
///             waiting.fetch_add(1, Ordering::SeqCst);
///             let _ = rx.recv().await; // blocks until closed
///         }));
///     }
///     trellis::testing::wait_all_tasks_blocked().await;
///     assert_eq!(waiting.load(Ordering::SeqCst), 3); // all three are parked in `recv`
///     drop(tx);
/// });
/// ```
///
/// # Cancellation
///
/// A checkpoint; dropping it unregisters the waiter.
pub fn wait_all_tasks_blocked() -> WaitAllTasksBlocked {
    WaitAllTasksBlocked {
        registered: None,
        woken: Arc::new(AtomicBool::new(false)),
    }
}

/// The future of [`wait_all_tasks_blocked`].
///
/// # Examples
///
/// ```
/// let rt = trellis::Runtime::builder().workers(1).start_paused(true).build().unwrap();
/// rt.block_on(async {
///     let wait: trellis::testing::WaitAllTasksBlocked = trellis::testing::wait_all_tasks_blocked();
///     wait.await;
/// });
/// ```
///
/// # Cancellation
///
/// As [`wait_all_tasks_blocked`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
#[derive(Debug)]
pub struct WaitAllTasksBlocked {
    /// `(runtime, id)` once registered.
    registered: Option<(usize, u64)>,
    woken: Arc<AtomicBool>,
}

impl Future for WaitAllTasksBlocked {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if crate::scope::is_cancelled() {
            return Poll::Pending; // a checkpoint: the enclosing scope drops us now
        }
        if self.woken.load(Ordering::SeqCst) {
            self.registered = None; // the driver took it out of the list
            return Poll::Ready(());
        }
        let mut all = waiters();
        match self.registered {
            Some((runtime, id)) => {
                if let Some(w) = all.iter_mut().find(|w| w.runtime == runtime && w.id == id) {
                    if !w.waker.will_wake(cx.waker()) {
                        w.waker = cx.waker().clone();
                    }
                }
            }
            None => {
                let runtime = context::with_runtime(|rt| match rt {
                    Some(rt) if rt.clock.is_paused() => key(rt),
                    Some(_) => panic!(
                        "`trellis::testing::wait_all_tasks_blocked` needs a paused clock: build \
                         the runtime with `Builder::start_paused(true)`"
                    ),
                    None => panic!(
                        "`trellis::testing::wait_all_tasks_blocked` polled outside a Trellis \
                         runtime"
                    ),
                });
                static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
                all.push(Waiter {
                    runtime,
                    id,
                    woken: self.woken.clone(),
                    waker: cx.waker().clone(),
                });
                PENDING.store(all.len(), Ordering::SeqCst);
                drop(all);
                self.registered = Some((runtime, id));
            }
        }
        Poll::Pending
    }
}

impl Drop for WaitAllTasksBlocked {
    fn drop(&mut self) {
        if let Some((runtime, id)) = self.registered.take() {
            let removed = {
                let mut all = waiters();
                let at = all.iter().position(|w| w.runtime == runtime && w.id == id);
                let removed = at.map(|i| all.swap_remove(i));
                PENDING.store(all.len(), Ordering::SeqCst);
                removed
            };
            drop(removed); // the waker outside the lock
        }
    }
}
