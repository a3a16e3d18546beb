//! The I/O reactor: readiness of registered sockets (`readiness.rs`), the poller and its turns
//! (`reactor.rs`), the wait of a turn (`epoll.rs` on Linux, `portable_wait.rs` elsewhere), and
//! the registered-object wrapper whose operation loop every socket type of
//! [`crate::net`] uses (`registered.rs`). The driver role (`scheduler/driver.rs`) decides who
//! waits in the poller.

// The wait of a turn: one syscall on Linux, `polling`'s own elsewhere.
#[cfg(target_os = "linux")]
#[cfg_attr(miri, allow(dead_code))]
mod epoll;
#[cfg(not(target_os = "linux"))]
#[cfg_attr(miri, allow(dead_code))]
#[path = "portable_wait.rs"]
mod epoll;
#[cfg(not(miri))]
mod reactor;
// Miri cannot create the poller: a stub with the same interface (see the file).
#[cfg(miri)]
#[path = "reactor_miri.rs"]
mod reactor;
// Under miri the stub reactor never creates sources nor delivers events.
#[cfg_attr(miri, allow(dead_code))]
mod readiness;
mod registered;

pub(crate) use epoll::Events;
pub(crate) use reactor::Reactor;
pub(crate) use readiness::Interest;
pub(crate) use registered::Registered;

pub(crate) use epoll::REPORTS_READ_HANGUP;

/// One event of a turn, decoded by the wait (`epoll.rs`, `portable_wait.rs`): the source's key,
/// which directions are ready (a hang-up or an error makes both), and which of them the event
/// closes for good (`readiness.rs`, `CLOSED`).
pub(crate) struct Ready {
    pub(crate) key: usize,
    pub(crate) readable: bool,
    pub(crate) writable: bool,
    pub(crate) read_closed: bool,
    pub(crate) write_closed: bool,
}
