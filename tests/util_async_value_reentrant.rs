//! An `AsyncValue` used from inside its own predicate (or `with` closure) panics with a
//! message naming the call, instead of deadlocking on the value's lock.

mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use support::{Watchdog, panic_message};
use trellis::util::AsyncValue;

#[test]
fn with_closure_touching_its_value_panics_naming_the_call() {
    let _wd = Watchdog::new("with_closure_touching_its_value_panics_naming_the_call");
    let v = AsyncValue::new(1);
    let payload = catch_unwind(AssertUnwindSafe(|| v.with(|_| v.set(2)))).unwrap_err();
    let msg = panic_message(payload.as_ref());
    assert!(
        msg.contains("`AsyncValue::set` called on an `AsyncValue` from inside"),
        "{msg}"
    );
    assert!(msg.contains("would deadlock"), "{msg}");
    // The value is usable afterwards.
    v.set(3);
    assert_eq!(v.get(), 3);
}

#[test]
fn predicate_touching_its_value_panics_in_wait_value() {
    let _wd = Watchdog::new("predicate_touching_its_value_panics_in_wait_value");
    let v = AsyncValue::shared(0);
    let err = trellis::run({
        let v = v.clone();
        async move {
            trellis::spawn(async move {
                let inner = v.clone();
                v.wait_value(move |x: &i32| *x == inner.get()).await;
            })
            .await
            .unwrap_err()
        }
    });
    let msg = panic_message(err.into_panic().as_ref());
    assert!(
        msg.contains("`AsyncValue::get` called on an `AsyncValue`"),
        "{msg}"
    );
}

/// A predicate evaluated by `set` (the waiter registered first) that touches the value: the
/// panic comes out of `set`, and the value keeps the new value.
#[test]
fn predicate_touching_its_value_panics_in_set() {
    let _wd = Watchdog::new("predicate_touching_its_value_panics_in_set");
    let v = AsyncValue::shared(0);
    trellis::run({
        let v = v.clone();
        async move {
            let inner = v.clone();
            let waiter = trellis::spawn({
                let v: Arc<AsyncValue<i32>> = v.clone();
                async move {
                    v.wait_value(move |x: &i32| *x > 0 && inner.get() > 0).await;
                }
            });
            while v.statistics().level_predicates == 0 {
                trellis::yield_now().await;
            }
            let payload = catch_unwind(AssertUnwindSafe(|| v.set(1))).unwrap_err();
            let msg = panic_message(payload.as_ref());
            assert!(msg.contains("`AsyncValue::get` called"), "{msg}");
            assert_eq!(v.get(), 1);
            waiter.abort();
        }
    });
}
