//! The idle protocol: which workers sleep, which search for work, and who wakes whom.
//!
//! # State
//!
//! One atomic word holds two counts: `searching` (low 16 bits: workers out of local work and
//! stealing) and `unparked` (high bits: workers not asleep). The list of sleeping workers is a
//! `Vec` behind a mutex; every change to it also changes the word under the same mutex.
//!
//! # Rules (after Go's scheduler and tokio's `runtime/scheduler/multi_thread/idle.rs`)
//!
//! 1. **Notify only if nobody searches.** After making a task stealable (queue push, LIFO-slot
//!    fill, injector push) the producer issues a `SeqCst` fence and reads the word; it wakes a
//!    sleeper only if `searching == 0` and some worker sleeps. The woken worker is counted as
//!    unparked *and searching* by the notifier, under the mutex, so a burst of pushes wakes one
//!    worker, not one per push.
//! 2. **At most half the workers search** (`2 * searching < workers`); the others park at once.
//! 3. **Chained ramp-up.** A searcher that finds work leaves the searching state; if it was the
//!    last searcher it notifies one more worker (rule 1 applies), so a batch of N tasks wakes
//!    workers one at a time, each stealing half of what is left.
//!    **3b. Leaving the search for pinned work.** A searcher that finds a pinned entry in its
//!    own inbox (`worker.rs`) leaves the searching state too. That entry is no sign of
//!    stealable work, so it does not notify unconditionally; but it may have been the searcher
//!    that a producer relied on (rule 1 skipped the notify because it was counted), and it is
//!    about to run a task of unknown length. So if it was the last searcher it does what rule 4
//!    does: after the `SeqCst` RMW, a fence, then re-read every queue and notify if any holds
//!    work.
//! 4. **A worker that leaves nobody searching re-checks before sleeping.** A worker about to
//!    park removes itself from the counts and adds itself to the sleepers (under the mutex,
//!    `SeqCst` RMW); if no searcher is left counted after that RMW (it was the last searcher,
//!    or it was not searching and nobody else was) it then re-reads every queue (injector, each
//!    worker's deque and LIFO slot) and notifies a worker if any holds work. Only a worker that
//!    leaves another searcher counted skips the re-check: that searcher answers for the queues.
//!
//!    The non-searching case is a worker that rule 2 turned away: it read `searching > 0` and
//!    heads for its park without looking at any other queue. Until its RMW it still counts as
//!    unparked, so a producer that pushes meanwhile, after the searcher it saw has left, skips
//!    its notify (no sleeper to wake: `unparked == workers`); if that worker then slept without
//!    looking, the task would wait for its producer's current poll to end (the stranding of a
//!    stealable task behind a pinned task's long poll that `tests/domain_sched.rs` once saw
//!    under ThreadSanitizer; `loom_idle_push_vs_turned_away_worker_parks` below).
//! 5. **Wake tokens.** Each worker parks on its own [`Parker`](super::park::Parker), whose token
//!    makes an unpark that arrives before the park count.
//!
//! # Why no wakeup is lost (proof sketch)
//!
//! Take a task pushed by producer P while worker W goes to sleep. P does `push; fence(SeqCst);
//! read word`. W, the last searcher, does `RMW word (searching -= 1); read queues`. Both the
//! fence and the RMW are `SeqCst`, so they are ordered in the single total order `S`:
//! - if P's read comes after W's RMW in `S`, P sees `searching == 0` and a sleeper, and notifies
//!   (possibly W itself, whose token then makes its park return);
//! - otherwise P's push precedes W's RMW, and W's re-read of the queues (after the RMW) sees it,
//!   so W notifies.
//!
//! The same argument holds, word for word, for a last searcher W that leaves the search for a
//! pinned entry (rule 3b): its RMW and re-read stand where rule 4's do.
//!
//! The same holds for a worker W that parks without having searched (turned away by rule 2)
//! when no searcher is left: its RMW (`unparked -= 1`) and re-read stand where the last
//! searcher's do, and a producer whose read comes after that RMW sees `searching == 0` and a
//! sleeper.
//!
//! If W leaves another searcher S' counted, the same argument applies to S' when it parks or
//! finds work (rules 3, 3b, 4); the RMW of S' comes after W's in the word's modification order,
//! so a notify that S' issues sees W listed. A worker that is busy (running a task) looks at the
//! queues again when its current task returns. So every pushed task is seen by a worker that is
//! awake or will be woken. The park/unpark step is checked by the loom models in `park.rs`.
//!
//! A worker that spins on its park token before it blocks (`worker.rs`) does so *after*
//! rule 4, listed as a sleeper: to this protocol it is asleep, a notifier takes it off the list
//! and unparks it like any sleeper, and the spin only makes that unpark cheaper. Nothing here
//! changes for it.
//!
//! The loom models below check rule 1 against rule 4 (for the last searcher and for a worker
//! that rule 2 turned away), and rule 1 against rule 3b.

use crate::loom::sync::Mutex;
use crate::loom::sync::atomic::{AtomicUsize, Ordering::SeqCst, fence};

const SEARCH_MASK: usize = (1 << 16) - 1;
const UNPARK_ONE: usize = 1 << 16;

pub(crate) struct Idle {
    state: AtomicUsize,
    sleepers: Mutex<Vec<usize>>,
    workers: usize,
}

fn searching(word: usize) -> usize {
    word & SEARCH_MASK
}
fn unparked(word: usize) -> usize {
    word >> 16
}

impl Idle {
    /// Every worker starts unparked and not searching.
    pub(crate) fn new(workers: usize) -> Idle {
        assert!(workers < SEARCH_MASK, "too many workers");
        Idle {
            state: AtomicUsize::new(workers * UNPARK_ONE),
            sleepers: Mutex::new(Vec::with_capacity(workers)),
            workers,
        }
    }

    fn sleepers(&self) -> impl std::ops::DerefMut<Target = Vec<usize>> + '_ {
        self.sleepers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Rule 1: the worker to wake after a push, if any; it is now counted as searching. The
    /// caller must have fenced (`SeqCst`) after its push.
    pub(crate) fn worker_to_notify(&self) -> Option<usize> {
        if !self.should_notify() {
            return None;
        }
        let mut sleepers = self.sleepers();
        if !self.should_notify() {
            return None;
        }
        let index = sleepers.pop()?;
        self.state.fetch_add(UNPARK_ONE | 1, SeqCst);
        Some(index)
    }

    fn should_notify(&self) -> bool {
        let word = self.state.load(SeqCst);
        searching(word) == 0 && unparked(word) < self.workers
    }

    /// Rule 2: may this worker start searching?
    pub(crate) fn transition_to_searching(&self) -> bool {
        let word = self.state.load(SeqCst);
        if 2 * searching(word) >= self.workers {
            return false;
        }
        self.state.fetch_add(1, SeqCst);
        true
    }

    /// Rule 3: a searcher found work. Returns `true` if it was the last searcher (the caller
    /// then notifies one more worker).
    pub(crate) fn transition_from_searching(&self) -> bool {
        searching(self.state.fetch_sub(1, SeqCst)) == 1
    }

    /// Rule 3b: a searcher leaves the search to run a pinned entry of its own inbox. Returns
    /// `true` if the caller must notify a worker: it was the last searcher and
    /// `has_pending_work` (called after the RMW and a `SeqCst` fence) found a queued task.
    pub(crate) fn transition_from_searching_to_pinned(
        &self,
        has_pending_work: impl FnOnce() -> bool,
    ) -> bool {
        if !self.transition_from_searching() {
            return false;
        }
        fence(SeqCst);
        has_pending_work()
    }

    /// Rule 4: the worker goes to sleep. Returns `true` if no searcher is left counted (it was
    /// the last searcher, or it was not searching and nobody was): the caller must then
    /// re-check every queue (this fences, so the re-check reads after the RMW in the single
    /// total order of the proof sketch).
    pub(crate) fn transition_to_parked(&self, index: usize, is_searching: bool) -> bool {
        let mut sleepers = self.sleepers();
        let prev = self
            .state
            .fetch_sub(UNPARK_ONE + usize::from(is_searching), SeqCst);
        sleepers.push(index);
        drop(sleepers);
        fence(SeqCst);
        searching(prev) == usize::from(is_searching)
    }

    /// A parked worker wakes on its own (its timers fired, or shutdown). Returns `true` if it
    /// was still listed as a sleeper (it is now unparked, not searching); `false` if a notifier
    /// took it off the list, so it is counted as searching.
    pub(crate) fn transition_from_parked(&self, index: usize) -> bool {
        let mut sleepers = self.sleepers();
        match sleepers.iter().position(|&i| i == index) {
            Some(pos) => {
                sleepers.swap_remove(pos);
                self.state.fetch_add(UNPARK_ONE, SeqCst);
                true
            }
            None => false,
        }
    }

    /// A listed sleeper other than `me`, left on the list (the driver role's hand-off,
    /// `driver.rs`: it is woken to take the role, not counted as searching).
    pub(crate) fn sleeper_other_than(&self, me: Option<usize>) -> Option<usize> {
        let sleepers = self.sleepers();
        sleepers.iter().rev().copied().find(|&i| Some(i) != me)
    }

    /// Is the worker still listed as sleeping (its wake was spurious)?
    pub(crate) fn is_parked(&self, index: usize) -> bool {
        self.sleepers().contains(&index)
    }
}

#[cfg(all(test, trellis_loom))]
mod loom_idle {
    //! Loom model of rule 1 vs rule 4: a producer pushes a task while the last searcher goes to
    //! sleep. The worker must end up with the task; a lost wakeup leaves it parked forever,
    //! which loom reports as a deadlock.
    use super::*;
    use crate::scheduler::park::Parker;
    use loom::sync::Arc;
    use loom::sync::atomic::AtomicUsize as Queue;
    use loom::thread;

    #[test]
    fn loom_idle_push_vs_last_searcher_parks() {
        loom::model(|| {
            let idle = Arc::new(Idle::new(2));
            let queue = Arc::new(Queue::new(0));
            let parkers = Arc::new([Parker::new(), Parker::new()]);
            // Worker 1 is asleep; worker 0 is the only searcher.
            // Nobody searches yet, so it re-checks (and finds the queue empty).
            assert!(idle.transition_to_parked(1, false));
            assert!(idle.transition_to_searching());

            let (i2, q2, p2) = (idle.clone(), queue.clone(), parkers.clone());
            let producer = thread::spawn(move || {
                q2.fetch_add(1, SeqCst);
                fence(SeqCst);
                if let Some(w) = i2.worker_to_notify() {
                    p2[w].unpark(None, || {});
                }
            });

            // Worker 0: finds nothing, parks; re-checks as the last searcher.
            let mut searching = true;
            let mut me = 0;
            loop {
                if queue.load(SeqCst) > 0 {
                    queue.fetch_sub(1, SeqCst);
                    break;
                }
                if idle.transition_to_parked(me, searching) && queue.load(SeqCst) > 0 {
                    if let Some(w) = idle.worker_to_notify() {
                        parkers[w].unpark(None, || {});
                    }
                }
                // Whichever worker was notified takes over the search (the model plays both).
                let woken = loop {
                    let candidates = [me, 1 - me];
                    if let Some(&w) = candidates.iter().find(|&&w| !idle.is_parked(w)) {
                        break w;
                    }
                    parkers[me].park(None, || {});
                };
                me = woken;
                searching = true;
            }
            producer.join().unwrap();
        });
    }

    #[test]
    fn loom_idle_push_vs_searcher_leaves_for_pinned() {
        // Rule 3b: worker 0, the only searcher, leaves the search for a pinned entry of its own
        // inbox (and then runs it for an unknown time) while a producer pushes a stealable task;
        // worker 1 sleeps. Either the producer sees no searcher and wakes worker 1, or worker 0's
        // re-check sees the task and wakes worker 1. Without the re-check, loom finds the run in
        // which the producer skips its notify (worker 0 still counted) and the task is stranded.
        loom::model(|| {
            let idle = Arc::new(Idle::new(2));
            let queue = Arc::new(Queue::new(0));
            // Nobody searches yet, so it re-checks (and finds the queue empty).
            assert!(idle.transition_to_parked(1, false));
            assert!(idle.transition_to_searching());

            let (i2, q2) = (idle.clone(), queue.clone());
            let producer = thread::spawn(move || {
                q2.fetch_add(1, SeqCst);
                fence(SeqCst);
                i2.worker_to_notify()
            });

            let by_worker = if idle.transition_from_searching_to_pinned(|| queue.load(SeqCst) > 0) {
                idle.worker_to_notify()
            } else {
                None
            };
            let by_producer = producer.join().unwrap();
            assert_eq!(
                by_producer.or(by_worker),
                Some(1),
                "the task is stranded while worker 1 sleeps"
            );
            assert!(!idle.is_parked(1));
        });
    }

    #[test]
    fn loom_idle_push_vs_turned_away_worker_parks() {
        // Rule 4 for a worker that never searched: worker 0 is the only searcher and leaves the
        // search (for stealable work, rule 3, or for a pinned entry, rule 3b), then pushes a
        // stealable task and runs for an unknown time; worker 1 asks to search at the same
        // time and is turned away by rule 2 if it still sees worker 0 counted, then parks.
        // The task must not be stranded: worker 1 takes it, or ends up woken (off the sleepers
        // list). Before rule 4 covered turned-away workers, loom found the run in which worker 1
        // is turned away, worker 0's notify still counts worker 1 as unparked, and worker 1
        // then sleeps without looking.
        for pinned in [false, true] {
            loom::model(move || {
                let idle = Arc::new(Idle::new(2));
                let queue = Arc::new(Queue::new(0));
                assert!(idle.transition_to_searching());

                let (i2, q2) = (idle.clone(), queue.clone());
                let worker1 = thread::spawn(move || {
                    let searching = i2.transition_to_searching();
                    if searching && q2.load(SeqCst) > 0 {
                        q2.fetch_sub(1, SeqCst);
                        return (true, None);
                    }
                    let woken = if i2.transition_to_parked(1, searching) && q2.load(SeqCst) > 0 {
                        i2.worker_to_notify()
                    } else {
                        None
                    };
                    (false, woken)
                });

                // Worker 0 leaves the search, then pushes (onto its own queue) and notifies.
                let leave = if pinned {
                    idle.transition_from_searching_to_pinned(|| queue.load(SeqCst) > 0)
                } else {
                    idle.transition_from_searching()
                };
                let mut woken = if leave { idle.worker_to_notify() } else { None };
                queue.fetch_add(1, SeqCst);
                fence(SeqCst);
                woken = woken.or(idle.worker_to_notify());
                let (took, by_worker1) = worker1.join().unwrap();
                assert!(
                    took || woken.or(by_worker1) == Some(1),
                    "the task is stranded while worker 1 sleeps"
                );
                assert!(took || !idle.is_parked(1));
            });
        }
    }
}

#[cfg(all(test, not(trellis_loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_turned_away_worker_that_leaves_nobody_searching_must_recheck() {
        // The interleaving behind the stranding of `tests/domain_sched.rs`, step by step:
        // worker 1 is turned away while worker 0 searches, worker 0 leaves the search and its
        // push finds nobody to wake, then worker 1 parks. Its park must ask for the re-check.
        let idle = Idle::new(2);
        assert!(idle.transition_to_searching()); // worker 0
        assert!(
            !idle.transition_to_searching(),
            "rule 2 turns worker 1 away"
        );
        assert!(!idle.transition_from_searching_to_pinned(|| false));
        assert_eq!(
            idle.worker_to_notify(),
            None,
            "worker 1 still counts as unparked"
        );
        assert!(
            idle.transition_to_parked(1, false),
            "no searcher is left: re-check"
        );
        assert_eq!(idle.worker_to_notify(), Some(1));
    }

    #[test]
    fn a_worker_that_leaves_a_searcher_counted_skips_the_recheck() {
        let idle = Idle::new(4);
        assert!(idle.transition_to_searching());
        assert!(idle.transition_to_searching());
        assert!(
            !idle.transition_to_searching(),
            "rule 2: at most half search"
        );
        assert!(
            !idle.transition_to_parked(2, false),
            "two searchers are left"
        );
        assert!(!idle.transition_to_parked(1, true), "one searcher is left");
        assert!(
            idle.transition_to_parked(0, true),
            "the last searcher re-checks"
        );
    }
}
