//! The reactor under miri: no poller. Miri cannot create `polling`'s poller (it needs
//! `timerfd`), so under `cfg(miri)` this stub takes the place of `reactor.rs`: nothing can be
//! registered (sockets fail with `ErrorKind::Unsupported`), and a turn is the driver's timed
//! sleep on a condition variable, woken by [`Reactor::notify`] (sticky, like
//! `Poller::notify`). Everything else in the driver (`scheduler/driver.rs`) is unchanged, so
//! miri checks the same timer, parking and hand-off code as a normal build.

use std::io;
use std::os::fd::BorrowedFd;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::epoll::Events;

use super::readiness::Source;

/// The driver's sleep and its wake-up, with no poller behind them.
pub(crate) struct Reactor {
    /// A notification not consumed by a turn yet.
    notified: Mutex<bool>,
    wake: Condvar,
}

impl Reactor {
    pub(crate) fn new() -> io::Result<Reactor> {
        Ok(Reactor {
            notified: Mutex::new(false),
            wake: Condvar::new(),
        })
    }

    /// Wakes the thread sleeping in a turn, or makes the next turn return at once.
    pub(crate) fn notify(&self) {
        *self.notified.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.wake.notify_one();
    }

    /// Nothing is ever registered.
    pub(crate) fn has_sources(&self) -> bool {
        false
    }

    /// Sockets are unsupported under miri.
    pub(crate) fn register(&self, _fd: BorrowedFd<'_>) -> io::Result<Arc<Source>> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "sockets are not supported under miri (the runtime has no reactor there)",
        ))
    }

    /// Never called: `register` fails, so no `Registered` exists.
    pub(crate) fn deregister(&self, _fd: BorrowedFd<'_>, _source: &Arc<Source>) {
        unreachable!("no source is registered under miri")
    }

    pub(crate) fn turn_is_due(&self) -> bool {
        false
    }

    /// One turn: sleeps up to `timeout` (forever with `None`) unless notified; wakes nobody.
    pub(crate) fn turn(&self, _events: &mut Events, timeout: Option<Duration>) -> usize {
        let mut notified = self.notified.lock().unwrap_or_else(|e| e.into_inner());
        match timeout {
            None => {
                while !*notified {
                    notified = self.wake.wait(notified).unwrap_or_else(|e| e.into_inner());
                }
            }
            Some(timeout) => {
                if !*notified && !timeout.is_zero() {
                    // One timed wait: a spurious wake is an early, empty turn, which the
                    // driver's callers handle like any other.
                    notified = self
                        .wake
                        .wait_timeout(notified, timeout)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
        *notified = false;
        0
    }
}
