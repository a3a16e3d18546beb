//! Ready-made predicates: trio-util's plain-value arguments and its `ANY` defaults.
//!
//! trio-util takes a predicate or a plain value in the same argument. Rust infers a closure's
//! argument types only from a direct `Fn` bound, so the methods take closures, and a plain
//! value goes through [`equal_to`] (or [`transition_to`] for transitions).

/// A predicate matching values equal to `expected`: trio-util's `wait_value(10)`.
///
/// # Examples
///
/// ```
/// use trellis::util::{AsyncValue, equal_to};
///
/// trellis::run(async {
///     let v = AsyncValue::new(10);
///     assert_eq!(v.wait_value(equal_to(10)).await, 10);
/// });
/// ```
pub fn equal_to<T>(expected: T) -> impl FnMut(&T) -> bool + Clone + Send + 'static
where
    T: PartialEq + Clone + Send + 'static,
{
    move |value| *value == expected
}

/// A transition predicate matching changes *to* `expected`, whatever the old value:
/// trio-util's `wait_transition(10)`.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use trellis::util::{AsyncValue, transition_to};
///
/// # let rt = trellis::Runtime::builder().start_paused(true).build().unwrap();
/// # rt.block_on(async {
///     let v = Arc::new(AsyncValue::new(10));
///     let v2 = v.clone();
///     let _setter = trellis::spawn(async move {
///         trellis::time::sleep(std::time::Duration::from_millis(5)).await;
///         v2.set(9);
///         v2.set(10);
///     });
///     assert_eq!(v.wait_transition(transition_to(10)).await, (10, 9));
/// # });
/// ```
pub fn transition_to<T>(expected: T) -> impl FnMut(&T, &T) -> bool + Clone + Send + 'static
where
    T: PartialEq + Clone + Send + 'static,
{
    move |new, _old| *new == expected
}

/// The predicate matching every value: trio-util's default for `eventual_values()`.
///
/// # Examples
///
/// ```
/// use trellis::util::{AsyncValue, any_value};
///
/// trellis::run(async {
///     let v = AsyncValue::new(3);
///     let mut values = v.eventual_values(any_value);
///     assert_eq!(values.next().await, Some(3));
/// });
/// ```
pub fn any_value<T>(_value: &T) -> bool {
    true
}

/// The transition predicate matching every change: trio-util's default for
/// `wait_transition()` and `transitions()`.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use trellis::util::{AsyncValue, any_transition};
///
/// # let rt = trellis::Runtime::builder().start_paused(true).build().unwrap();
/// # rt.block_on(async {
///     let v = Arc::new(AsyncValue::new('a'));
///     let v2 = v.clone();
///     let _setter = trellis::spawn(async move {
///         trellis::time::sleep(std::time::Duration::from_millis(5)).await;
///         v2.set('b');
///     });
///     assert_eq!(v.wait_transition(any_transition).await, ('b', 'a'));
/// # });
/// ```
pub fn any_transition<T>(_new: &T, _old: &T) -> bool {
    true
}
