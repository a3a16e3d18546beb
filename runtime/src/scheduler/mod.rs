//! The work-stealing scheduler: shared state, task submission, spawning and shutdown.
//!
//! # Queues
//!
//! - Each worker owns a crossbeam-deque FIFO `Worker` (its *local queue*) whose `Stealer` every
//!   other worker may take half of.
//! - Each worker has a **LIFO slot**, an `AtomicPtr` that holds the task most recently spawned
//!   or woken by the running task, which the worker runs next (up to [`MAX_LIFO_POLLS`] in a row)
//!   for cache locality and cheap message passing. Unlike tokio's, the slot is *stealable*: a
//!   searching worker takes a task out of a busy worker's slot once the owner has been in the
//!   same poll for a whole search round (its poll tick did not move). This is what keeps
//!   `let h = spawn(a); b(); h.await` parallel (ARCHITECTURE.md, guarantee G15) without waking a worker
//!   on every chained spawn.
//! - A global crossbeam-deque `Injector` takes spawns and wakes from outside the workers
//!   (`block_on`, plain threads, the blocking pool). Workers check it every
//!   [`GLOBAL_QUEUE_INTERVAL`] ticks and right after a task yielded, for fairness, and
//!   whenever they run dry.
//! - A task woken during its own poll (a yield) goes to the back of the local queue.
//!
//! Idle workers follow the protocol in `idle.rs`; parking is in `park.rs`; who looks at the
//! timers, and the driver role, in `driver.rs`; the loop is in `worker.rs`; chaos mode, the
//! seeded perturbation of the loop's choices for tests, in `chaos.rs`.
//!
//! # Shutdown
//!
//! `Runtime` drop: set `shutdown` (`SeqCst`), unpark every worker, join them (each cancels what
//! its local queue and LIFO slot still hold, on its own thread), cancel what the injector holds,
//! close the owned-task list and cancel every task left in it that nobody runs or queues.
//! With `shutdown_timeout`, workers still in a poll at the deadline are detached; their local
//! queues and LIFO slots hold only stealable (`Send`) entries, so the shutting-down thread
//! steals and cancels those itself; their pinned queues stay theirs, drained by the stuck
//! worker when its poll returns.
//! A wake that reaches the injector after the drain sees `shutdown` (push, `SeqCst` fence, read
//! flag; the shutdown side stores the flag before draining) and cancels the entry itself, so no
//! task is stranded in a queue nobody reads.

pub(crate) mod chaos;
pub(crate) mod context;
pub(crate) mod coop;
mod driver;
mod idle;
pub(crate) mod park;
pub(crate) mod worker;

use crate::time::clock::{self, Clock};
use std::future::Future;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, Ordering, fence};
use std::sync::{Arc, Mutex};

use crossbeam_deque::{Injector, Steal, Stealer};
use crossbeam_utils::CachePadded;

use crate::blocking::BlockingPool;
use crate::domain::home::Mailbox;
use crate::instrument::{Instruments, TaskName};
use crate::io::Reactor;
use crate::task::owned::OwnedTasks;
use crate::task::schedule::Schedule;
use crate::task::{Header, JoinHandle, NoLink, Notified, QueueLink, RawTask, Route, new_task};
use crate::time::TimerQueue;
use driver::DriverRole;
use idle::Idle;
use park::Parker;

pub(crate) use crate::tuning::{GLOBAL_QUEUE_INTERVAL, MAX_LIFO_POLLS};

/// What other threads may touch of one worker.
pub(crate) struct Remote {
    stealer: Stealer<Notified>,
    /// The LIFO slot: null, or an owned queue-entry reference.
    lifo: AtomicPtr<Header>,
    /// Bumped by the owner before each poll; a searcher that sees it unchanged over a search
    /// round knows the owner is stuck in one poll, and may take its LIFO slot.
    poll_tick: AtomicU32,
    parker: Parker,
    /// This worker's domain, as other threads see it (`domain/home.rs`).
    mailbox: Mailbox,
}

/// State shared by the workers, the runtime handle, every task and every waker.
pub(crate) struct Shared {
    pub(crate) owned: OwnedTasks,
    injector: Injector<Notified>,
    remotes: Box<[CachePadded<Remote>]>,
    idle: Idle,
    /// The I/O reactor and its poller: the one parked worker holding the driver role blocks in
    /// it with the nearest timer as timeout (`driver.rs`, `io/reactor.rs`).
    pub(crate) reactor: Reactor,
    driver_role: DriverRole,
    /// The poller's event buffer; locked only by the driver role's holder.
    driver: Mutex<crate::io::Events>,
    pub(crate) timers: TimerQueue,
    /// The system clock, or a paused virtual one (`time/clock.rs`).
    pub(crate) clock: Clock,
    /// Hooks around task events (`instrument.rs`); usually empty.
    pub(crate) instruments: Instruments,
    /// The roots of the task tree, when recorded (`Builder::task_tree`, `tree.rs`).
    pub(crate) tree: Option<crate::tree::Roots>,
    shutdown: AtomicBool,
    pub(crate) blocking: BlockingPool,
    /// Chaos mode's seed (`chaos.rs`), `None` when off.
    pub(crate) chaos: Option<u64>,
}

impl Shared {
    /// Shared state for workers with these local queues and domain mailboxes.
    pub(crate) fn new(
        workers: &[crossbeam_deque::Worker<Notified>],
        mailboxes: Vec<Mailbox>,
        blocking: BlockingPool,
        paused: bool,
        mut instruments: Instruments,
        tree: bool,
        chaos: Option<u64>,
    ) -> std::io::Result<Shared> {
        if tree {
            instruments.keep_names();
        }
        let n = workers.len();
        let clock = Clock::new(paused, n);
        Ok(Shared {
            owned: OwnedTasks::new(n),
            injector: Injector::new(),
            remotes: workers
                .iter()
                .zip(mailboxes)
                .map(|(w, mailbox)| {
                    CachePadded::new(Remote {
                        stealer: w.stealer(),
                        lifo: AtomicPtr::new(ptr::null_mut()),
                        poll_tick: AtomicU32::new(0),
                        parker: Parker::new(),
                        mailbox,
                    })
                })
                .collect(),
            idle: Idle::new(n),
            reactor: Reactor::new()?,
            driver_role: DriverRole::new(),
            driver: Mutex::new(crate::io::Events::with_capacity(64)),
            timers: TimerQueue::new(n, clock.origin()),
            clock,
            instruments,
            tree: tree.then(crate::tree::Roots::default),
            shutdown: AtomicBool::new(false),
            blocking,
            chaos,
        })
    }

    pub(crate) fn workers(&self) -> usize {
        self.remotes.len()
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed)
    }

    /// Submits a queue entry. `is_yield`: the task woke itself during its poll.
    fn schedule(&self, task: Notified, is_yield: bool) {
        if !self.instruments.is_empty() {
            // SAFETY: the entry's reference keeps the task alive.
            unsafe {
                self.instruments
                    .each(task.ptr(), |i, t| i.task_scheduled(t))
            };
        }
        let route = task.header().route;
        if route == Route::BLOCKING {
            // A queued or running blocking job holds a paused clock (it may be about to wake a
            // task); the pool's thread calls `leave_clock` after the job ran.
            clock::enter(self.clock.busy());
            return self.blocking.push(task);
        }
        if let Some(domain) = route.domain() {
            return self.schedule_pinned(domain, task);
        }
        let local = context::with_core(|core| match core {
            Some(core) if ptr::eq(&*core.shared, self) => {
                core.schedule_local(task, is_yield);
                None
            }
            _ => Some(task),
        });
        if let Some(task) = local {
            self.schedule_remote(task);
        }
    }

    /// A pinned entry goes to its domain only: the local pinned queue on the home thread, else
    /// the domain's inbox plus an unpark of its worker (whose park re-checks the inbox).
    fn schedule_pinned(&self, domain: usize, task: Notified) {
        let task = context::with_core(|core| match core {
            Some(core) if ptr::eq(&*core.shared, self) && core.index() == domain => {
                core.home.push(task);
                None
            }
            _ => Some(task),
        });
        if let Some(task) = task {
            self.remotes[domain].mailbox.send(task);
            self.unpark(domain);
        }
    }

    /// Spawns a task pinned to `domain` (validated by the caller).
    pub(crate) fn spawn_pinned<F>(
        self: &Arc<Self>,
        domain: usize,
        future: F,
        name: Option<TaskName>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let open = self.remotes[domain].mailbox.count_in();
        let (notified, join) =
            new_task::<_, QueueLink>(future, self.clone(), Route::pinned(domain));
        self.spawned(&notified, name);
        if !open {
            // The domain's worker has exited (shutdown): cancel here. The future was never
            // polled, so this drops only what the spawner moved in (a `Send` closure for
            // `spawn_on`); completing counts it out and unparks the worker.
            notified.cancel();
        } else {
            self.schedule(notified, false);
        }
        join
    }

    /// A pinned task completed (on its home thread, or cancelled unpolled after its domain
    /// closed): the domain's worker may be waiting for the count to reach zero to exit.
    fn pinned_completed(&self, domain: usize) {
        if self.remotes[domain].mailbox.count_out() && self.is_shutdown() {
            self.unpark(domain);
        }
    }

    /// Cancels a task popped from the owned list, on the calling thread if nobody runs or
    /// queues it (else its runner or queue does).
    pub(crate) fn shutdown_owned(&self, task: RawTask) {
        if task.header().state.transition_to_shutdown() {
            // SAFETY: we own the future now (RUNNING | CANCELLED) and the list's reference,
            // which `shutdown` consumes.
            unsafe { (task.header().vtable.shutdown)(task.ptr()) }
        } else {
            // SAFETY: `pop` handed us the list's reference; release it.
            drop(unsafe { Notified::from_raw(task) });
        }
    }

    pub(crate) fn schedule_remote(&self, task: Notified) {
        self.injector.push(task);
        // Pairs with the fence in `begin_shutdown`: either we see the flag, or the shutdown's
        // drain sees our push.
        fence(Ordering::SeqCst);
        if self.shutdown.load(Ordering::Relaxed) {
            self.drain_injector();
        } else {
            self.notify_parked();
        }
    }

    /// Wakes one sleeping worker if nobody is searching (idle rule 1).
    pub(crate) fn notify_parked(&self) {
        fence(Ordering::SeqCst);
        if let Some(index) = self.idle.worker_to_notify() {
            self.unpark(index);
        }
    }

    /// Wakes the worker parked in the driver so it re-reads the nearest deadline.
    pub(crate) fn notify_driver(&self) {
        self.reactor.notify();
    }

    /// A participant of the paused clock stops counting (a `block_on` exit, a finished
    /// blocking job); the last one makes the driver look for a jump.
    pub(crate) fn leave_clock(&self) {
        if clock::leave(self.clock.busy()) {
            self.notify_driver();
        }
    }

    fn unpark(&self, index: usize) {
        self.remotes[index]
            .parker
            .unpark(self.clock.busy(), || self.reactor.notify());
    }

    /// Idle rules 3b and 4: is there a task anywhere that a sleeping worker should take?
    fn has_pending_work(&self) -> bool {
        !self.injector.is_empty()
            || self
                .remotes
                .iter()
                .any(|r| !r.stealer.is_empty() || !r.lifo.load(Ordering::Acquire).is_null())
    }

    /// Takes a batch from the injector into `dest`, returning one task.
    fn steal_injector(&self, dest: &crossbeam_deque::Worker<Notified>) -> Option<Notified> {
        if self.injector.is_empty() {
            return None;
        }
        loop {
            match self.injector.steal_batch_and_pop(dest) {
                Steal::Success(task) => return Some(task),
                Steal::Empty => return None,
                Steal::Retry => std::hint::spin_loop(),
            }
        }
    }

    /// Cancels every entry in the injector (shutdown).
    fn drain_injector(&self) {
        loop {
            match self.injector.steal() {
                Steal::Success(task) => task.cancel(),
                Steal::Empty => return,
                Steal::Retry => std::hint::spin_loop(),
            }
        }
    }

    /// Starts shutdown: no worker runs a new task after its current poll.
    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        for index in 0..self.remotes.len() {
            self.unpark(index);
        }
    }

    /// Finishes shutdown once the workers have stopped (or the deadline passed): cancels every
    /// task left in the injector, in the workers' local queues and LIFO slots, in the blocking
    /// pool's queue and in the owned list.
    pub(crate) fn finish_shutdown(&self, deadline: Option<std::time::Instant>) {
        self.drain_injector();
        self.drain_worker_queues();
        self.blocking.begin_shutdown();
        // Stealable tasks only: pinned ones are cancelled by their own workers.
        self.owned.close_stealable();
        while let Some(task) = self.owned.pop_stealable() {
            self.shutdown_owned(task);
        }
        // Dropping a future may have woken or spawned others.
        self.drain_injector();
        self.drain_worker_queues();
        self.blocking.join(deadline);
    }

    /// Cancels, on the calling thread, the stealable entries still in any worker's local queue
    /// or LIFO slot: those of a worker stuck in a long poll past `shutdown_timeout`'s deadline,
    /// which would otherwise stay alive until that poll returns. They are `Send` (only
    /// stealable tasks enter these queues; pinned ones wait in their domain's own queue, which
    /// only the home worker may drop), and a stuck worker racing us for an entry is fine: the
    /// deque and the slot hand each entry to exactly one side, which cancels it.
    fn drain_worker_queues(&self) {
        for remote in &*self.remotes {
            while let Some(task) = worker::take_slot(&remote.lifo) {
                task.cancel();
            }
            loop {
                match remote.stealer.steal() {
                    Steal::Success(task) => task.cancel(),
                    Steal::Empty => break,
                    Steal::Retry => std::hint::spin_loop(),
                }
            }
        }
    }

    /// Spawns `future` with the given route; the task lands in the current worker's LIFO slot
    /// when called from a worker of this runtime, else in the injector.
    pub(crate) fn spawn<F>(
        self: &Arc<Self>,
        future: F,
        route: Route,
        name: Option<TaskName>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let (notified, join) = new_task::<_, NoLink>(future, self.clone(), route);
        self.spawned(&notified, name);
        // After shutdown began, the entry lands in a queue that the shutdown drains (or that
        // drains itself, see `schedule_remote`): the handle resolves to Cancelled.
        self.schedule(notified, false);
        join
    }
}

/// The scheduler side of the task seam (`task/schedule.rs`).
impl Schedule for Shared {
    #[inline]
    fn schedule(&self, task: Notified, is_yield: bool) {
        Shared::schedule(self, task, is_yield);
    }

    #[inline]
    fn owned(&self) -> &OwnedTasks {
        &self.owned
    }

    #[inline]
    fn shard_hint(&self) -> usize {
        shard_hint()
    }

    #[inline]
    fn release(&self, task: &Header) {
        if let Some(domain) = task.route.domain() {
            self.pinned_completed(domain);
        }
    }

    #[inline]
    fn hooks(&self) -> &Instruments {
        &self.instruments
    }

    #[inline]
    fn run_joined(&self, task: ptr::NonNull<Header>) -> bool {
        context::with_core(|core| match core {
            Some(core) if ptr::eq(&*core.shared, self) => core.run_joined(task),
            _ => false,
        })
    }
}

impl Shared {
    /// Records the task's name (if names are kept: for instruments or the task tree; else it
    /// is dropped here) and calls the `task_spawned` hook, if instrumented.
    fn spawned(&self, task: &Notified, name: Option<TaskName>) {
        if let Some(name) = name.filter(|_| self.instruments.keeps_names()) {
            self.instruments.set_name(task.ptr(), name);
        }
        if !self.instruments.is_empty() {
            // SAFETY: the entry's reference keeps the task alive.
            unsafe { self.instruments.each(task.ptr(), |i, t| i.task_spawned(t)) };
        }
    }
}

/// The owned-list shard hint of the current thread: its worker index on a worker, else a
/// per-thread number (for stealable tasks; pinned ones use their domain's shard).
pub(crate) fn shard_hint() -> usize {
    context::with_core(|core| match core {
        Some(core) => core.index(),
        None => worker::thread_shard_hint(),
    })
}

pub(crate) use crate::tuning::{PARK_SPIN, SEARCH_ROUNDS};
