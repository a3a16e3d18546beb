//! The future of a pinned task that is made on its home domain: `spawn_on(domain, make)` sends
//! the `Send` closure `make` to the domain, and the task's first poll there calls it and polls
//! the (possibly `!Send`) future it returns.
//!
//! Written by hand rather than as `async move { make().await }`: an async block that awaits a
//! future whose destructor panics leaks that future's output (the generator unwinds out of the
//! `.await` after the output was produced and before it was returned, and drops nothing it
//! holds there). Here the made future simply returns its output; the task harness stores it
//! and then drops the spent future, and a panic in that drop is contained like any other
//! task's, with the output dropped exactly once.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// `Make` until the first poll, then `Run` for good.
pub(crate) enum MadeOnHome<M, F> {
    /// Not polled yet; `None` once `make` was taken (it panicked: the task is not polled again).
    Make(Option<M>),
    /// The made future, polled in place (structurally pinned).
    Run(F),
}

impl<M, F> MadeOnHome<M, F> {
    /// A task future that will call `make` at its first poll.
    pub(crate) fn new(make: M) -> Self {
        Self::Make(Some(make))
    }
}

impl<M, F> Future for MadeOnHome<M, F>
where
    M: FnOnce() -> F,
    F: Future,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: only `Run`'s field is structurally pinned, and it is never moved out of: the
        // one assignment to `*this` replaces a `Make` value, in which nothing is pinned.
        let this = unsafe { self.get_unchecked_mut() };
        if let Self::Make(make) = this {
            let make = make
                .take()
                .expect("a made task polled again after `make` panicked");
            *this = Self::Run(make());
        }
        match this {
            // SAFETY: `this` is pinned (we came from `Pin<&mut Self>`) and `fut` stays in place
            // until the task drops the whole value.
            Self::Run(fut) => unsafe { Pin::new_unchecked(fut) }.poll(cx),
            Self::Make(_) => unreachable!("`Make` was replaced by `Run` just above"),
        }
    }
}
