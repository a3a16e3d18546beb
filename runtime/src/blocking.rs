//! The blocking pool: an elastic set of threads for `spawn_blocking`, so blocking work never
//! stalls a worker.
//!
//! A blocking call is an ordinary task (one allocation, the same `JoinHandle`) whose route is
//! the pool: its entry goes to the pool's queue instead of a worker's. A job wakes an idle
//! thread if there is one, or starts a new thread while fewer than `max_threads` exist; beyond
//! that it waits in the queue. A thread idle for `keep_alive` exits. At shutdown queued jobs are
//! cancelled (their closures dropped unrun) and running ones are joined (up to the deadline of
//! `shutdown_timeout`).
//!
//! # Wake-up accounting
//!
//! Everything below happens under the `state` lock.
//!
//! - `threads`: pool threads started and not yet exited (running a job, waiting, or about to
//!   exit).
//! - `idle`: threads waiting on `work` that no push has claimed.
//! - `notified`: claims not yet consumed: pushes that took a thread out of `idle` and signalled
//!   `work` for it.
//!
//! 1. `push` queues the job, then: if `idle > 0` it **claims** a waiting thread (`idle -= 1`,
//!    `notified += 1`) and signals `work` once; else, below the cap, it starts a thread.
//! 2. A waiting thread that wakes (signal, timeout or spurious) first looks at `notified`: if a
//!    claim is pending it consumes it (`notified -= 1`) and goes back to the queue. Any waiting
//!    thread may consume any claim: the threads are interchangeable, and the counts stay exact
//!    (`idle + notified` = threads in the wait).
//! 3. With no claim pending the thread is still counted in `idle`: on shutdown or on a
//!    keep-alive timeout with an empty queue it leaves (`idle -= 1`, `threads -= 1`); on a
//!    spurious wake it waits again.
//!
//! Why the claim is taken by the pusher: if the woken thread decremented `idle` itself (after
//! re-taking the lock), a second push in between would still see `idle > 0` and signal the
//! same, already signalled thread instead of starting one. The second job would then wait for
//! the first to finish, a deadlock when the first waits for the second, and a burst of jobs
//! would never grow the pool towards its cap.
//!
//! # Shutdown from a pool thread
//!
//! `join` waits until every pool thread but the caller has exited: a job that drops the last
//! `Runtime` runs on a pool thread, which counts itself in `threads` until its job returns. Its
//! own `JoinHandle` stays detached; the thread exits once the job returns (the queue is empty
//! and `shutdown` is set).

use std::cell::Cell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::ptr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use crate::scheduler::context::RuntimeGuard;
use crate::task::Notified;

/// The pool; cheap to clone (threads hold a clone).
#[derive(Clone)]
pub(crate) struct BlockingPool {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    /// Signalled when a job is queued or shutdown starts.
    work: Condvar,
    /// Signalled when a thread exits.
    exited: Condvar,
    max_threads: usize,
    keep_alive: Duration,
    thread_name: String,
}

struct State {
    queue: VecDeque<Notified>,
    /// Threads started and not yet exited.
    threads: usize,
    /// Threads waiting for work that no push has claimed.
    idle: usize,
    /// Claims made by pushes (step 1) and not yet consumed by a waking thread (step 2).
    notified: usize,
    shutdown: bool,
    handles: Vec<thread::JoinHandle<()>>,
}

impl BlockingPool {
    pub(crate) fn new(max_threads: usize, keep_alive: Duration, thread_name: String) -> Self {
        BlockingPool {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    threads: 0,
                    idle: 0,
                    notified: 0,
                    shutdown: false,
                    handles: Vec::new(),
                }),
                work: Condvar::new(),
                exited: Condvar::new(),
                max_threads,
                keep_alive,
                thread_name,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Jobs run outside the lock; no critical section panics.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a job, starting a thread if none is idle and the cap allows.
    pub(crate) fn push(&self, task: Notified) {
        let mut state = self.lock();
        if state.shutdown {
            drop(state);
            task.cancel();
            return;
        }
        state.queue.push_back(task);
        if state.idle > 0 {
            // Step 1: claim a waiting thread now, so the next push cannot count it again.
            state.idle -= 1;
            state.notified += 1;
            drop(state);
            self.inner.work.notify_one();
        } else if state.threads < self.inner.max_threads {
            state.threads += 1;
            state.handles.retain(|h| !h.is_finished());
            let pool = self.clone();
            let spawned = thread::Builder::new()
                .name(self.inner.thread_name.clone())
                .spawn(move || pool.run_thread());
            match spawned {
                Ok(handle) => state.handles.push(handle),
                Err(_) => {
                    // Out of threads: the job waits for a running thread to take it. With none
                    // running it would never run, so fail it loudly instead of hanging.
                    state.threads -= 1;
                    if state.threads == 0 {
                        let task = state.queue.pop_back();
                        drop(state);
                        if let Some(task) = task {
                            task.cancel();
                        }
                    }
                }
            }
        }
    }

    fn run_thread(self) {
        CURRENT_POOL.with(|p| p.set(Arc::as_ptr(&self.inner)));
        let mut state = self.lock();
        'run: loop {
            if let Some(task) = state.queue.pop_front() {
                drop(state);
                // Inside the job, `spawn` and friends find the task's runtime.
                let shared = task.header().scheduler.clone();
                let runtime = RuntimeGuard::enter(shared.clone());
                task.run();
                drop(runtime);
                shared.leave_clock(); // counted in by `Shared::schedule`
                state = self.lock();
                continue;
            }
            if state.shutdown {
                break;
            }
            state.idle += 1;
            loop {
                let (guard, timeout) = self
                    .inner
                    .work
                    .wait_timeout(state, self.inner.keep_alive)
                    .unwrap_or_else(|e| e.into_inner());
                state = guard;
                if state.notified > 0 {
                    // Step 2: a push claimed a waiting thread; this one serves it.
                    state.notified -= 1;
                    continue 'run;
                }
                // Step 3: unclaimed, so still counted idle.
                if state.shutdown || (timeout.timed_out() && state.queue.is_empty()) {
                    state.idle -= 1;
                    break 'run;
                }
                if !state.queue.is_empty() {
                    // A job queued while every thread was claimed or busy at the cap: take it.
                    state.idle -= 1;
                    continue 'run;
                }
            }
        }
        state.threads -= 1;
        drop(state);
        self.inner.exited.notify_all();
    }

    /// Stops accepting jobs and cancels the queued ones.
    pub(crate) fn begin_shutdown(&self) {
        let queued: Vec<Notified> = {
            let mut state = self.lock();
            state.shutdown = true;
            state.queue.drain(..).collect()
        };
        self.inner.work.notify_all();
        for task in queued {
            task.cancel();
        }
    }

    /// Waits for every pool thread to exit (until `deadline`, if any), joining them.
    ///
    /// Called from one of this pool's threads (a job dropped the last `Runtime`), it waits for
    /// the others only: the caller exits once its job returns.
    pub(crate) fn join(&self, deadline: Option<Instant>) {
        let on_pool_thread = CURRENT_POOL.with(|p| ptr::eq(p.get(), Arc::as_ptr(&self.inner)));
        let me = usize::from(on_pool_thread);
        let mut state = self.lock();
        while state.threads > me {
            state = match deadline {
                None => self
                    .inner
                    .exited
                    .wait(state)
                    .unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return; // stragglers stay detached
                    }
                    self.inner
                        .exited
                        .wait_timeout(state, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
        let handles = std::mem::take(&mut state.handles);
        drop(state);
        let current = thread::current().id();
        for handle in handles {
            if handle.thread().id() != current {
                let _ = handle.join();
            }
        }
    }
}

thread_local! {
    /// The pool whose thread this is (null on other threads); compared by address only.
    static CURRENT_POOL: Cell<*const Inner> = const { Cell::new(ptr::null()) };
}

/// The future of a blocking task: runs the closure on its first poll.
pub(crate) struct BlockingTask<F> {
    func: Option<F>,
}

impl<F> BlockingTask<F> {
    pub(crate) fn new(func: F) -> Self {
        BlockingTask { func: Some(func) }
    }
}

impl<F> Unpin for BlockingTask<F> {}

impl<F: FnOnce() -> T, T> Future for BlockingTask<F> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<T> {
        let func = self
            .func
            .take()
            .expect("a blocking task is polled once: it runs to completion");
        Poll::Ready(func())
    }
}
