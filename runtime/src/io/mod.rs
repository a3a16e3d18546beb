//! The I/O reactor: readiness of registered sockets (`readiness.rs`), the poller and its turns
//! (`reactor.rs`), and the registered-object wrapper whose operation loop every socket type of
//! [`crate::net`] uses (`registered.rs`). The driver role (`scheduler/driver.rs`) decides who
//! waits in the poller.

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

pub(crate) use reactor::Reactor;
pub(crate) use readiness::Interest;
pub(crate) use registered::Registered;
