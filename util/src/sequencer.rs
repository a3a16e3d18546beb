//! [`Sequencer`]: force an order on tasks in a test (Trio's `trio.testing.Sequencer`).

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Mutex;

use crate::AsyncValue;

/// Forces an order on code in several tasks, for tests: `seq.wait(n).await` returns once the
/// holder of position `n - 1` has dropped its [`SequencerGuard`] (position 0 returns at once),
/// so the sections run in the order of their numbers. Trio's `trio.testing.Sequencer`, whose
/// `async with seq(n):` block is the guard's life here.
///
/// Each position may be used once. If a `wait` is cancelled before its turn, the sequence is
/// *broken*: every pending and later `wait` panics (Trio raises `RuntimeError`), so a test
/// fails instead of hanging.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use trellis::util::Sequencer;
///
/// trellis::run(async {
///     let seq = Arc::new(Sequencer::new());
///     let log = Arc::new(Mutex::new(Vec::new()));
///     trellis::nursery(async |n| {
///         for (task, positions) in [("a", [1, 3]), ("b", [0, 2])] {
///             let (seq, log) = (seq.clone(), log.clone());
///             n.start_soon(async move {
///                 for p in positions {
///                     let _turn = seq.wait(p).await;
///                     log.lock().unwrap().push(format!("{task}{p}"));
///                 }
///             });
///         }
///     })
///     .await
///     .unwrap();
///     assert_eq!(*log.lock().unwrap(), ["b0", "a1", "b2", "a3"]);
/// });
/// ```
pub struct Sequencer {
    state: AsyncValue<State>,
    /// Positions already used (each may be used once).
    claimed: Mutex<BTreeSet<usize>>,
}

#[derive(Clone, PartialEq, Default)]
struct State {
    /// Positions whose guard was dropped.
    finished: BTreeSet<usize>,
    /// A wait was cancelled before its turn.
    broken: bool,
}

impl Sequencer {
    /// A sequencer at position 0.
    ///
    /// # Examples
    ///
    /// ```
    /// let seq = trellis::util::Sequencer::new();
    /// # drop(seq);
    /// ```
    pub fn new() -> Sequencer {
        Sequencer {
            state: AsyncValue::new(State::default()),
            claimed: Mutex::new(BTreeSet::new()),
        }
    }

    /// Waits for the turn of `position`: until position `position - 1` has finished (its guard
    /// was dropped). The guard marks `position` finished when dropped.
    ///
    /// # Panics
    ///
    /// If `position` was used before, or the sequence is broken (now or while waiting).
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     let seq = trellis::util::Sequencer::new();
    ///     drop(seq.wait(0).await);
    ///     let _second = seq.wait(1).await; // position 0 has finished
    /// });
    /// ```
    ///
    /// # Cancellation
    ///
    /// A checkpoint. Cancelled before its turn, it breaks the sequence (see [`Sequencer`]).
    pub async fn wait(&self, position: usize) -> SequencerGuard<'_> {
        let fresh = self
            .claimed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(position);
        assert!(
            fresh,
            "`Sequencer::wait({position})`: position {position} was already used"
        );
        let breaker = BreakOnDrop(self);
        let state = self
            .state
            .wait_value(move |s: &State| {
                s.broken
                    || position
                        .checked_sub(1)
                        .is_none_or(|p| s.finished.contains(&p))
            })
            .await;
        std::mem::forget(breaker);
        assert!(
            !state.broken,
            "`Sequencer::wait({position})`: the sequence is broken (a wait was cancelled \
             before its turn)"
        );
        SequencerGuard {
            seq: self,
            position,
        }
    }
}

impl Default for Sequencer {
    fn default() -> Self {
        Sequencer::new()
    }
}

impl fmt::Debug for Sequencer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.get();
        f.debug_struct("Sequencer")
            .field("finished", &state.finished)
            .field("broken", &state.broken)
            .finish()
    }
}

/// Breaks the sequence if a wait is dropped before its turn.
struct BreakOnDrop<'a>(&'a Sequencer);

impl Drop for BreakOnDrop<'_> {
    fn drop(&mut self) {
        self.0.state.update(|s| State {
            broken: true,
            ..s.clone()
        });
    }
}

/// A turn of a [`Sequencer`]: dropping it lets the next position go.
///
/// # Examples
///
/// ```
/// trellis::run(async {
///     let seq = trellis::util::Sequencer::new();
///     let turn: trellis::util::SequencerGuard<'_> = seq.wait(0).await;
///     assert_eq!(turn.position(), 0);
/// });
/// ```
#[must_use = "dropping the guard ends the turn at once"]
pub struct SequencerGuard<'a> {
    seq: &'a Sequencer,
    position: usize,
}

impl SequencerGuard<'_> {
    /// The position of this turn.
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     let seq = trellis::util::Sequencer::new();
    ///     assert_eq!(seq.wait(0).await.position(), 0);
    /// });
    /// ```
    pub fn position(&self) -> usize {
        self.position
    }
}

impl Drop for SequencerGuard<'_> {
    fn drop(&mut self) {
        let position = self.position;
        self.seq.state.update(|s| {
            let mut next = s.clone();
            next.finished.insert(position);
            next
        });
    }
}

impl fmt::Debug for SequencerGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SequencerGuard")
            .field("position", &self.position)
            .finish()
    }
}
