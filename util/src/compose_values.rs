//! `compose_values`: several `AsyncValue`s viewed as one composite `AsyncValue`.
//!
//! # Protocol (trio-util's `compose_values`, section 1.4 of the semantics reference)
//!
//! The composite's state is the tuple of the inputs' current values, the transform, and the
//! composite `AsyncValue`, behind one mutex. Each input gets a level hook (trio-util's
//! side-effect predicate that always answers "no"): inside the input's `set`, under the
//! input's lock, it writes the new value into its field of the tuple and sets the composite to
//! `transform(tuple)`. So the composite is updated synchronously (no task, no missed update),
//! only on real input changes, and its own equality guard drops unchanged results.
//!
//! Locks are always taken in the order input → composite state → composite value, so
//! concurrent setters of different inputs (on different threads) serialize on the state and
//! the composite always ends on the transform of the inputs' latest values.
//!
//! Construction reads every input, computes the first composite value, then registers the
//! hooks one input at a time; under each input's lock it first compares the input's current
//! value with the one read, and catches up if another thread changed it in between.
//! Dropping the guard removes the hooks (under each input's lock, so no hook runs after the
//! drop returns): the composite keeps its last value.

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::{AsyncValue, SharedValue, Transform};

mod sealed {
    pub trait Sealed {}
}

/// Something that refers to an [`AsyncValue`] and can be an input of
/// [`compose_values()`]: `&AsyncValue<T>`, `&Arc<AsyncValue<T>>` ([`SharedValue`]),
/// `&Composite<T>` (composites nest) and `&Transform<S, T>`.
///
/// # Examples
///
/// ```
/// use trellis::util::{AsyncValue, ValueRef};
///
/// let shared = AsyncValue::shared(5);
/// let value: &AsyncValue<i32> = (&shared).value_ref();
/// assert_eq!(value.get(), 5);
/// ```
pub trait ValueRef<'a>: sealed::Sealed {
    /// The type of the value referred to.
    type Value;

    /// The `AsyncValue` referred to.
    ///
    /// # Examples
    ///
    /// ```
    /// use trellis::util::{AsyncValue, ValueRef};
    ///
    /// let x = AsyncValue::new(1);
    /// let doubled = x.open_transform(|v| v * 2);
    /// assert_eq!((&doubled).value_ref().get(), 2);
    /// ```
    fn value_ref(self) -> &'a AsyncValue<Self::Value>;
}

impl<T> sealed::Sealed for &AsyncValue<T> {}
impl<'a, T> ValueRef<'a> for &'a AsyncValue<T> {
    type Value = T;
    fn value_ref(self) -> &'a AsyncValue<T> {
        self
    }
}

impl<T> sealed::Sealed for &Arc<AsyncValue<T>> {}
impl<'a, T> ValueRef<'a> for &'a Arc<AsyncValue<T>> {
    type Value = T;
    fn value_ref(self) -> &'a AsyncValue<T> {
        self
    }
}

impl<T> sealed::Sealed for &Composite<'_, T> {}
impl<'a, T> ValueRef<'a> for &'a Composite<'_, T> {
    type Value = T;
    fn value_ref(self) -> &'a AsyncValue<T> {
        &self.value
    }
}

impl<S, T> sealed::Sealed for &Transform<'_, S, T> {}
impl<'a, S, T> ValueRef<'a> for &'a Transform<'_, S, T> {
    type Value = T;
    fn value_ref(self) -> &'a AsyncValue<T> {
        self
    }
}

/// The inputs of [`compose_values()`]: a tuple of 1 to 12 [`ValueRef`]s, whose composite value
/// is the tuple of their values.
///
/// # Examples
///
/// ```
/// use trellis::util::{AsyncValue, ComposeInputs};
///
/// fn composite_of<'a, I: ComposeInputs<'a>>(inputs: I) -> I::Values {
///     trellis::util::compose_values(inputs).get()
/// }
/// let (x, y) = (AsyncValue::new(1), AsyncValue::new('a'));
/// assert_eq!(composite_of((&x, &y)), (1, 'a'));
/// ```
pub trait ComposeInputs<'a>: sealed::Sealed {
    /// The tuple of the inputs' values.
    type Values: Clone + PartialEq + Send + 'static;

    #[doc(hidden)]
    fn compose_boxed<U>(self, transform: BoxedTransform<Self::Values, U>) -> Composite<'a, U>
    where
        U: Clone + PartialEq + Send + 'static;
}

/// A composite's transform, boxed.
type BoxedTransform<V, U> = Box<dyn FnMut(&V) -> U + Send>;

/// What the inputs' hooks share.
struct State<V, U> {
    values: V,
    transform: BoxedTransform<V, U>,
    composite: SharedValue<U>,
}

impl<V, U: Clone + PartialEq> State<V, U> {
    /// Sets the composite from the current tuple.
    fn refresh(&mut self) {
        let value = (self.transform)(&self.values);
        self.composite.set(value);
    }
}

fn lock<V, U>(state: &Mutex<State<V, U>>) -> MutexGuard<'_, State<V, U>> {
    // A panicking transform leaves the tuple updated and consistent.
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// Removes one input's hook.
type Detach<'a> = Box<dyn FnOnce() + Send + Sync + 'a>;

macro_rules! compose_tuple {
    ($($V:ident $idx:tt),+) => {
        impl<'a, $($V: ValueRef<'a>),+> sealed::Sealed for ($($V,)+) {}

        impl<'a, $($V),+> ComposeInputs<'a> for ($($V,)+)
        where
            $($V: ValueRef<'a>, $V::Value: Clone + PartialEq + Send + 'static,)+
        {
            type Values = ($($V::Value,)+);

            fn compose_boxed<U>(
                self,
                mut transform: BoxedTransform<Self::Values, U>,
            ) -> Composite<'a, U>
            where
                U: Clone + PartialEq + Send + 'static,
            {
                let inputs = ($(self.$idx.value_ref(),)+);
                let values = ($(inputs.$idx.get(),)+);
                let composite = Arc::new(AsyncValue::new(transform(&values)));
                let state = Arc::new(Mutex::new(State {
                    values,
                    transform,
                    composite: composite.clone(),
                }));
                let mut detach: Vec<Detach<'a>> = Vec::new();
                $(
                    let input = inputs.$idx;
                    let hook_state = state.clone();
                    let id = input.add_level_hook(
                        |current| {
                            // Changed since it was read (another thread): catch up.
                            let mut state = lock(&state);
                            if state.values.$idx != *current {
                                state.values.$idx = current.clone();
                                state.refresh();
                            }
                        },
                        Box::new(move |new: &<$V as ValueRef<'a>>::Value| {
                            let mut state = lock(&hook_state);
                            state.values.$idx = new.clone();
                            state.refresh();
                        }),
                    );
                    detach.push(Box::new(move || input.remove_level_hook(id)));
                )+
                Composite { value: composite, detach }
            }
        }
    };
}

compose_tuple!(A 0);
compose_tuple!(A 0, B 1);
compose_tuple!(A 0, B 1, C 2);
compose_tuple!(A 0, B 1, C 2, D 3);
compose_tuple!(A 0, B 1, C 2, D 3, E 4);
compose_tuple!(A 0, B 1, C 2, D 3, E 4, F 5);
compose_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
compose_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
compose_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
compose_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);
compose_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10);
compose_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11);

/// A composite of several [`AsyncValue`]s: an `AsyncValue` of the tuple of their values, kept
/// up to date while the returned guard lives. trio-util's `compose_values`.
///
/// The composite is updated synchronously inside the inputs' [`set`](AsyncValue::set) (no
/// background task, no missed update: several changes in a row each produce their composite
/// value, and a waiter on the composite receives the matching one), only when an input really
/// changes. Wait on it like any `AsyncValue`: [`wait_value`](AsyncValue::wait_value),
/// [`eventual_values`](AsyncValue::eventual_values), ... Inputs are `&AsyncValue`,
/// `&Arc<AsyncValue>`, or other composites and transforms (composition nests). For named
/// fields, use the [`compose_values!`](crate::compose_values!) macro; to map the tuple to
/// another value, [`compose_values_with`].
///
/// Dropping the guard removes the hooks: the composite keeps its last value. Do not
/// [`set`](AsyncValue::set) the composite yourself: the next input change overwrites it.
///
/// Predicates of waiters on the composite run inside the inputs' `set`, under their locks:
/// they must not call methods of the inputs.
///
/// # Examples
///
/// ```
/// use trellis::util::{AsyncValue, compose_values};
///
/// trellis::run(async {
///     let (x, y) = (AsyncValue::new(-1), AsyncValue::new(0));
///     let xy = compose_values((&x, &y));
///     assert_eq!(xy.get(), (-1, 0));
///     y.set(10);
///     assert_eq!(xy.wait_value(|(x, y)| *x < 0 && 0 < *y).await, (-1, 10));
/// });
/// ```
///
/// Inputs that are not `AsyncValue`s, or no inputs at all, do not compile (trio-util raises
/// `TypeError`):
///
/// ```compile_fail
/// let _c = trellis::util::compose_values(());
/// ```
///
/// ```compile_fail
/// let _c = trellis::util::compose_values((&10,));
/// ```
///
/// ```compile_fail
/// let x = trellis::util::AsyncValue::new(0);
/// let _c = trellis::util::compose_values(&x); // not a tuple
/// ```
pub fn compose_values<'a, I>(inputs: I) -> Composite<'a, I::Values>
where
    I: ComposeInputs<'a>,
{
    inputs.compose_boxed(Box::new(|values: &I::Values| values.clone()))
}

/// A composite whose value is `transform(tuple of the inputs' values)`: trio-util's
/// `compose_values(..., _transform_=f)`. Cheaper than [`AsyncValue::open_transform`] on a
/// [`compose_values()`] composite (one value, one set of waiters).
///
/// `transform` runs once at the start and on every input change, under the changed input's
/// lock.
///
/// # Panics
///
/// A panic in `transform` propagates out of this call (first value) or out of the input's
/// `set`.
///
/// # Examples
///
/// ```
/// use trellis::util::{AsyncValue, compose_values_with};
///
/// let (x, y) = (AsyncValue::new(42), AsyncValue::new(2));
/// let product = compose_values_with((&x, &y), |(x, y)| x * y);
/// assert_eq!(product.get(), 84);
/// y.set(10);
/// assert_eq!(product.get(), 420);
/// ```
pub fn compose_values_with<'a, I, U, F>(inputs: I, transform: F) -> Composite<'a, U>
where
    I: ComposeInputs<'a>,
    U: Clone + PartialEq + Send + 'static,
    F: FnMut(&I::Values) -> U + Send + 'static,
{
    inputs.compose_boxed(Box::new(transform))
}

/// The named-field form behind [`compose_values!`](crate::compose_values!) with a transform:
/// `build` makes the named struct from the tuple, then `transform` maps it. Taking the three
/// in one call lets Rust infer each closure's argument type from the one before.
#[doc(hidden)]
pub fn __compose_named<'a, I, V, U, B, F>(
    inputs: I,
    mut build: B,
    mut transform: F,
) -> Composite<'a, U>
where
    I: ComposeInputs<'a>,
    U: Clone + PartialEq + Send + 'static,
    B: FnMut(&I::Values) -> V + Send + 'static,
    F: FnMut(&V) -> U + Send + 'static,
{
    inputs.compose_boxed(Box::new(move |values: &I::Values| {
        transform(&build(values))
    }))
}

/// A composite with named fields: `compose_values!(x: &async_x, y: &async_y)` is
/// [`compose_values()`] whose value is a struct `CompositeValue { x, y }` (trio-util's
/// `compose_values(x=async_x, y=async_y)` and its namedtuple). With a transform:
/// `compose_values!(x: &async_x, y: &async_y => |v| v.x * v.y)`.
///
/// The struct is defined where the macro is used; it derives `Clone`, `Copy`, `Debug`,
/// `PartialEq`, `Eq` and `Hash` (each where its fields allow). Inputs are anything
/// [`compose_values()`] takes.
///
/// # Examples
///
/// ```
/// use trellis::util::{AsyncValue, compose_values};
///
/// trellis::run(async {
///     let (speed, door) = (AsyncValue::new(0), AsyncValue::new("closed"));
///     let state = compose_values!(speed: &speed, door: &door);
///     assert_eq!(state.get().door, "closed");
///     speed.set(30);
///     door.set("open");
///     let alarm = state.wait_value(|s| s.speed > 0 && s.door == "open").await;
///     assert_eq!((alarm.speed, alarm.door), (30, "open"));
///
///     let moving = compose_values!(speed: &speed => |s| s.speed > 0);
///     assert!(moving.get());
/// });
/// ```
#[macro_export]
macro_rules! compose_values {
    ($($name:ident : $value:expr),+ => $transform:expr) => {{
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[allow(non_camel_case_types)]
        struct CompositeValue<$($name),+> {
            $(pub $name: $name),+
        }
        $crate::__compose_named(
            ($($value,)+),
            |__values| {
                let ($($name,)+) = __values;
                CompositeValue { $($name: ::core::clone::Clone::clone($name)),+ }
            },
            $transform,
        )
    }};
    ($($name:ident : $value:expr),+ $(,)?) => {{
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[allow(non_camel_case_types)]
        struct CompositeValue<$($name),+> {
            $(pub $name: $name),+
        }
        $crate::compose_values_with(($($value,)+), |__values| {
            let ($($name,)+) = __values;
            CompositeValue { $($name: ::core::clone::Clone::clone($name)),+ }
        })
    }};
}

/// The guard returned by [`compose_values()`], [`compose_values_with`] and
/// [`compose_values!`](crate::compose_values!): dereferences to the composite
/// [`AsyncValue`], which follows its inputs until the guard is dropped.
///
/// # Examples
///
/// ```
/// use trellis::util::{AsyncValue, Composite, compose_values};
///
/// let (a, b) = (AsyncValue::new(1), AsyncValue::new(2));
/// let ab: Composite<'_, (i32, i32)> = compose_values((&a, &b));
/// a.set(3);
/// assert_eq!(ab.get(), (3, 2));
/// drop(ab); // frozen from here on
/// ```
#[must_use = "the composite stops following its inputs when the guard is dropped"]
pub struct Composite<'a, U> {
    value: SharedValue<U>,
    detach: Vec<Detach<'a>>,
}

impl<U> Composite<'_, U> {
    /// The composite value, to share with other tasks. It follows the inputs only while this
    /// guard lives; after that it keeps its last value.
    ///
    /// # Examples
    ///
    /// ```
    /// use trellis::util::AsyncValue;
    ///
    /// trellis::run(async {
    ///     let (a, b) = (AsyncValue::new(0), AsyncValue::new(0));
    ///     let sum = trellis::util::compose_values_with((&a, &b), |(a, b)| a + b);
    ///     let watcher = sum.shared();
    ///     let task = trellis::spawn(async move { watcher.wait_value(|s| *s >= 5).await });
    ///     a.set(2);
    ///     b.set(3);
    ///     assert_eq!(task.await.unwrap(), 5);
    /// });
    /// ```
    pub fn shared(&self) -> SharedValue<U> {
        self.value.clone()
    }
}

impl<U> Deref for Composite<'_, U> {
    type Target = AsyncValue<U>;

    fn deref(&self) -> &AsyncValue<U> {
        &self.value
    }
}

impl<U> Drop for Composite<'_, U> {
    fn drop(&mut self) {
        for detach in self.detach.drain(..) {
            detach();
        }
    }
}

impl<U: fmt::Debug> fmt::Debug for Composite<'_, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Composite").field(&*self.value).finish()
    }
}
