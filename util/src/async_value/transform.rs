//! `open_transform`: a derived `AsyncValue` kept equal to `f(source)` while a guard lives.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use super::{AsyncValue, SharedValue};

impl<T: Clone + PartialEq> AsyncValue<T> {
    /// A derived value kept equal to `f(current value)` while the returned guard lives.
    ///
    /// The derived value starts as `f(current)`, then every change of this value sets it to
    /// `f(new)`, synchronously inside this value's [`set`](Self::set) (after its waiters are
    /// evaluated). Its own equality guard applies: when `f(new)` equals the derived value,
    /// nobody waiting on the derived value is woken. Dropping the guard stops the updates (the
    /// derived value keeps its last value). The guard dereferences to the derived
    /// [`AsyncValue<U>`]; [`Transform::shared`] hands it to other tasks.
    ///
    /// Each call makes a new derived value (trio-util returns the same one for the same
    /// function object; Rust closures have no identity to key on).
    ///
    /// `f` runs under this value's lock and must not call its methods.
    ///
    /// # Panics
    ///
    /// A panic in `f` propagates out of the `set` that called it (or out of this call, for the
    /// first value).
    ///
    /// # Examples
    ///
    /// ```
    /// let x = trellis::util::AsyncValue::new(1);
    /// let doubled = x.open_transform(|v| v * 2);
    /// assert_eq!(doubled.get(), 2);
    /// x.set(10);
    /// assert_eq!(doubled.get(), 20);
    /// drop(doubled);
    /// x.set(11); // no longer followed
    /// ```
    pub fn open_transform<U, F>(&self, mut f: F) -> Transform<'_, T, U>
    where
        U: Clone + PartialEq + Send + 'static,
        F: FnMut(&T) -> U + Send + 'static,
    {
        let (id, derived) = self.add_transform(|current| {
            let derived = Arc::new(AsyncValue::new(f(current)));
            let target = derived.clone();
            (derived, Box::new(move |new: &T| target.set(f(new))) as _)
        });
        Transform {
            source: self,
            id,
            derived,
        }
    }
}

/// The guard returned by [`AsyncValue::open_transform`]: dereferences to the derived value,
/// which follows the source until the guard is dropped.
///
/// # Examples
///
/// ```
/// use trellis::util::{AsyncValue, Transform};
///
/// let celsius = AsyncValue::new(20.0);
/// let fahrenheit: Transform<'_, f64, f64> = celsius.open_transform(|c| c * 9.0 / 5.0 + 32.0);
/// celsius.set(100.0);
/// assert_eq!(fahrenheit.get(), 212.0);
/// ```
#[must_use = "the derived value stops following its source when the guard is dropped"]
pub struct Transform<'a, T, U> {
    source: &'a AsyncValue<T>,
    id: u64,
    derived: SharedValue<U>,
}

impl<T, U> Transform<'_, T, U> {
    /// The derived value, to share with other tasks. It follows the source only while this
    /// guard lives; after that it keeps its last value.
    ///
    /// # Examples
    ///
    /// ```
    /// trellis::run(async {
    ///     let x = trellis::util::AsyncValue::new(1);
    ///     let squared = x.open_transform(|v| v * v);
    ///     let watcher = squared.shared();
    ///     let task = trellis::spawn(async move { watcher.wait_value(|v| *v == 9).await });
    ///     x.set(3);
    ///     assert_eq!(task.await.unwrap(), 9);
    /// });
    /// ```
    pub fn shared(&self) -> SharedValue<U> {
        self.derived.clone()
    }
}

impl<T, U> Deref for Transform<'_, T, U> {
    type Target = AsyncValue<U>;

    fn deref(&self) -> &AsyncValue<U> {
        &self.derived
    }
}

impl<T, U> Drop for Transform<'_, T, U> {
    fn drop(&mut self) {
        self.source.remove_transform(self.id);
    }
}

impl<T, U: fmt::Debug> fmt::Debug for Transform<'_, T, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Transform").field(&*self.derived).finish()
    }
}
