//! Blocking waits for plain threads: `send_blocking` and `recv_blocking` drive the async
//! operation on the calling thread, parking it between polls.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::scheduler::context;
use crate::scheduler::park::ThreadParker;

thread_local! {
    /// This thread's parker, made once per thread so that a blocking call allocates nothing.
    static PARKER: Arc<ThreadParker> = ThreadParker::new(None);
}

/// Runs `fut` to completion on this thread, parking between polls.
///
/// # Panics
///
/// On a worker thread of a Trellis runtime (`what` names the caller in the message): blocking
/// there would stall every task queued on that worker, and could deadlock the runtime.
pub(crate) fn block_on<F: Future>(what: &str, fut: F) -> F::Output {
    assert!(
        !context::is_worker(),
        "`{what}` blocks the thread and must not be called on a Trellis worker thread (inside a \
         task); use the async form (`.await`) there, or call it from a plain thread or \
         `trellis::spawn_blocking`"
    );
    let mut fut = pin!(fut);
    let parker = PARKER.with(Arc::clone);
    let waker = Waker::from(parker.clone());
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        // A wake before this park leaves the parker's token set, so the park returns at once.
        parker.park();
    }
}
