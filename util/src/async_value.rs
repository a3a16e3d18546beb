//! `AsyncValue`: a value that tasks can wait on (trio-util's `AsyncValue`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// A value wrapper that tasks can wait on: [`wait_value`](Self::wait_value) until it matches a
/// predicate, [`wait_transition`](Self::wait_transition) until it changes in a matching way.
///
/// [`set`](Self::set) is synchronous (no checkpoint): it commits the new value, then evaluates
/// every registered predicate against it *at assignment time* and stores the matching value in
/// that waiter's slot before waking it. So a waiter sees a match even if the value changes again
/// before it runs, and it receives the latest matching value assigned before it resumed, which
/// may differ from the current one. Setting an equal value is a no-op: no predicate runs, nobody
/// is woken. With nobody waiting, `set` allocates nothing.
///
/// Usable from any domain and from plain threads; share it with an `Arc`.
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
///     trellis::spawn(async move {
///         t.set(25);
///         t.set(35); // matches
///     });
///     assert_eq!(temperature.wait_value(|v| *v > 30).await, 35);
/// });
/// ```
pub struct AsyncValue<T> {
    inner: Mutex<Inner<T>>,
}

type Level<T> = Box<dyn Fn(&T) -> bool + Send>;
type Edge<T> = Box<dyn Fn(&T, &T) -> bool + Send>;

struct Inner<T> {
    value: T,
    next_id: u64,
    level: Vec<Waiter<T, Level<T>, T>>,
    edge: Vec<Waiter<T, Edge<T>, (T, T)>>,
}

struct Waiter<T, P, S> {
    id: u64,
    predicate: P,
    /// The latest matching value assigned since registration.
    slot: Option<S>,
    waker: Option<Waker>,
    _value: std::marker::PhantomData<fn(&T)>,
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
                level: Vec::new(),
                edge: Vec::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        // A predicate that panicked inside `set` leaves the value committed and consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Calls `f` with a reference to the current value (for values that are costly to clone).
    ///
    /// # Examples
    ///
    /// ```
    /// let v = trellis::util::AsyncValue::new(vec![1, 2, 3]);
    /// assert_eq!(v.with(|v| v.len()), 3);
    /// ```
    pub fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.lock().value)
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
        self.lock().value.clone()
    }
}

impl<T: Clone + PartialEq> AsyncValue<T> {
    /// Sets the value. Equal to the current value: nothing happens. Otherwise the value is
    /// committed, then every waiter whose predicate matches gets the new value (or the
    /// `(new, old)` pair) in its slot and is woken. Synchronous: never a checkpoint.
    ///
    /// # Panics
    ///
    /// A panicking predicate propagates out of `set`, after the new value was committed; the
    /// predicates after it are not evaluated for this value (as in trio-util).
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
        // outside the lock, even when a later predicate panics.
        let mut wake = WakeAll(Vec::new());
        {
            let mut inner = self.lock();
            if inner.value == value {
                return;
            }
            let old = std::mem::replace(&mut inner.value, value);
            let Inner {
                value: new,
                level,
                edge,
                ..
            } = &mut *inner;
            for waiter in level.iter_mut() {
                if (waiter.predicate)(new) {
                    waiter.slot = Some(new.clone());
                    wake.0.extend(waiter.waker.take());
                }
            }
            for waiter in edge.iter_mut() {
                if (waiter.predicate)(new, &old) {
                    waiter.slot = Some((new.clone(), old.clone()));
                    wake.0.extend(waiter.waker.take());
                }
            }
        }
    }

    /// Waits until the value satisfies `predicate`, and returns the matching value: the
    /// current one if it already matches, else the latest matching value assigned before this
    /// task resumed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// trellis::run(async {
    ///     let v = Arc::new(trellis::util::AsyncValue::new(0));
    ///     assert_eq!(v.wait_value(|x| *x == 0).await, 0); // already true
    ///     let v2 = v.clone();
    ///     trellis::spawn(async move { v2.set(11) });
    ///     assert_eq!(v.wait_value(|x| *x > 10).await, 11);
    /// });
    /// ```
    ///
    /// # Cancellation
    ///
    /// Always a checkpoint, even when the predicate already holds. Dropping the future
    /// unregisters the predicate; nothing else is lost.
    pub async fn wait_value(&self, predicate: impl Fn(&T) -> bool + Send + 'static) -> T {
        // Check and register under one lock: no assignment can fall in between.
        let id = {
            let mut inner = self.lock();
            if predicate(&inner.value) {
                Err(inner.value.clone())
            } else {
                let id = inner.next_id;
                inner.next_id += 1;
                inner.level.push(Waiter {
                    id,
                    predicate: Box::new(predicate),
                    slot: None,
                    waker: None,
                    _value: std::marker::PhantomData,
                });
                Ok(id)
            }
        };
        let id = match id {
            Ok(id) => id,
            Err(value) => {
                trellis_runtime::checkpoint().await;
                return value;
            }
        };
        Wait {
            value: self,
            id,
            edge: false,
        }
        .await
        .0
    }

    /// Waits for a future change that satisfies `predicate(new, old)`, and returns the latest
    /// matching `(new, old)` assigned before this task resumed. Never checks the current value:
    /// a transition that happened before the call is missed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// trellis::run(async {
    ///     let v = Arc::new(trellis::util::AsyncValue::new(10));
    ///     let v2 = v.clone();
    ///     trellis::spawn(async move {
    ///         trellis::time::sleep(std::time::Duration::from_millis(5)).await;
    ///         v2.set(5);
    ///         v2.set(10);
    ///     });
    ///     // Registered at once (this poll), before the setter wakes up.
    ///     assert_eq!(v.wait_transition(|new, _old| *new == 10).await, (10, 5));
    /// });
    /// ```
    ///
    /// # Cancellation
    ///
    /// A checkpoint. Dropping the future unregisters the predicate.
    pub async fn wait_transition(
        &self,
        predicate: impl Fn(&T, &T) -> bool + Send + 'static,
    ) -> (T, T) {
        let id = {
            let mut inner = self.lock();
            let id = inner.next_id;
            inner.next_id += 1;
            inner.edge.push(Waiter {
                id,
                predicate: Box::new(predicate),
                slot: None,
                waker: None,
                _value: std::marker::PhantomData,
            });
            id
        };
        Wait {
            value: self,
            id,
            edge: true,
        }
        .await
        .1
        .expect("an edge waiter receives a pair")
    }
}

/// Wakes every collected waker when dropped.
struct WakeAll(Vec<Waker>);

impl Drop for WakeAll {
    fn drop(&mut self) {
        for waker in self.0.drain(..) {
            waker.wake();
        }
    }
}

/// A registered waiter: completes when its slot is filled; unregisters on drop.
struct Wait<'a, T: Clone + PartialEq> {
    value: &'a AsyncValue<T>,
    id: u64,
    edge: bool,
}

impl<T: Clone + PartialEq> Future for Wait<'_, T> {
    /// `(level value, edge pair)`: one of them is set, by kind.
    type Output = (T, Option<(T, T)>);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut inner = self.value.lock();
        if self.edge {
            let Some(waiter) = inner.edge.iter_mut().find(|w| w.id == self.id) else {
                unreachable!("a waiter stays registered until its future is dropped");
            };
            if let Some(pair) = waiter.slot.take() {
                let current = inner.value.clone();
                return Poll::Ready((current, Some(pair)));
            }
            waiter.waker = Some(cx.waker().clone());
        } else {
            let Some(waiter) = inner.level.iter_mut().find(|w| w.id == self.id) else {
                unreachable!("a waiter stays registered until its future is dropped");
            };
            if let Some(value) = waiter.slot.take() {
                return Poll::Ready((value, None));
            }
            waiter.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl<T: Clone + PartialEq> Drop for Wait<'_, T> {
    fn drop(&mut self) {
        let mut inner = self.value.lock();
        if self.edge {
            inner.edge.retain(|w| w.id != self.id);
        } else {
            inner.level.retain(|w| w.id != self.id);
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for AsyncValue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AsyncValue({:?})", self.lock().value)
    }
}

/// Shorthand for `AsyncValue<bool>`.
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

impl<T> AsyncValue<T> {
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
}
