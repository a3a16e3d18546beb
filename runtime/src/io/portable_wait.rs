//! The reactor's wait where the Linux one (`epoll.rs`) does not apply: `polling`'s own
//! `Poller::wait` and `Poller::notify`, behind the same interface.

use std::time::Duration;

use polling::Poller;

use super::Ready;

/// `polling` reports no read hang-up here: a short stream read must not clear readiness.
pub(crate) const REPORTS_READ_HANGUP: bool = false;

/// Nothing to add to `polling`'s registration here.
pub(crate) fn watch_read_hangup(_poller: &Poller, _fd: i32, _key: usize) -> std::io::Result<()> {
    Ok(())
}

/// Reported events: the buffer one turn fills.
pub(crate) struct Events {
    inner: polling::Events,
}

impl Events {
    pub(crate) fn with_capacity(cap: usize) -> Events {
        let cap = std::num::NonZeroUsize::new(cap.max(1)).expect("at least one");
        Events {
            inner: polling::Events::with_capacity(cap),
        }
    }

    /// The events of the last turn; a hang-up or an error makes both directions ready.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Ready> + '_ {
        self.inner.iter().map(|event| {
            let closed = event.is_interrupt() || event.is_err() == Some(true);
            Ready {
                key: event.key,
                readable: event.readable || closed,
                writable: event.writable || closed,
                read_closed: closed,
                write_closed: closed,
            }
        })
    }
}

/// `polling`'s notifier and wait.
pub(crate) struct Waiter;

impl Waiter {
    pub(crate) fn new(_poller: &Poller) -> std::io::Result<Waiter> {
        Ok(Waiter)
    }

    /// Makes the current or next wait return.
    pub(crate) fn notify(&self, poller: &Poller) {
        let _ = poller.notify();
    }

    /// Waits for up to `timeout` and fills `events`. An error (`EINTR`) is an empty turn.
    pub(crate) fn wait(&self, poller: &Poller, events: &mut Events, timeout: Option<Duration>) {
        events.inner.clear();
        let _ = poller.wait(&mut events.inner, timeout);
    }
}
