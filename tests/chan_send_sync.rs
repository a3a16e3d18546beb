//! Static Send/Sync/Unpin assertions for every public channel type (tokio `async_send_sync.rs`
//! style): this file fails to compile, rather than fail at run time, when a bound is lost.

use std::cell::Cell;
use std::rc::Rc;

use trellis::channel::{
    self, Receiver, RecvError, RecvFuture, SendError, SendFuture, Sender, TryRecvError,
    TrySendError, oneshot,
};

fn assert_send<T: Send>() {}
fn assert_sync<T: Sync>() {}
fn assert_unpin<T: Unpin>() {}
fn assert_error<T: std::error::Error + Send + Sync + 'static>() {}
fn assert_clone<T: Clone>() {}
fn assert_debug<T: std::fmt::Debug>() {}
fn assert_value_send<T: Send>(_: &T) {}

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
