//! The reactor's wait on Linux: one syscall per turn.
//!
//! `polling` 3.11's `Poller::wait` costs five syscalls on Linux whatever the timeout: it arms
//! its timer fd (`timerfd_settime`) and re-arms it (`epoll_ctl`), waits (`epoll_wait`), then
//! reads its notifier and re-arms that (`read`, `epoll_ctl`). A runtime that turns the poller
//! after every burst of work pays that on every socket hop. So on Linux the reactor keeps
//! `polling` for what it does in one syscall (registering, modifying and deleting sources,
//! `epoll_ctl` each) and waits on the poller's epoll instance itself (`Poller` is `AsRawFd`):
//!
//! - **The timeout** goes to `epoll_pwait2`, which takes a `timespec` (Linux 5.11 and later),
//!   so timers keep their sub-millisecond precision. Where the kernel lacks it (`ENOSYS`,
//!   remembered for the process), `epoll_wait` takes the timeout rounded *up* to the next
//!   millisecond: a turn never returns before its deadline, at worst a millisecond after it. A
//!   zero timeout is a plain `epoll_wait(0)` and no timeout an `epoll_wait(-1)`.
//! - **The notifier** is an `eventfd` of the reactor's own, registered edge-triggered under
//!   [`WAKE_KEY`]. [`Waiter::notify`] writes to it (one syscall); an eventfd wakes its epoll
//!   waiters on every write, so each write is a fresh edge and the counter is never read (it
//!   grows by one per write, which `notified` coalesces to one per turn: it would take
//!   centuries to reach its limit). `notified` is set (`swap`) before the write and cleared
//!   (`swap`, both `SeqCst`, as `polling` does with its own flag) after each wait returns: a
//!   notify that sets it before the clear either wrote an edge the next wait finds (a spurious
//!   return), or found it set by an earlier notify and wrote nothing, and then the clear, an
//!   RMW that reads its write, orders everything that notifier did before the waiting thread's
//!   re-checks that follow the turn.
//! - **`polling`'s own fds** (its notifier and timer fd, registered one-shot under its
//!   `NOTIFY_KEY`) never fire: nothing calls `Poller::notify` or `Poller::wait`, which are
//!   what would write to or arm them. Their key (`usize::MAX`) is skipped anyway, as is
//!   [`WAKE_KEY`]; every other key is a source's address (`reactor.rs`).
//! - **Flags** are read as `polling` reads them: readable on `IN | HUP | ERR | PRI`, writable on
//!   `OUT | HUP | ERR`, and closed (both directions) on `HUP` or `ERR`. One more than `polling`
//!   asks for: [`watch_read_hangup`] adds `EPOLLRDHUP` to each source's registration (an
//!   `epoll_ctl` modify right after `polling`'s add), so the peer's FIN marks the read direction
//!   closed, which lets a short stream read clear readiness without losing the EOF
//!   ([`REPORTS_READ_HANGUP`], `readiness.rs`): one `recv` that says `WouldBlock` fewer per
//!   message read.
//!
//! Every `tests/io_*.rs` and every timer test runs on this wait (the driver sleeps in it with the
//! nearest deadline as its timeout); `benches/time.rs` measures the timers' lateness.

use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use polling::{Event, PollMode, Poller};

use super::Ready;

/// The key of the reactor's eventfd in the poller: neither a source's address (those are
/// aligned) nor `polling`'s `NOTIFY_KEY` (`usize::MAX`).
const WAKE_KEY: usize = usize::MAX - 1;
/// `polling`'s key for its own notifier and timer fd.
const POLLING_KEY: usize = usize::MAX;

/// Events report the peer's FIN on the read direction (`EPOLLRDHUP`, [`watch_read_hangup`]).
pub(crate) const REPORTS_READ_HANGUP: bool = true;

/// Adds `EPOLLRDHUP` to `fd`'s registration in `poller` (made by `polling` just before, with
/// `key`, both directions, edge-triggered): the same interest and key, plus the read hang-up.
pub(crate) fn watch_read_hangup(poller: &Poller, fd: i32, key: usize) -> io::Result<()> {
    let mut ev = libc::epoll_event {
        events: (libc::EPOLLIN
            | libc::EPOLLPRI
            | libc::EPOLLOUT
            | libc::EPOLLRDHUP
            | libc::EPOLLHUP
            | libc::EPOLLERR
            | libc::EPOLLET) as u32,
        u64: key as u64,
    };
    // SAFETY: `ev` is a live, initialised event for the duration of the call.
    let rc =
        unsafe { libc::epoll_ctl(poller.as_fd().as_raw_fd(), libc::EPOLL_CTL_MOD, fd, &mut ev) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `epoll_pwait2` returned `ENOSYS` once: use `epoll_wait` from then on.
static NO_PWAIT2: AtomicBool = AtomicBool::new(false);

/// Reported events: the buffer one turn fills.
pub(crate) struct Events {
    list: Vec<libc::epoll_event>,
}

impl Events {
    pub(crate) fn with_capacity(cap: usize) -> Events {
        Events {
            list: Vec::with_capacity(cap.max(1)),
        }
    }

    /// The events of the last turn, without the reactor's and `polling`'s own.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Ready> + '_ {
        const READ: u32 = (libc::EPOLLIN | libc::EPOLLHUP | libc::EPOLLERR | libc::EPOLLPRI) as u32;
        const WRITE: u32 = (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) as u32;
        const CLOSED: u32 = (libc::EPOLLHUP | libc::EPOLLERR) as u32;
        const READ_CLOSED: u32 = CLOSED | libc::EPOLLRDHUP as u32;
        self.list.iter().filter_map(|ev| {
            let (flags, key) = (ev.events, ev.u64 as usize);
            if key == WAKE_KEY || key == POLLING_KEY {
                return None;
            }
            let (read_closed, write_closed) = (flags & READ_CLOSED != 0, flags & CLOSED != 0);
            Some(Ready {
                key,
                readable: flags & READ != 0 || read_closed,
                writable: flags & WRITE != 0 || write_closed,
                read_closed,
                write_closed,
            })
        })
    }
}

/// The reactor's notifier and its wait (module docs).
pub(crate) struct Waiter {
    event_fd: OwnedFd,
    /// A write is pending since the last wait returned: later notifies need not write.
    notified: AtomicBool,
}

impl Waiter {
    /// Makes the eventfd and registers it in `poller`.
    pub(crate) fn new(poller: &Poller) -> io::Result<Waiter> {
        // SAFETY: a plain syscall with no pointer arguments.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor that nothing else owns.
        let event_fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: the eventfd stays registered until the poller is dropped: `Reactor` holds
        // the poller and this `Waiter` together, and drops the poller first (field order).
        unsafe {
            poller.add_with_mode(
                event_fd.as_raw_fd(),
                Event::readable(WAKE_KEY),
                PollMode::Edge,
            )?;
        }
        Ok(Waiter {
            event_fd,
            notified: AtomicBool::new(false),
        })
    }

    /// Makes the current or next wait return.
    pub(crate) fn notify(&self, _poller: &Poller) {
        if self.notified.swap(true, Ordering::SeqCst) {
            return;
        }
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 bytes from a live buffer to an fd we own. It fails only with
        // `EAGAIN`, when the counter is full, and then an edge is pending anyway.
        let _ = unsafe { libc::write(self.event_fd.as_raw_fd(), one.as_ptr().cast(), one.len()) };
    }

    /// Waits on `poller`'s epoll instance for up to `timeout` and fills `events`. An error
    /// (`EINTR`) is an empty turn.
    pub(crate) fn wait(&self, poller: &Poller, events: &mut Events, timeout: Option<Duration>) {
        let epfd = poller.as_fd().as_raw_fd();
        let list = &mut events.list;
        list.clear();
        let cap = list.capacity().min(i32::MAX as usize) as i32;
        let out = list.as_mut_ptr();
        let n = match timeout {
            Some(t) if !t.is_zero() && !NO_PWAIT2.load(Ordering::Relaxed) => {
                let ts = libc::timespec {
                    tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
                    tv_nsec: t.subsec_nanos() as libc::c_long,
                };
                // SAFETY: `out` has room for `cap` events; `ts` lives across the call; no
                // signal mask (null, size 0).
                let n = unsafe {
                    libc::syscall(
                        libc::SYS_epoll_pwait2,
                        epfd,
                        out,
                        cap,
                        &ts as *const libc::timespec,
                        std::ptr::null::<libc::sigset_t>(),
                        0usize,
                    )
                };
                if n < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
                    NO_PWAIT2.store(true, Ordering::Relaxed);
                    epoll_wait(epfd, out, cap, Some(t))
                } else {
                    n as i32
                }
            }
            t => epoll_wait(epfd, out, cap, t),
        };
        if n > 0 {
            // SAFETY: the kernel initialised the first `n` (at most `cap`) entries.
            unsafe { list.set_len(n as usize) };
        }
        self.notified.swap(false, Ordering::SeqCst);
    }
}

/// `epoll_wait` with `timeout` rounded up to the millisecond (`None`: forever).
fn epoll_wait(epfd: i32, out: *mut libc::epoll_event, cap: i32, timeout: Option<Duration>) -> i32 {
    let ms = match timeout {
        None => -1,
        Some(t) => {
            let ms = t.as_nanos().div_ceil(1_000_000);
            ms.min(i32::MAX as u128) as i32
        }
    };
    // SAFETY: `out` has room for `cap` events.
    unsafe { libc::epoll_wait(epfd, out, cap, ms) }
}
