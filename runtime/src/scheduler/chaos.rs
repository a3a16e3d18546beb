//! Chaos mode: a seeded perturbation of the scheduler's free choices, for tests
//! (`Builder::chaos`).
//!
//! The scheduler makes choices that no guarantee depends on: which worker a search steals from
//! first, whether a woken task runs next (the LIFO slot) or waits its turn, how many runtime
//! operations a poll may run before it yields. Code that works only because of the usual
//! answers (a test that assumes a child runs before its spawner's next step, a protocol that
//! misses a wake when a task yields at an odd point) passes by luck. Chaos mode answers each of
//! these choices from a per-worker seeded xorshift generator instead, so a randomised test can
//! explore many schedules, and a failing seed replays the same choices.
//!
//! # The perturbations
//!
//! 1. **Steal victims**: a search starts its sweep over the other workers at a random one
//!    (`worker.rs`, `search_rounds`), drawn from a stream of its own ([`Chaos::victim`]).
//! 2. **Queue choice** ([`Chaos::placement`]): a task woken or spawned on a worker goes to the
//!    LIFO slot (the usual), to the back of the local queue, or to the global injector; a
//!    yielding task goes to the back of the local queue (the usual) or to the injector.
//! 3. **Injected yields** ([`Chaos::budget`]): each poll gets a random cooperative budget,
//!    often a tiny one, so the task yields (is re-scheduled instead of continuing) at a random
//!    runtime operation, which is also where cancellation lands (`coop.rs`).
//!
//! Pinned tasks still run only at home, and every choice is one the scheduler can make without
//! chaos (a budget runs out, a wake arrives from another thread and goes to the injector), so
//! chaos mode shows schedules that can happen anyway, only more often.
//!
//! # Determinism
//!
//! Each worker's generator is seeded from the seed and the worker's index. Steal victims come
//! from a stream separate from the other choices: how often an idle worker searches depends on
//! timing, and keeping those draws apart lets one worker running work that never leaves it
//! (no I/O, no outside wakes) replay the same poll order for the same seed (`tests/rt_chaos.rs`).
//! With several workers, the order also depends on the threads' timing.
//!
//! # Cost
//!
//! Off (the default), each worker holds `None`: the loop pays one branch on it per poll, per
//! local schedule and per search round.

use std::cell::Cell;

/// Where a task scheduled on its own worker goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Placement {
    /// Where it would go without chaos (the LIFO slot for a wake, the local queue's back for a
    /// yield).
    Usual,
    /// The back of the worker's local queue.
    Back,
    /// The global injector.
    Injector,
}

/// Out of this many local schedules, how many go to the back of the local queue.
const BACK_IN_8: u64 = 2;
/// Out of this many local schedules, how many go to the injector.
const INJECTOR_IN_8: u64 = 1;
/// The largest injected budget (a budget of `n` yields at the `n + 1`-th runtime operation).
const SMALL_BUDGET_MAX: u64 = 4;

/// One worker's chaos generators (`None` in the worker when chaos mode is off).
#[derive(Debug)]
pub(crate) struct Chaos {
    /// Steal-victim draws (timing-dependent: searches happen when the worker runs dry).
    steal: Cell<u64>,
    /// Queue choices and budgets (one draw per local schedule or poll).
    sched: Cell<u64>,
}

impl Chaos {
    /// The generators of worker `index` for `seed`.
    pub(crate) fn new(seed: u64, index: usize) -> Chaos {
        let base = splitmix(seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        Chaos {
            steal: Cell::new(splitmix(base ^ 0x5354_4541_4c00_0000) | 1),
            sched: Cell::new(splitmix(base ^ 0x5343_4845_4400_0000) | 1),
        }
    }

    /// The first worker (of `n`) a search sweep looks at.
    pub(crate) fn victim(&self, n: usize) -> usize {
        (next(&self.steal) % n as u64) as usize
    }

    /// Where the next task scheduled on this worker goes.
    pub(crate) fn placement(&self) -> Placement {
        match next(&self.sched) % 8 {
            r if r < INJECTOR_IN_8 => Placement::Injector,
            r if r < INJECTOR_IN_8 + BACK_IN_8 => Placement::Back,
            _ => Placement::Usual,
        }
    }

    /// The cooperative budget of the next poll: `full` half the time, else 1 to
    /// [`SMALL_BUDGET_MAX`] (never 0, so every poll can make progress).
    pub(crate) fn budget(&self, full: u8) -> u8 {
        let r = next(&self.sched);
        if r & 1 == 0 {
            full
        } else {
            1 + ((r >> 1) % SMALL_BUDGET_MAX) as u8
        }
    }
}

/// xorshift64: the next value of `state` (never 0 from a non-zero state).
fn next(state: &Cell<u64>) -> u64 {
    let mut x = state.get();
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    state.set(x);
    x
}

/// splitmix64's finaliser: spreads a seed's bits, so nearby seeds give unrelated streams.
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_choices_and_every_choice_occurs() {
        let a = Chaos::new(7, 0);
        let b = Chaos::new(7, 0);
        let mut seen = [0usize; 3];
        for _ in 0..1000 {
            let p = a.placement();
            assert_eq!(p, b.placement());
            seen[p as usize] += 1;
            let budget = a.budget(128);
            assert_eq!(budget, b.budget(128));
            assert!(budget == 128 || (1..=4).contains(&budget));
        }
        assert!(seen.iter().all(|&n| n > 0), "{seen:?}");
        let (w0, w1) = (Chaos::new(7, 0), Chaos::new(7, 1));
        let v0: Vec<_> = (0..16).map(|_| w0.victim(1000)).collect();
        let v1: Vec<_> = (0..16).map(|_| w1.victim(1000)).collect();
        assert_ne!(v0, v1, "workers draw from different streams");
    }
}
