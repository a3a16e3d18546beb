//! `AsyncValue`: a value that tasks can wait on (trio-util's `AsyncValue`).
//!
//! # Protocol
//!
//! One `Mutex<Inner<T>>` holds the value and three registries, each a `BTreeMap` keyed by a
//! registration id that only grows, so iterating a registry visits its entries in
//! registration order (trio-util's registries are insertion-ordered dicts):
//!
//! - `level`: evaluated with the new value on every change. Three kinds of entry:
//!   [`Level::Wait`] (one [`wait_value`](AsyncValue::wait_value) future, or its `held_for`
//!   "no longer matches" wait), [`Level::Eventual`] (one
//!   [`eventual_values`](AsyncValue::eventual_values) stream) and [`Level::Hook`] (one input
//!   of a [`compose_values()`](crate::compose_values()) composite: trio-util's side-effect
//!   predicate that always answers "no").
//! - `edge`: evaluated with `(new, old)` on every change: [`wait_transition`] futures and
//!   [`transitions`] streams.
//! - `transforms`: [`open_transform`] hooks, run after the two above.
//!
//! [`wait_transition`]: AsyncValue::wait_transition
//! [`transitions`]: AsyncValue::transitions
//! [`open_transform`]: AsyncValue::open_transform
//!
//! Steps of an assignment ([`AsyncValue::set`]), all under the lock:
//!
//! 1. Equal to the current value: return. Nothing is evaluated, nobody is woken.
//! 2. Commit the new value (before any predicate runs, so a panicking predicate leaves it
//!    committed).
//! 3. Evaluate every entry in the order above. A matching waiter gets the new value (or the
//!    `(new, old)` pair) in *its own slot*, overwriting an older match it has not consumed
//!    yet, and its waker moves into a local list. This is why a waiter receives the latest
//!    matching value assigned before it resumed, even if the value changed again since:
//!    evaluation happens at assignment time, not when the waiter runs.
//! 4. Unlock, then wake the collected wakers (the list is a guard declared before the lock
//!    guard, so the wakers are woken after the unlock even when a predicate panics).
//!
//! A waiting future or stream owns one registration: it registers when it is first polled
//! (checking its condition and registering under one lock, so no assignment falls in
//! between), finds its slot by id when polled again, and removes the registration when it
//! completes or is dropped. Predicates are therefore evaluated only while someone waits.
//!
//! Differences from trio-util, on purpose: every waiter has its own slot (trio-util shares a
//! slot between waiters that pass the same function object or equal plain values; sharing
//! changes the cost of an assignment, not what any waiter receives), and an `eventual_values`
//! stream is one registration that evaluates its predicate once per assignment (trio-util
//! registers three predicates, one of which calls the user's predicate again).
//!
//! User code (predicates, transforms, compose hooks) runs under the lock of the value being
//! assigned. It must not call methods of that same `AsyncValue` (or of the inputs of a
//! composite it belongs to): the lock is not reentrant, so that deadlocks.

mod eventual_values;
mod predicates;
mod transform;
mod transitions;
mod wait;

use std::collections::BTreeMap;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Waker};

pub use eventual_values::EventualValues;
pub use predicates::{any_transition, any_value, equal_to, transition_to};
pub use transform::Transform;
pub use transitions::Transitions;
pub use wait::{WaitTransition, WaitValue};

/// A level predicate, boxed into the registry while its waiter waits.
pub(crate) type Pred<T> = Box<dyn FnMut(&T) -> bool + Send>;
/// An edge predicate `(new, old)`.
pub(crate) type Pred2<T> = Box<dyn FnMut(&T, &T) -> bool + Send>;
/// Code run on every change (compose hooks and transforms).
pub(crate) type Hook<T> = Box<dyn FnMut(&T) + Send>;

/// A value wrapper that tasks can wait on: [`wait_value`](Self::wait_value) until it matches a
/// predicate, [`wait_transition`](Self::wait_transition) until it changes in a matching way,
/// [`eventual_values`](Self::eventual_values) to follow its state,
/// [`transitions`](Self::transitions) to follow its changes.
///
/// [`set`](Self::set) is synchronous (no checkpoint): it commits the new value, then evaluates
/// every registered predicate against it *at assignment time* and stores the matching value in
/// that waiter's slot before waking it. So a waiter sees a match even if the value changes again
/// before it runs, and it receives the latest matching value assigned before it resumed, which
/// may differ from the current one. Setting an equal value is a no-op: no predicate runs, nobody
/// is woken. With nobody waiting, `set` allocates nothing.
///
/// Predicates are closures, `|v: &T| -> bool` for values and `|new: &T, old: &T| -> bool` for
/// transitions; [`equal_to`], [`any_value`], [`transition_to`] and [`any_transition`] build the
/// common ones. They run inside `set`, under the value's lock, on the setting thread: they must
/// be quick, and must not call methods of the same `AsyncValue` (that deadlocks).
///
/// Usable from any domain and from plain threads (`Send + Sync` when `T: Send`); share it
/// with an `Arc` ([`SharedValue`]) or borrow it from a scope that outlives its users.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use trellis::util::AsyncValue;
///
/// trellis::run(async {
///     let temperature = Arc::new(AsyncValue::new(20));
///     let t = temperature.clone();
///     let _setter = trellis::spawn(async move {
///         t.set(25);
///         t.set(35); // matches
///     });
///     assert_eq!(temperature.wait_value(|v| *v > 30).await, 35);
/// });
/// ```
pub struct AsyncValue<T> {
    inner: Mutex<Inner<T>>,
    /// The thread holding `inner` (its `THREAD` number), 0 when unlocked: a thread that finds
    /// its own number here is re-entering (see [`AsyncValue::lock`]).
    owner: AtomicU64,
}

/// The value and its registries (see the module's protocol).
pub(crate) struct Inner<T> {
    pub(crate) value: T,
    next_id: u64,
    pub(crate) level: BTreeMap<u64, Level<T>>,
    pub(crate) edge: BTreeMap<u64, Edge<T>>,
    transforms: BTreeMap<u64, Hook<T>>,
}

/// An entry of the level registry.
pub(crate) enum Level<T> {
    /// A `wait_value` future.
    Wait(LevelWait<T>),
    /// An `eventual_values` stream.
    Eventual(eventual_values::Entry<T>),
    /// A compose hook: runs on every change, wakes nobody.
    Hook(Hook<T>),
}

/// A `wait_value` registration: waits for `pred(new) != negate`.
pub(crate) struct LevelWait<T> {
    pub(crate) pred: Pred<T>,
    /// `held_for` waits for the predicate to stop matching.
    pub(crate) negate: bool,
    /// The latest matching value assigned since registration.
    pub(crate) slot: Option<T>,
    pub(crate) waker: Option<Waker>,
}

/// An edge registration (`wait_transition`, `transitions`).
pub(crate) struct Edge<T> {
    pub(crate) pred: Pred2<T>,
    /// Matches are recorded only while armed: a `transitions` stream is disarmed while its
    /// consumer runs the loop body (those transitions are discarded, as in trio-util).
    pub(crate) armed: bool,
    /// The latest matching `(new, old)` assigned while armed.
    pub(crate) slot: Option<(T, T)>,
    pub(crate) waker: Option<Waker>,
}

impl<T> Inner<T> {
    fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub(crate) fn insert_level(&mut self, entry: Level<T>) -> u64 {
        let id = self.next_id();
        self.level.insert(id, entry);
        id
    }

    pub(crate) fn insert_edge(&mut self, entry: Edge<T>) -> u64 {
        let id = self.next_id();
        self.edge.insert(id, entry);
        id
    }

    /// The `wait_value` registration `id`, which its future keeps until it drops it.
    pub(crate) fn level_wait(&mut self, id: u64) -> &mut LevelWait<T> {
        match self.level.get_mut(&id) {
            Some(Level::Wait(wait)) => wait,
            _ => unreachable!("a registration stays until its owner removes it"),
        }
    }

    /// Removes the `wait_value` registration `id` and gives its predicate back.
    pub(crate) fn remove_level_wait(&mut self, id: u64) -> Pred<T> {
        match self.level.remove(&id) {
            Some(Level::Wait(wait)) => wait.pred,
            _ => unreachable!("a registration stays until its owner removes it"),
        }
    }

    pub(crate) fn edge(&mut self, id: u64) -> &mut Edge<T> {
        self.edge
            .get_mut(&id)
            .expect("a registration stays until its owner removes it")
    }
}

impl<T: Clone + PartialEq> Inner<T> {
    /// Steps 1 to 3 of the protocol; the caller wakes `wake` after unlocking.
    fn assign(&mut self, value: T, wake: &mut WakeAll) {
        if self.value == value {
            return;
        }
        let old = std::mem::replace(&mut self.value, value);
        let Inner {
            value: new,
            level,
            edge,
            transforms,
            ..
        } = self;
        for entry in level.values_mut() {
            match entry {
                Level::Wait(wait) => {
                    if (wait.pred)(new) != wait.negate {
                        wait.slot = Some(new.clone());
                        wake.take(&mut wait.waker);
                    }
                }
                Level::Eventual(eventual) => eventual.on_assign(new, wake),
                Level::Hook(hook) => hook(new),
            }
        }
        for entry in edge.values_mut() {
            if (entry.pred)(new, &old) && entry.armed {
                entry.slot = Some((new.clone(), old.clone()));
                wake.take(&mut entry.waker);
            }
        }
        for hook in transforms.values_mut() {
            hook(new);
        }
    }
}

/// Stores the task's waker in `slot`, cloning only if it changed.
pub(crate) fn register_waker(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(waker) if waker.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

impl<T> AsyncValue<T> {
    /// Wraps `value`.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = trellis::util::AsyncValue::new("idle");
    /// assert_eq!(v.get(), "idle");
    /// ```
    pub fn new(value: T) -> AsyncValue<T> {
        AsyncValue {
            inner: Mutex::new(Inner {
                value,
                next_id: 0,
                level: BTreeMap::new(),
                edge: BTreeMap::new(),
                transforms: BTreeMap::new(),
            }),
            owner: AtomicU64::new(0),
        }
    }

    /// A new value in an `Arc`, ready to share between tasks.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = trellis::util::AsyncValue::shared(String::from("a"));
    /// let v2 = v.clone();
    /// v2.set("b".into());
    /// assert_eq!(v.get(), "b");
    /// ```
    pub fn shared(value: T) -> SharedValue<T> {
        Arc::new(AsyncValue::new(value))
    }

    /// Locks the value for the user's `call`. Predicates, transforms and `with` closures run
    /// under this lock; one that uses the same value again would deadlock on it, so that is
    /// detected (the holder's thread is in `owner`) and panics.
    #[track_caller]
    pub(crate) fn lock(&self, call: &str) -> Locked<'_, T> {
        let me = THREAD.with(|t| *t);
        // Only the holder stores its own number, and it clears it before unlocking: finding
        // ours means this thread holds the lock.
        if self.owner.load(Ordering::Relaxed) == me {
            panic!(
                "`{call}` called on an `AsyncValue` from inside one of its own predicates, \
                 transforms or `with` closures (at {}): they run under the value's lock, so \
                 this would deadlock. Use the value passed to the closure instead",
                std::panic::Location::caller()
            );
        }
        // A predicate that panicked inside `set` leaves the value committed and consistent.
        let guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        self.owner.store(me, Ordering::Relaxed);
        Locked {
            guard,
            owner: &self.owner,
        }
    }

    /// Calls `f` with a reference to the current value (for values that are costly to clone).
    ///
    /// `f` runs under the value's lock: it must not call methods of this `AsyncValue`.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = trellis::util::AsyncValue::new(vec![1, 2, 3]);
    /// assert_eq!(v.with(|v| v.len()), 3);
    /// ```
    pub fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.lock("AsyncValue::with").value)
    }

    /// How many registrations the value holds now: what an assignment evaluates.
    ///
    /// Each pending [`wait_value`](Self::wait_value) or [`wait_transition`](Self::wait_transition)
    /// future and each live [`eventual_values`](Self::eventual_values) or
    /// [`transitions`](Self::transitions) stream holds one, from its first poll until it
    /// completes or is dropped; so does each input hook of a live composite, and each live
    /// transform.
    ///
    /// # Examples
    ///
    /// ```
    /// use trellis::util::AsyncValue;
    ///
    /// let v = AsyncValue::new(0);
    /// assert_eq!(v.statistics().level_predicates, 0);
    /// let doubled = v.open_transform(|x| x * 2);
    /// assert_eq!(v.statistics().transforms, 1);
    /// drop(doubled);
    /// assert_eq!(v.statistics().transforms, 0);
    /// ```
    pub fn statistics(&self) -> Statistics {
        let inner = self.lock("AsyncValue::statistics");
        Statistics {
            level_predicates: inner.level.len(),
            edge_predicates: inner.edge.len(),
            transforms: inner.transforms.len(),
        }
    }

    /// Registers a hook that runs with the new value on every change. Under the same lock,
    /// `sync` first sees the current value (a composite catches up with a change it missed).
    pub(crate) fn add_level_hook(&self, sync: impl FnOnce(&T), hook: Hook<T>) -> u64 {
        let mut inner = self.lock("compose_values");
        sync(&inner.value);
        inner.insert_level(Level::Hook(hook))
    }

    pub(crate) fn remove_level_hook(&self, id: u64) {
        self.lock("compose_values").level.remove(&id);
    }

    /// Registers a transform hook; `init` computes its first output from the current value,
    /// under the same lock.
    pub(crate) fn add_transform<R>(&self, init: impl FnOnce(&T) -> (R, Hook<T>)) -> (u64, R) {
        let mut inner = self.lock("AsyncValue::open_transform");
        let (out, hook) = init(&inner.value);
        let id = inner.next_id();
        inner.transforms.insert(id, hook);
        (id, out)
    }

    pub(crate) fn remove_transform(&self, id: u64) {
        self.lock("AsyncValue::open_transform")
            .transforms
            .remove(&id);
    }
}

impl<T: Clone> AsyncValue<T> {
    /// A copy of the current value.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = trellis::util::AsyncValue::new(3);
    /// v.set(4);
    /// assert_eq!(v.get(), 4);
    /// ```
    pub fn get(&self) -> T {
        self.lock("AsyncValue::get").value.clone()
    }
}

impl<T: Clone + PartialEq> AsyncValue<T> {
    /// Sets the value. Equal to the current value: nothing happens. Otherwise the value is
    /// committed, then every waiter whose predicate matches gets the new value (or the
    /// `(new, old)` pair) in its slot and is woken, composites and transforms are updated (in
    /// this call, on this thread). Synchronous: never a checkpoint.
    ///
    /// # Panics
    ///
    /// A panicking predicate, transform or composite transform propagates out of `set`, after
    /// the new value was committed; the registrations after it are not evaluated for this
    /// value (as in trio-util).
    ///
    /// # Examples
    ///
    /// ```
    /// let v = trellis::util::AsyncValue::new(1);
    /// v.set(1); // equal: no-op
    /// v.set(2);
    /// assert_eq!(v.get(), 2);
    /// ```
    pub fn set(&self, value: T) {
        // Declared before the lock guard, so dropped after it: the matched waiters are woken
        // outside the lock, even when a predicate panics.
        let mut wake = WakeAll::default();
        self.lock("AsyncValue::set").assign(value, &mut wake);
    }

    /// Sets the value to `f(current)` in one step under the lock (no other assignment can
    /// fall in between), as [`set`](Self::set) does.
    pub(crate) fn update(&self, f: impl FnOnce(&T) -> T) {
        let mut wake = WakeAll::default();
        let mut inner = self.lock("AsyncValue::set");
        let value = f(&inner.value);
        inner.assign(value, &mut wake);
    }
}

impl<T: Default> Default for AsyncValue<T> {
    /// Wraps `T::default()`: `AsyncBool::default()` is `false`, as trio-util's `AsyncBool()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let ready = trellis::util::AsyncBool::default();
    /// assert!(!ready.get());
    /// ```
    fn default() -> Self {
        AsyncValue::new(T::default())
    }
}

impl<T: fmt::Debug> fmt::Debug for AsyncValue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AsyncValue({:?})", self.lock("AsyncValue's Debug").value)
    }
}

/// What an [`AsyncValue`] has registered, from [`AsyncValue::statistics`].
///
/// # Examples
///
/// ```
/// let v = trellis::util::AsyncValue::new(1);
/// let stats = v.statistics();
/// assert_eq!((stats.level_predicates, stats.edge_predicates, stats.transforms), (0, 0, 0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Statistics {
    /// Pending `wait_value` futures (one each, also while a `held_for` hold waits for the
    /// value to stop matching), live `eventual_values` streams, and the hooks of live
    /// composites that this value is an input of.
    pub level_predicates: usize,
    /// Pending `wait_transition` futures and live `transitions` streams.
    pub edge_predicates: usize,
    /// Live transforms ([`AsyncValue::open_transform`]).
    pub transforms: usize,
}

/// Wakes every collected waker when dropped.
#[derive(Default)]
pub(crate) struct WakeAll(Vec<Waker>);

impl WakeAll {
    /// Moves the waker out of `slot` (if any) into the list.
    pub(crate) fn take(&mut self, slot: &mut Option<Waker>) {
        self.0.extend(slot.take());
    }
}

impl Drop for WakeAll {
    fn drop(&mut self) {
        for waker in self.0.drain(..) {
            waker.wake();
        }
    }
}

/// Shorthand for `AsyncValue<bool>`; `AsyncBool::default()` is `false`.
///
/// # Examples
///
/// ```
/// let ready = trellis::util::AsyncBool::new(false);
/// ready.set(true);
/// assert!(ready.get());
/// ```
pub type AsyncBool = AsyncValue<bool>;

/// `Arc<AsyncValue<T>>` is the usual way to share one.
///
/// # Examples
///
/// ```
/// let shared: trellis::util::SharedValue<u8> = trellis::util::AsyncValue::shared(1);
/// assert_eq!(shared.get(), 1);
/// ```
pub type SharedValue<T> = Arc<AsyncValue<T>>;

thread_local! {
    /// This thread's number for [`AsyncValue::lock`]'s re-entrance check (never 0).
    static THREAD: u64 = {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        NEXT.fetch_add(1, Ordering::Relaxed)
    };
}

/// An `AsyncValue`'s lock, held by this thread (named in `owner` until dropped).
pub(crate) struct Locked<'a, T> {
    guard: MutexGuard<'a, Inner<T>>,
    owner: &'a AtomicU64,
}

impl<T> Deref for Locked<'_, T> {
    type Target = Inner<T>;
    fn deref(&self) -> &Inner<T> {
        &self.guard
    }
}

impl<T> DerefMut for Locked<'_, T> {
    fn deref_mut(&mut self) -> &mut Inner<T> {
        &mut self.guard
    }
}

impl<T> Drop for Locked<'_, T> {
    fn drop(&mut self) {
        // Before `guard` unlocks (fields drop after this).
        self.owner.store(0, Ordering::Relaxed);
    }
}
