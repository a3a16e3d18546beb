//! The worker loop: run local work, search, park.
//!
//! Each iteration first fires the due timers, if the cached earliest deadline has passed (one
//! atomic load without timers; `driver.rs`, rule 1), then takes the next task in this order:
//! the injector, every [`GLOBAL_QUEUE_INTERVAL`] ticks and right after a task yielded; the LIFO
//! slot (at most [`MAX_LIFO_POLLS`] times in a row); the local queue; a batch from the
//! injector; then it searches (steals from other workers, idle protocol in `idle.rs`) and
//! finally parks.
//!
//! A yielding task goes to the back of the local queue; looking at the injector before the
//! local queue after a yield puts it behind the tasks spawned or woken from outside the
//! workers too, so tasks started from `block_on` take turns with it (as in tokio and Trio),
//! instead of waiting for the next [`GLOBAL_QUEUE_INTERVAL`] tick.
//!
//! When a worker leaves its park with more than one runnable task in its own queues (timers
//! fired in the driver queue their tasks there while it still counts as parked, so nobody was
//! notified), it notifies another worker, counting the LIFO slot; then
//! it makes sure the driver role is not left vacant (`driver.rs`, rule b).
//!
//! # Waking a pinned task on another domain
//!
//! A wake from another thread puts the entry in the domain's inbox and unparks its worker
//! (`Shared::schedule_pinned`). Two things keep that cheap when the worker has only just run
//! out of work, as in a message exchange between tasks pinned on two domains:
//!
//! - **The search looks at the inbox.** Each search round first checks this worker's inbox and
//!   runs an entry at once (idle rule 3b in `idle.rs`: leaving the search for pinned work
//!   notifies another worker only if stealable work is pending), instead of finishing the
//!   search and parking only to find the unpark's token.
//! - **A short spin before sleeping** ([`PARK_SPIN`]). A worker that ran a pinned task since
//!   it last parked polls its park token for up to `PARK_SPIN` before it blocks
//!   (`Parker::spin`); purely stealable work parks exactly as before. It spins once listed as
//!   a sleeper (idle rule 4 done), so to the idle protocol it is asleep already: a notifier
//!   that wants a worker for stealable work takes it off the sleepers list and unparks it as
//!   any sleeper, and stealing and notification work exactly as without the spin; the unpark
//!   just costs the waker no futex or driver wake, and the woken worker no OS wake-up. The
//!   spin is adaptive: a worker spins only while at least [`SPIN_MIN_HITS`] of its last 8
//!   spins saw a token arrive, and otherwise probes (spins at every park) during one
//!   [`SPIN_PROBE_WINDOW`] in [`SPIN_PROBE_EVERY`], windows of wall-clock time shared by all
//!   workers, so two workers that gain only by spinning together probe together. So
//!   a worker whose sleeps are long (timers far apart, a runtime going idle), or whose waker
//!   cannot run while it spins (more runnable threads than cores), soon stops spinning; an
//!   idle runtime, whose workers sleep, does not spin at all.
//!
//! In chaos mode (`chaos.rs`, `Builder::chaos`) a seeded generator takes three of these
//! choices instead: the search's first victim, where `schedule_local` puts a task (LIFO slot,
//! back of the local queue, injector), and each poll's budget (an injected yield).
//!
//! The worker is also its domain's home (`domain/home.rs`): pinned tasks wait in a
//! non-stealable FIFO queue, fed by the worker itself and by its inbox (wakes and spawns from
//! other threads). When both the pinned queue and the stealable sources have work, the worker
//! alternates between them, so neither kind can starve the other (see `domain/mod.rs` for the
//! guarantee).

use std::cell::Cell;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crossbeam_deque::Steal;

use super::chaos::{Chaos, Placement};
use super::context::CoreGuard;
use super::{GLOBAL_QUEUE_INTERVAL, MAX_LIFO_POLLS, PARK_SPIN, SEARCH_ROUNDS, Shared, coop};
use crate::domain::home::Home;
use crate::instrument::TaskId;
use crate::task::{Notified, RawTask};

use crate::task::Header;
use crate::tuning::{
    MAX_JOIN_INLINE_DEPTH, SPIN_MIN_HITS, SPIN_PAUSES, SPIN_PROBE_EVERY, SPIN_PROBE_WINDOW,
};

/// A worker's own state; lives on its thread's stack and is reached through the thread-local
/// context, only ever by shared reference.
pub(crate) struct Core {
    pub(crate) shared: Arc<Shared>,
    index: usize,
    local: crossbeam_deque::Worker<Notified>,
    tick: Cell<u32>,
    lifo_polls: Cell<u8>,
    /// The last task run yielded (woke itself during its poll): look at the injector first.
    yielded: Cell<bool>,
    searching: Cell<bool>,
    /// Parked (in the sleepers list): local scheduling must not notify others yet.
    parked: Cell<bool>,
    rng: Cell<u32>,
    /// A pinned task ran since the last park: the next park may spin first.
    ran_pinned: Cell<bool>,
    /// Outcomes of the last 8 spins before sleeping, newest in bit 0 (1: a token came).
    spin_history: Cell<u8>,
    /// Scratch space for `search`: the poll ticks seen when it began.
    ticks: Cell<Vec<u32>>,
    /// This worker's domain: its pinned queue, inbox and domain-local values
    /// (`domain/home.rs`).
    pub(crate) home: Home,
    /// Chaos mode's generators (`chaos.rs`); `None` when off.
    chaos: Option<Chaos>,
    /// How many joined tasks this thread is running inside other polls right now
    /// (`run_joined`), at most [`MAX_JOIN_INLINE_DEPTH`].
    join_depth: Cell<u8>,
}

impl Core {
    pub(crate) fn new(
        shared: Arc<Shared>,
        index: usize,
        local: crossbeam_deque::Worker<Notified>,
        home: Home,
    ) -> Core {
        let chaos = shared.chaos.map(|seed| Chaos::new(seed, index));
        Core {
            shared,
            index,
            local,
            tick: Cell::new(0),
            lifo_polls: Cell::new(0),
            yielded: Cell::new(false),
            searching: Cell::new(false),
            parked: Cell::new(false),
            rng: Cell::new(0x9E37_79B9 ^ (index as u32).wrapping_mul(0x85EB_CA6B) | 1),
            ran_pinned: Cell::new(false),
            spin_history: Cell::new(u8::MAX),
            ticks: Cell::new(Vec::new()),
            home,
            chaos,
            join_depth: Cell::new(0),
        }
    }

    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// Runs the worker until shutdown, then cancels what its queues still hold.
    pub(crate) fn run(self) {
        let _guard = CoreGuard::enter(&self);
        while !self.shared.is_shutdown() {
            let tick = self.tick.get().wrapping_add(1);
            self.tick.set(tick);
            self.shared.maintain_timers();
            let task = match self.next_task(tick) {
                Some(task) => task,
                // Where sockets are registered, the poller first: what it wakes is queued here.
                None if self.io_turn_before_search() => continue,
                None => match self.search() {
                    Some(task) => task,
                    None => {
                        self.park();
                        continue;
                    }
                },
            };
            self.run_task(task);
        }
        if self.searching.get() {
            self.searching.set(false);
            self.shared.idle.transition_from_searching();
        }
        self.shut_down();
    }

    /// Cancels, on this thread, everything only this worker may drop: its queues, and every
    /// pinned task of its domain; then closes the domain (`domain/home.rs`, `Home::shut_down`).
    fn shut_down(&self) {
        let shared = &*self.shared;
        let remote = &shared.remotes[self.index];
        self.home.shut_down(
            self.index,
            &remote.mailbox,
            &shared.owned,
            || self.take_lifo().or_else(|| self.local.pop()),
            |task| shared.shutdown_owned(task),
            || {
                remote
                    .parker
                    .park(shared.clock.busy(), || shared.notify_driver())
            },
        );
    }

    fn run_task(&self, task: Notified) {
        if self.searching.get() {
            self.searching.set(false);
            if self.shared.idle.transition_from_searching() {
                // Idle rule 3: the last searcher found work; there may be more.
                self.shared.notify_parked();
            }
        }
        self.shared.remotes[self.index]
            .poll_tick
            .store(self.tick.get(), Ordering::Relaxed);
        if self.shared.is_shutdown() {
            task.cancel(); // stolen or dequeued after shutdown began: drop, don't poll
            return;
        }
        if let Some(domain) = task.header().route.domain() {
            // The invariant behind `Notified: Send` (`task/mod.rs`): a pinned task runs at home.
            debug_assert_eq!(domain, self.index, "a pinned task ran off its domain");
            self.ran_pinned.set(true);
        }
        self.poll_entry(task);
    }

    /// Runs a queue entry with its own budget and task id, both cleared afterwards.
    fn poll_entry(&self, task: Notified) {
        let budget = match &self.chaos {
            None => coop::BUDGET,
            Some(chaos) => chaos.budget(coop::BUDGET), // an injected yield, maybe
        };
        coop::reset(Some(budget));
        TaskId::set_current(Some(task.header()));
        task.run();
        TaskId::set_current(None);
        coop::reset(None);
    }

    /// Join-inline: the running task awaits the `JoinHandle` of `task`, not yet complete. If
    /// this worker's LIFO slot holds `task`'s queue entry (it was spawned or woken here since
    /// and nothing displaced it: the fork-then-join of divide-and-conquer code), take the
    /// entry and run the task now, inside the joiner's poll, instead of leaving the joiner to
    /// register, return `Pending`, and be woken and polled again once the task ran next
    /// anyway. `true` if it ran the task (which may have completed, or gone idle).
    ///
    /// The slot is taken with a compare-and-swap on `task`'s pointer, so the entry is ours
    /// exactly as when the run loop takes it; only stealable entries ever sit in the slot, so
    /// a pinned task is never run here. The task runs as in the loop (`poll_entry`: its own
    /// task id and budget), outside every cancel scope of the joiner (`scope::Enter::outside`), and
    /// the joiner's budget and task id come back afterwards. At most [`MAX_JOIN_INLINE_DEPTH`]
    /// such runs nest on one thread (a chain of tasks each awaiting the next one it spawned
    /// would otherwise grow the stack without bound); past that, the join waits as usual.
    #[inline]
    pub(crate) fn run_joined(&self, task: ptr::NonNull<Header>) -> bool {
        let slot = &self.shared.remotes[self.index].lifo;
        // A plain load first: the usual miss costs no locked instruction.
        if slot.load(Ordering::Relaxed) != task.as_ptr() {
            return false;
        }
        let depth = self.join_depth.get();
        if depth >= MAX_JOIN_INLINE_DEPTH
            || self.shared.is_shutdown()
            || slot
                .compare_exchange(
                    task.as_ptr(),
                    ptr::null_mut(),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_err()
        {
            return false;
        }
        // SAFETY: the slot held an owned queue-entry reference to `task`, now ours.
        let entry = unsafe { Notified::from_raw(RawTask::from_ptr(task)) };
        self.join_depth.set(depth + 1);
        let joiner_budget = coop::replace(None);
        let joiner = TaskId::replace_current_addr(0);
        {
            let _outside = crate::scope::Enter::outside();
            self.poll_entry(entry);
        }
        TaskId::replace_current_addr(joiner);
        coop::replace(joiner_budget);
        self.join_depth.set(depth);
        true
    }

    fn next_task(&self, tick: u32) -> Option<Notified> {
        self.home.drain_inbox();
        // Fairness between the domain's pinned tasks and stealable work: on odd ticks the
        // pinned queue goes first, on even ticks it goes last.
        if tick % 2 == 1 {
            if let Some(task) = self.home.pop() {
                return Some(task);
            }
        }
        self.next_stealable(tick).or_else(|| self.home.pop())
    }

    fn next_stealable(&self, tick: u32) -> Option<Notified> {
        if self.yielded.replace(false) || tick % GLOBAL_QUEUE_INTERVAL == 0 {
            if let Some(task) = self.shared.steal_injector(&self.local) {
                return Some(task);
            }
        }
        if self.lifo_polls.get() < MAX_LIFO_POLLS {
            if let Some(task) = self.take_lifo() {
                self.lifo_polls.set(self.lifo_polls.get() + 1);
                return Some(task);
            }
        } else if let Some(task) = self.take_lifo() {
            // The cap is reached: the slot's task waits its turn at the back of the queue.
            self.local.push(task);
        }
        self.lifo_polls.set(0);
        self.local
            .pop()
            .or_else(|| self.shared.steal_injector(&self.local))
    }

    fn take_lifo(&self) -> Option<Notified> {
        take_slot(&self.shared.remotes[self.index].lifo)
    }

    /// Called through the thread-local context when this worker's thread schedules a task of
    /// this runtime.
    pub(crate) fn schedule_local(&self, task: Notified, is_yield: bool) {
        if let Some(chaos) = &self.chaos {
            match chaos.placement() {
                Placement::Usual => {}
                Placement::Back => {
                    self.local.push(task);
                    self.yielded.set(self.yielded.get() || is_yield);
                    if !self.parked.get() {
                        self.shared.notify_parked();
                    }
                    return;
                }
                Placement::Injector => return self.shared.schedule_remote(task),
            }
        }
        if is_yield {
            self.local.push(task);
            self.yielded.set(true);
        } else {
            let raw = task.into_raw().ptr().as_ptr();
            let prev = self.shared.remotes[self.index]
                .lifo
                .swap(raw, Ordering::AcqRel);
            if let Some(prev) = ptr::NonNull::new(prev) {
                // SAFETY: the slot held an owned queue-entry reference to a live task; it moves
                // to the queue.
                self.local
                    .push(unsafe { Notified::from_raw(RawTask::from_ptr(prev)) });
            }
        }
        if !self.parked.get() {
            self.shared.notify_parked();
        }
    }

    /// Searches other workers and the injector. `None`: park.
    fn search(&self) -> Option<Notified> {
        if !self.searching.get() {
            if !self.shared.idle.transition_to_searching() {
                return None;
            }
            self.searching.set(true);
        }
        let remotes = &self.shared.remotes;
        let mut ticks = self.ticks.take();
        ticks.clear();
        ticks.extend(remotes.iter().map(|r| r.poll_tick.load(Ordering::Relaxed)));
        let found = self.search_rounds(&ticks);
        self.ticks.set(ticks);
        found
    }

    fn search_rounds(&self, ticks: &[u32]) -> Option<Notified> {
        let remotes = &self.shared.remotes;
        let n = remotes.len();
        for round in 0..SEARCH_ROUNDS {
            if let Some(task) = self.take_inbox_while_searching() {
                return Some(task);
            }
            let start = match &self.chaos {
                None => self.next_rand() as usize % n,
                Some(chaos) => chaos.victim(n),
            };
            for i in 0..n {
                let victim = (start + i) % n;
                if victim == self.index {
                    continue;
                }
                let remote = &remotes[victim];
                loop {
                    match remote.stealer.steal_batch_and_pop(&self.local) {
                        Steal::Success(task) => return Some(task),
                        Steal::Empty => break,
                        Steal::Retry => std::hint::spin_loop(),
                    }
                }
                // A LIFO slot is taken only from a worker stuck in the poll it was in when this
                // search began (ARCHITECTURE.md, guarantee G15); a moving worker will run it itself.
                if round > 0 && remote.poll_tick.load(Ordering::Relaxed) == ticks[victim] {
                    if let Some(task) = take_slot(&remote.lifo) {
                        return Some(task);
                    }
                }
            }
            if let Some(task) = self.shared.steal_injector(&self.local) {
                return Some(task);
            }
            if self.shared.is_shutdown() {
                return None;
            }
            // Let the worker we may be waiting on run (workers can outnumber cores).
            std::thread::yield_now();
        }
        None
    }

    /// A pinned entry that reached this worker's inbox while it searches: leave the search and
    /// run it now (idle rule 3b).
    fn take_inbox_while_searching(&self) -> Option<Notified> {
        let task = self.home.take_inbox()?;
        self.searching.set(false);
        if self
            .shared
            .idle
            .transition_from_searching_to_pinned(|| self.shared.has_pending_work())
        {
            self.shared.notify_parked();
        }
        Some(task)
    }

    fn park(&self) {
        let shared = &*self.shared;
        self.parked.set(true);
        if shared
            .idle
            .transition_to_parked(self.index, self.searching.get())
            && shared.has_pending_work()
        {
            // Idle rule 4: nobody is left searching and work appeared (also in the window of
            // a worker that rule 2 turned away); wake someone (maybe itself).
            shared.notify_parked();
        }
        self.searching.set(false);
        let may_spin = self.ran_pinned.replace(false);
        loop {
            if !(may_spin && self.spin_before_sleep()) {
                shared.park_worker(self.index);
            }
            // Timers fired in the driver may have queued tasks here; pinned entries may have
            // arrived in the inbox (their sender unparked us).
            let has_local = !self.local.is_empty()
                || self.home.has_work()
                || !shared.remotes[self.index]
                    .lifo
                    .load(Ordering::Acquire)
                    .is_null();
            if has_local || shared.is_shutdown() {
                if !shared.idle.transition_from_parked(self.index) {
                    self.searching.set(true); // a notifier counted us as searching
                }
                break;
            }
            if !shared.idle.is_parked(self.index) {
                self.searching.set(true);
                break;
            }
        }
        self.parked.set(false);
        let queued = self.has_more_than_one();
        if queued {
            shared.notify_parked();
        }
        shared.hand_off_driver(Some(self.index), queued);
    }

    /// More than one runnable task in this worker's own queues, the LIFO slot counted: worth a
    /// notify once this worker leaves a park or a turn.
    fn has_more_than_one(&self) -> bool {
        let lifo = !self.shared.remotes[self.index]
            .lifo
            .load(Ordering::Acquire)
            .is_null();
        self.local.len() + usize::from(lifo) > 1
    }

    /// The poller before the search (`Shared::idle_io_turn`): returns whether it woke a task.
    /// Its wakes queue their tasks here as in a park (`parked`: no notify per task), since this
    /// worker runs the first next; a second one is worth a notify.
    fn io_turn_before_search(&self) -> bool {
        self.parked.set(true);
        let woke = self.shared.idle_io_turn(self.index);
        self.parked.set(false);
        if woke && self.has_more_than_one() {
            self.shared.notify_parked();
        }
        woke
    }

    /// Polls this worker's park token for up to [`PARK_SPIN`] before it sleeps, if recent spins
    /// paid (see the module doc). `true`: a token came and was consumed, as by a park.
    fn spin_before_sleep(&self) -> bool {
        let history = self.spin_history.get();
        if history.count_ones() < SPIN_MIN_HITS {
            // Probe in windows of wall-clock time that every worker shares, not every n-th park
            // of its own: a quick exchange between two domains pays only when both sides spin,
            // and per-worker counters can keep two such workers probing out of phase forever
            // (each probe then misses, as its partner is asleep).
            let since = self.shared.clock.origin().elapsed().as_nanos();
            let window = (since / SPIN_PROBE_WINDOW.as_nanos()) as u64;
            if window % u64::from(SPIN_PROBE_EVERY) != 0 {
                return false;
            }
        }
        let mut deadline = None;
        let hit = self.shared.remotes[self.index].parker.spin(|| {
            let deadline = *deadline.get_or_insert_with(|| Instant::now() + PARK_SPIN);
            for _ in 0..SPIN_PAUSES {
                std::hint::spin_loop();
            }
            Instant::now() < deadline
        });
        // A token that was there before the spin began (left by a wake that the search already
        // served) says nothing about spinning.
        if deadline.is_some() {
            self.spin_history.set(history << 1 | u8::from(hit));
        }
        hit
    }

    fn next_rand(&self) -> u32 {
        // xorshift32
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng.set(x);
        x
    }
}

pub(super) fn take_slot(
    slot: &std::sync::atomic::AtomicPtr<crate::task::Header>,
) -> Option<Notified> {
    if slot.load(Ordering::Relaxed).is_null() {
        return None;
    }
    let ptr = ptr::NonNull::new(slot.swap(ptr::null_mut(), Ordering::AcqRel))?;
    // SAFETY: the slot held an owned queue-entry reference to a live task, now ours.
    Some(unsafe { Notified::from_raw(RawTask::from_ptr(ptr)) })
}

/// An owned-list shard hint for threads that are not workers: spreads them over the shards.
pub(crate) fn thread_shard_hint() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static HINT: usize = NEXT.fetch_add(1, Ordering::Relaxed).wrapping_mul(7) + 1;
    }
    HINT.with(|h| *h)
}
