//! The reactor: the runtime's `polling::Poller`, the sources registered in it, and the turn that
//! turns its events into readiness (`readiness.rs`) and wakes.
//!
//! # Who waits, and when
//!
//! The poller is waited on by one thread at a time: the worker holding the driver role
//! (`scheduler/driver.rs`), which blocks in it with the nearest timer as timeout, and, while no
//! worker sleeps there (every worker busy), any worker at a poll boundary that finds the last
//! look older than [`IO_POLL_INTERVAL`]: it takes the role for a zero-timeout turn. So
//! readiness is never stranded behind busy workers, as due timers are not. Events are
//! dispatched by the thread that collected them, under the driver's events lock.
//!
//! # Registration and keys
//!
//! A source is registered once, edge-triggered, for both directions
//! (`PollMode::Edge`, `Event::all`): no syscall per wait, unlike oneshot interest. On Linux the
//! registration also asks for the peer's FIN (`EPOLLRDHUP`, `epoll.rs`). The event
//! key is the address of the source's `Arc<Source>`, and the poller holds one strong count of
//! it (`Arc::into_raw` at registration). Deregistration (`delete` before the file is closed,
//! as `polling` requires) does not free it: it queues that count in `released`, which the
//! driver drains *between* turns, under the events lock, before its next `wait`. An event
//! collected by a turn already in progress may still name a deleted source; the source is
//! alive until that turn's events are dispatched, and its waiters were dropped at
//! deregistration, so the event wakes nobody. A new source on a reused fd number gets a new
//! `Arc` (the old one is still alive, so a different address) and never receives the old
//! one's events, nor the old one the new one's.
//!
//! Register and deregister take no lock: the `epoll_ctl` call and a push onto a lock-free
//! queue.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_deque::{Injector, Steal};
use polling::{Event, PollMode, Poller};

use super::epoll::{Events, Waiter, watch_read_hangup};
use super::readiness::{Interest, Source};

/// How stale the last look at the poller may be before a busy worker looks at a poll boundary
/// (while no worker sleeps in the driver). A zero-timeout turn costs one syscall on Linux
/// (`epoll.rs`), five with `polling`'s own wait elsewhere (a few µs);
/// at this interval a fully busy runtime spends under 1% of one core on it, and a socket's
/// readiness waits at most this long plus one task slice.
pub(crate) const IO_POLL_INTERVAL: Duration = Duration::from_micros(500);

/// The runtime's poller and registered sources.
pub(crate) struct Reactor {
    /// Declared (so dropped) before `waiter`, whose fd is registered in it.
    poller: Poller,
    /// The notifier and the wait of a turn.
    waiter: Waiter,
    /// Sources registered now; also the release/acquire pair that publishes a new source to
    /// the thread that turns (`register`, `turn`).
    registered: AtomicUsize,
    /// Deleted sources' poller counts, freed between turns (module doc).
    released: Injector<Arc<Source>>,
    /// When the poller was last waited on, in nanoseconds since `origin`.
    last_turn: AtomicU64,
    origin: Instant,
}

impl Reactor {
    pub(crate) fn new() -> io::Result<Reactor> {
        let poller = Poller::new()?;
        if !poller.supports_edge() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "Trellis's reactor needs an edge-triggered poller (epoll or kqueue)",
            ));
        }
        let waiter = Waiter::new(&poller)?;
        Ok(Reactor {
            poller,
            waiter,
            registered: AtomicUsize::new(0),
            released: Injector::new(),
            last_turn: AtomicU64::new(0),
            origin: Instant::now(),
        })
    }

    /// Wakes the thread waiting in the poller, or makes its next wait return at once.
    pub(crate) fn notify(&self) {
        self.waiter.notify(&self.poller);
    }

    /// Are sources registered (so busy workers must look at the poller now and then)?
    pub(crate) fn has_sources(&self) -> bool {
        self.registered.load(Ordering::Relaxed) != 0
    }

    /// Registers `fd` for both directions, edge-triggered.
    pub(crate) fn register(&self, fd: BorrowedFd<'_>) -> io::Result<Arc<Source>> {
        let source = Arc::new(Source::new());
        let key = Arc::into_raw(source.clone()) as usize;
        // Publishes the new source to the turning thread before the poller can name it: the
        // kernel orders `epoll_ctl` before the `epoll_wait` that reports the fd, but that order
        // is not a happens-before edge of the memory model. This release, read by the acquire
        // load after each wait (`turn`), is.
        self.registered.fetch_add(1, Ordering::Release);
        // SAFETY: the caller (`Registered::new`) deletes `fd` from this poller
        // (`deregister`) before the file is closed: `Registered` owns the file and
        // deregisters in its `Drop` before dropping it.
        let added = unsafe {
            self.poller
                .add_with_mode(fd.as_raw_fd(), Event::all(key), PollMode::Edge)
        }
        .and_then(|()| {
            watch_read_hangup(&self.poller, fd.as_raw_fd(), key).inspect_err(|_| {
                let _ = self.poller.delete(fd);
            })
        });
        if let Err(e) = added {
            self.registered.fetch_sub(1, Ordering::Relaxed);
            // SAFETY: `key` came from `Arc::into_raw` just above and was not handed out.
            drop(unsafe { Arc::from_raw(key as *const Source) });
            return Err(e);
        }
        Ok(source)
    }

    /// Deletes `fd` from the poller (before it is closed) and queues the poller's count of
    /// `source` for release after the current turn.
    pub(crate) fn deregister(&self, fd: BorrowedFd<'_>, source: &Arc<Source>) {
        // An error means the fd is not registered (a bug elsewhere) or was closed already;
        // either way no event can name it any more once this returns.
        let _ = self.poller.delete(fd);
        source.direction(Interest::Read).clear_waiters();
        source.direction(Interest::Write).clear_waiters();
        // SAFETY: `register` leaked exactly one count of this `Arc` as the event key; this
        // takes it back, once (`Registered` deregisters once, in `Drop`).
        let counted = unsafe { Arc::from_raw(Arc::as_ptr(source)) };
        self.released.push(counted);
        self.registered.fetch_sub(1, Ordering::Relaxed);
    }

    /// Has the last turn been longer ago than [`IO_POLL_INTERVAL`]? (A busy worker's check.)
    pub(crate) fn turn_is_due(&self) -> bool {
        let now = self.origin.elapsed().as_nanos() as u64;
        now.saturating_sub(self.last_turn.load(Ordering::Relaxed))
            >= IO_POLL_INTERVAL.as_nanos() as u64
    }

    /// One turn: frees released sources, waits up to `timeout`, dispatches the events; returns
    /// how many wakers it called. Called only by the driver role's holder, with the events lock
    /// held (`events`).
    pub(crate) fn turn(&self, events: &mut Events, timeout: Option<Duration>) -> usize {
        // Between turns: no event of an earlier turn is still being dispatched.
        loop {
            match self.released.steal() {
                Steal::Success(released) => drop(released),
                Steal::Empty => break,
                Steal::Retry => std::hint::spin_loop(),
            }
        }
        self.waiter.wait(&self.poller, events, timeout);
        // Pairs with `register`'s release: every source an event names was published before
        // its `epoll_ctl`, which came before the wait that collected the event.
        self.registered.load(Ordering::Acquire);
        self.last_turn
            .store(self.origin.elapsed().as_nanos() as u64, Ordering::Relaxed);
        let mut wake = Vec::new();
        for event in events.iter() {
            // SAFETY: every key in the poller is the address of a source whose count the
            // poller holds (`register`), but for the waiter's own, which `iter` skips; a
            // deleted source's count is released only at the start of a later turn (above),
            // so the source is alive here.
            let source = unsafe { &*(event.key as *const Source) };
            if event.readable {
                source
                    .direction(Interest::Read)
                    .set_ready(event.read_closed, &mut wake);
            }
            if event.writable {
                source
                    .direction(Interest::Write)
                    .set_ready(event.write_closed, &mut wake);
            }
        }
        // Woken after every lock is released; a waker schedules its task on its own domain.
        let woken = wake.len();
        for waker in wake {
            crate::contain::wake(waker, "waking a task for I/O readiness");
        }
        woken
    }
}

impl Drop for Reactor {
    fn drop(&mut self) {
        while !matches!(self.released.steal(), Steal::Empty) {}
    }
}
