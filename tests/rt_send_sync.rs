//! The one static auto-trait table of the public types: the runtime's, the channels', the
//! domains' and the scopes' (tokio `async_send_sync.rs` style). This file fails to *compile*,
//! rather than fail at run time, when a bound is lost or an unsound one appears.
//!
//! The domain types, in short:
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
use std::time::Duration;

use trellis::channel::{
    self, Receiver, RecvError, RecvFuture, SendError, SendFuture, Sender, TryRecvError,
    TrySendError, oneshot,
};
use trellis::domain::{AccessError, DomainLocal};
use trellis::{BuildError, Builder, DomainId, JoinError, JoinHandle, Runtime};

fn assert_send<T: Send>() {}
fn assert_sync<T: Sync>() {}
fn assert_unpin<T: Unpin>() {}
fn assert_static<T: 'static>() {}
fn assert_clone<T: Clone>() {}
fn assert_debug<T: Debug>() {}
fn assert_error<T: std::error::Error + Send + Sync + 'static>() {}
fn assert_debug_display<T: Debug + Display>() {}
fn assert_id_traits<T: Copy + Eq + Hash + Ord + Debug + Display + 'static>() {}
fn assert_value_send<T: Send>(_: &T) {}
fn assert_value_unpin<T: Unpin>(_: &T) {}

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

// ---- The runtime: Runtime, Builder, tasks, join handles, time, instruments ----

#[test]
fn public_types_have_the_documented_auto_traits() {
    // Runtime: share it across threads; several runtimes may live in one process.
    assert_send::<Runtime>();
    assert_sync::<Runtime>();
    assert_static::<Runtime>();

    // JoinHandle<T>: Send when T: Send, and Unpin (awaitable without pinning).
    assert_send::<JoinHandle<u32>>();
    assert_send::<JoinHandle<String>>();
    assert_unpin::<JoinHandle<u32>>();

    // JoinError crosses threads and formats.
    assert_send::<JoinError>();
    assert_sync::<JoinError>();
    assert_debug_display::<JoinError>();

    // Builder can be configured on one thread and built on another.
    assert_send::<Builder>();
    assert_sync::<Builder>();

    // BuildError is a proper error.
    assert_error::<BuildError>();

    assert_send::<trellis::TaskBuilder>();
    assert_sync::<trellis::TaskBuilder>();
    assert_send::<trellis::TaskId>();
    assert_sync::<trellis::TaskId>();
    assert_send::<trellis::time::Instant>();
    assert_sync::<trellis::time::Instant>();
    assert_unpin::<trellis::time::Instant>();
    assert_send::<trellis::util::TaskStats>();
    assert_sync::<trellis::util::TaskStats>();
    assert_send::<trellis::util::TaskStatsReport>();
    // An instrument is shared by every worker.
    assert_send::<std::sync::Arc<dyn trellis::Instrument>>();
    assert_sync::<std::sync::Arc<dyn trellis::Instrument>>();
    // A task-tree dump is a plain value: sent to another thread, printed, compared.
    assert_send::<trellis::tree::TaskTree>();
    assert_sync::<trellis::tree::TaskTree>();
    assert_clone::<trellis::tree::TaskTree>();
    assert_debug_display::<trellis::tree::TaskTree>();
    assert_send::<trellis::tree::TreeNode>();
    assert_sync::<trellis::tree::NodeKind>();
    assert_send::<trellis::tree::TaskView>();
    assert_debug_display::<trellis::tree::TaskState>();
    assert_error::<trellis::tree::TreeOff>();
}

/// Never called: only type-checked. The futures and streams of the runtime must be `Send` so
/// tasks that hold them across an `.await` can be spawned (stolen between workers).
#[allow(dead_code)]
fn runtime_futures_are_send(rt: &Runtime) {
    let d = Duration::from_millis(1);
    assert_value_send(&trellis::time::sleep(d));
    assert_value_send(&trellis::time::sleep_until(trellis::time::Instant::now()));
    assert_value_send(&trellis::time::interval(d));
    assert_value_send(&trellis::yield_now());
    assert_value_send(&trellis::spawn(async { 1 }));
    assert_value_unpin(&trellis::spawn(async { 1 }));
    assert_value_send(&trellis::spawn_blocking(|| 1));
    assert_value_send(&rt.spawn(async { 1 }));
    // A task holding every kind of runtime future across awaits is spawnable.
    drop(rt.spawn(async move {
        trellis::time::sleep(d).await;
        let mut iv = trellis::time::interval(d);
        iv.tick().await;
        trellis::yield_now().await;
        trellis::spawn(async {}).await.unwrap();
        trellis::spawn_blocking(|| ()).await.unwrap();
        iv.tick().await;
    }));
}

// ---- Channels ----

#[test]
fn channel_types_have_the_documented_auto_traits() {
    // Handles: Send + Sync for T: Send (share them across domains and threads), Clone (MPMC).
    assert_send::<Sender<u32>>();
    assert_sync::<Sender<u32>>();
    assert_send::<Receiver<u32>>();
    assert_sync::<Receiver<u32>>();
    assert_unpin::<Sender<u32>>();
    assert_unpin::<Receiver<u32>>();
    assert_clone::<Sender<u32>>();
    assert_clone::<Receiver<u32>>();
    assert_debug::<Sender<u32>>();
    assert_debug::<Receiver<u32>>();
    // A `Send` but `!Sync` value type still gives shareable handles (values move, never shared).
    assert_send::<Sender<Cell<u32>>>();
    assert_sync::<Sender<Cell<u32>>>();
    assert_sync::<Receiver<Cell<u32>>>();

    // Futures: Send (a task holding them across an .await can be stolen), Unpin.
    assert_send::<SendFuture<'static, u32>>();
    assert_send::<RecvFuture<'static, u32>>();
    assert_unpin::<SendFuture<'static, u32>>();
    assert_unpin::<RecvFuture<'static, u32>>();
    assert_unpin::<SendFuture<'static, std::marker::PhantomPinned>>();
    assert_debug::<SendFuture<'static, u32>>();
    assert_debug::<RecvFuture<'static, u32>>();

    // Oneshot halves and future.
    assert_send::<oneshot::Sender<u32>>();
    assert_sync::<oneshot::Sender<u32>>();
    assert_send::<oneshot::Receiver<u32>>();
    assert_sync::<oneshot::Receiver<u32>>();
    assert_unpin::<oneshot::Receiver<u32>>();
    assert_send::<oneshot::RecvFuture<'static, u32>>();
    assert_unpin::<oneshot::RecvFuture<'static, u32>>();
    assert_debug::<oneshot::Sender<u32>>();
    assert_debug::<oneshot::Receiver<u32>>();

    // Errors cross threads and format; those holding a value are Send/Sync with it.
    assert_error::<SendError<u32>>();
    assert_error::<TrySendError<u32>>();
    assert_error::<RecvError>();
    assert_error::<TryRecvError>();
    assert_send::<SendError<String>>();
}

/// Never called: only type-checked. A task holding every channel future across awaits is
/// spawnable.
#[allow(dead_code)]
fn channel_futures_are_send() {
    let (tx, rx) = channel::bounded::<String>(1);
    let (otx, orx) = channel::oneshot::<String>();
    assert_value_send(&tx.send(String::new()));
    assert_value_send(&rx.recv());
    drop(trellis::spawn(async move {
        tx.send(String::new()).await.unwrap();
        rx.recv().await.unwrap();
        otx.send(String::new()).unwrap();
        orx.await.unwrap();
    }));
}

/// Never called: a channel of `!Send` values is usable on one thread (its handles are then
/// `!Send`, which the `compile_fail` doctest in `trellis::channel` checks).
#[allow(dead_code)]
fn channel_of_non_send_values_is_local() {
    let (tx, rx) = channel::unbounded::<Rc<u8>>();
    tx.try_send(Rc::new(1)).unwrap();
    let _ = rx.try_recv();
}

// ---- Domains ----

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

// ---- Cancel scopes and nurseries ----

#[test]
fn scope_types_have_the_documented_auto_traits() {
    // A cancel handle cancels from any thread.
    assert_send::<trellis::CancelHandle>();
    assert_sync::<trellis::CancelHandle>();
    assert_clone::<trellis::CancelHandle>();
    // A scope may be built on one thread and entered in a task that moves between workers.
    assert_send::<trellis::CancelScope>();
    // A nursery handle spawns into its nursery from other tasks and threads.
    assert_send::<trellis::NurseryHandle>();
    assert_sync::<trellis::NurseryHandle>();
    assert_clone::<trellis::NurseryHandle>();
    // Errors cross threads and format.
    assert_error::<trellis::NurseryError>();
    assert_error::<trellis::TooSlow>();
    assert_error::<trellis::NurseryClosed>();
    assert_error::<trellis::NotStarted>();
    assert_send::<trellis::NurseryError>();
    assert_sync::<trellis::NurseryError>();
    assert_send::<trellis::TaskFailure>();
    assert_sync::<trellis::TaskFailure>();
    assert_debug_display::<trellis::TaskFailure>();
    // A child's handle is awaited in the body, from any worker.
    assert_send::<trellis::ChildHandle<u8>>();
    assert_sync::<trellis::ChildHandle<u8>>();
    assert_unpin::<trellis::ChildHandle<u8>>();
    assert_send::<trellis::NoValue>();
    assert_sync::<trellis::NoValue>();
}
