//! Static auto-trait table for the domain types: this file fails to *compile*, rather than fail
//! at run time, when a bound is lost or an unsound one appears.
//!
//! | type | Send | Sync | other |
//! |---|---|---|---|
//! | `DomainId` | yes | yes | Copy, Eq, Hash, Ord, Debug, Display, 'static |
//! | `DomainLocal<T>` (any `T`, even `!Send`) | — | yes (it lives in a `static`) | Debug |
//! | `AccessError` | yes | yes | Unpin, Copy, Eq, Debug, Display, Error |
//! | `JoinHandle<T: Send>` | yes | yes | Unpin |
//! | `JoinHandle<Rc<_>>` (a `spawn_local` output) | **no** | **no** | Unpin |
//!
//! The negative rows use the ambiguity trick (as `static_assertions::assert_not_impl_any!`
//! does): if the type implemented the trait, the blanket impl for `T: Send` would also apply and
//! the call would be ambiguous, which is a compile error.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt::{Debug, Display};
use std::hash::Hash;
use std::rc::Rc;

use trellis::domain::{AccessError, DomainLocal};
use trellis::{DomainId, JoinHandle};

fn assert_send<T: Send>() {}
fn assert_sync<T: Sync>() {}
fn assert_unpin<T: Unpin>() {}
fn assert_id_traits<T: Copy + Eq + Hash + Ord + Debug + Display + 'static>() {}

/// `assert_not_send::<T>()` compiles only if `T: !Send`.
fn assert_not_send<T: ?Sized + NotSend<A>, A>() {}
trait NotSend<A> {}
impl<T: ?Sized> NotSend<()> for T {}
#[allow(dead_code)]
struct IsSend;
impl<T: ?Sized + Send> NotSend<IsSend> for T {}

/// `assert_not_sync::<T>()` compiles only if `T: !Sync`.
fn assert_not_sync<T: ?Sized + NotSync<A>, A>() {}
trait NotSync<A> {}
impl<T: ?Sized> NotSync<()> for T {}
#[allow(dead_code)]
struct IsSync;
impl<T: ?Sized + Sync> NotSync<IsSync> for T {}

#[test]
fn domain_types_have_the_documented_auto_traits() {
    // DomainId: a plain value, shared and sent freely.
    assert_send::<DomainId>();
    assert_sync::<DomainId>();
    assert_id_traits::<DomainId>();

    // DomainLocal<T> is Sync for every T (it only holds the initialiser): that is what lets a
    // `static` hold it, even for `!Send` values.
    assert_sync::<DomainLocal<u32>>();
    assert_sync::<DomainLocal<Rc<RefCell<HashMap<u64, u64>>>>>();
    assert_sync::<DomainLocal<Cell<u8>>>();
    assert_send::<AccessError>();
    assert_sync::<AccessError>();
    assert_unpin::<AccessError>();

    // JoinHandle of a Send output: Send, Sync, Unpin (awaitable from any thread).
    assert_send::<JoinHandle<u32>>();
    assert_sync::<JoinHandle<u32>>();
    assert_unpin::<JoinHandle<Rc<u32>>>();

    // JoinHandle of a !Send output (spawn_local may return one): it must stay on its domain.
    assert_not_send::<JoinHandle<Rc<u32>>, _>();
    assert_not_sync::<JoinHandle<Rc<u32>>, _>();
    assert_not_send::<JoinHandle<Rc<RefCell<HashMap<u64, u64>>>>, _>();

    // The trick itself: it does reject !Send types and would reject Send ones.
    assert_not_send::<Rc<u8>, _>();
    assert_not_sync::<Cell<u8>, _>();
}

trellis::domain_local! {
    /// A `static` with a `!Send`, `!Sync` value compiles: the check above, in practice.
    static CACHE: Rc<RefCell<HashMap<u64, u64>>> = Rc::new(RefCell::new(HashMap::new()));
}

/// Never called: only type-checked. `spawn_local` accepts `!Send` futures and outputs; the
/// futures of `spawn_on` may be `!Send` (built on the target) while its closure is `Send`.
#[allow(dead_code)]
fn not_send_futures_are_accepted_where_documented() {
    let rc = Rc::new(1);
    let h: JoinHandle<Rc<i32>> = trellis::spawn_local(async move {
        trellis::yield_now().await;
        rc
    });
    drop(h);
    let h: JoinHandle<usize> = trellis::spawn_on(DomainId::new(0), || {
        let local = Rc::new(vec![1, 2, 3]); // !Send, created on the target domain
        async move {
            trellis::yield_now().await;
            CACHE.with(|c| c.borrow().len()) + local.len()
        }
    });
    drop(h);
}
