//! Helpers for the `domain_*` tests: a future wrapper that checks, on every poll and in its
//! `Drop`, that it is on its home domain's thread, plus small utilities to learn which thread
//! hosts which domain.
//!
//! Each test binary uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread::{self, ThreadId};

use trellis::{DomainId, Runtime};

use crate::support::Counter;

/// Counters for [`AtHome`] futures: how many were created, polled and dropped, and how many
/// polls and drops happened off their home thread (each such event is also described in
/// `wrong`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Home {
    pub(crate) created: Counter,
    /// Futures polled at least once.
    pub(crate) first_polls: Counter,
    pub(crate) polls: Counter,
    /// Polls that returned `Pending` (counted after the inner poll returned).
    pub(crate) pending: Counter,
    pub(crate) completed: Counter,
    pub(crate) dropped: Counter,
    pub(crate) wrong_polls: Counter,
    pub(crate) wrong_drops: Counter,
    wrong: Arc<Mutex<Vec<String>>>,
}

impl Home {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Wraps `fut`; its home is the current thread, which must host a domain.
    pub(crate) fn wrap<F: Future>(&self, fut: F) -> AtHome<F> {
        let domain = trellis::domain::current()
            .expect("AtHome::wrap must be called on a domain (a worker thread)");
        self.created.incr();
        AtHome {
            fut: Box::pin(fut),
            home: thread::current().id(),
            domain,
            stats: self.clone(),
            polled: false,
            _not_send: PhantomData,
        }
    }

    fn record_wrong(&self, what: String) {
        let mut wrong = self.wrong.lock().unwrap_or_else(|e| e.into_inner());
        if wrong.len() < 20 {
            wrong.push(what);
        }
    }

    /// Asserts that no poll or drop happened off its home thread, and that every future that
    /// was created was dropped exactly once.
    pub(crate) fn assert_all_home_and_dropped(&self, case: &str) {
        self.assert_no_wrong_thread(case);
        assert_eq!(
            self.dropped.get(),
            self.created.get(),
            "{case}: futures dropped != created"
        );
    }

    /// Asserts that no poll or drop happened off its home thread.
    pub(crate) fn assert_no_wrong_thread(&self, case: &str) {
        let wrong = self.wrong.lock().unwrap_or_else(|e| e.into_inner()).clone();
        assert_eq!(
            (self.wrong_polls.get(), self.wrong_drops.get()),
            (0, 0),
            "{case}: polls/drops off the home thread; first ones: {wrong:#?}"
        );
    }
}

/// A `!Send` future wrapper pinned to the thread (and domain) it was created on. Every poll and
/// its drop check that they run there.
pub(crate) struct AtHome<F> {
    fut: Pin<Box<F>>,
    home: ThreadId,
    domain: DomainId,
    stats: Home,
    polled: bool,
    _not_send: PhantomData<Rc<()>>,
}

impl<F> AtHome<F> {
    fn check(&self, what: &str) -> bool {
        let here = thread::current().id();
        let domain = trellis::domain::current();
        if here == self.home && domain == Some(self.domain) {
            true
        } else {
            self.stats.record_wrong(format!(
                "{what}: home {:?} on {:?}, ran on {here:?} (thread {:?}) domain {domain:?}",
                self.domain,
                self.home,
                thread::current().name()
            ));
            false
        }
    }
}

impl<F: Future> Future for AtHome<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.stats.polls.incr();
        if !self.check("poll") {
            self.stats.wrong_polls.incr();
        }
        if !self.polled {
            self.polled = true;
            self.stats.first_polls.incr();
        }
        let res = self.fut.as_mut().poll(cx);
        match res {
            Poll::Ready(_) => self.stats.completed.incr(),
            Poll::Pending => self.stats.pending.incr(),
        };
        res
    }
}

impl<F> Drop for AtHome<F> {
    fn drop(&mut self) {
        if !self.check("drop") {
            self.stats.wrong_drops.incr();
        }
        self.stats.dropped.incr();
    }
}

/// Records the thread it is dropped on (for closures, outputs and other values that are not
/// futures).
#[derive(Debug)]
pub(crate) struct DropOn {
    log: Arc<Mutex<Vec<ThreadId>>>,
}

impl DropOn {
    pub(crate) fn new(log: &Arc<Mutex<Vec<ThreadId>>>) -> Self {
        DropOn { log: log.clone() }
    }
}

impl Drop for DropOn {
    fn drop(&mut self) {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(thread::current().id());
    }
}

/// The thread of each domain of `rt`, indexed by domain.
pub(crate) fn domain_threads(rt: &Runtime) -> Vec<ThreadId> {
    (0..rt.workers())
        .map(|i| {
            rt.block_on(rt.spawn_on(DomainId::new(i), || async { thread::current().id() }))
                .expect("domain thread probe")
        })
        .collect()
}
