//! The task cell, its vtable, the harness that polls it, and the waker vtable.
//!
//! See the protocol in `task/mod.rs`; this file implements steps 1-7 on the memory.

use std::cell::UnsafeCell;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Arc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use super::schedule::{Schedule, Scheduler};
use super::state::{
    COMPLETE, JOIN_INTEREST, JOIN_WAKER, NOTIFIED, State, ToIdle, ToNotified, ToRunning,
};
use super::{JoinError, Notified, RawTask};
use crate::loom::sync::atomic::AtomicPtr;

/// Where a task's queue entries go: any worker (stealable), the blocking pool, or one domain
/// (pinned). Packed in a `u32` to keep the header at 64 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Route(u32);

impl Route {
    /// Any worker may run it (work stealing).
    pub(crate) const STEALABLE: Route = Route(u32::MAX);
    /// The blocking pool runs it.
    pub(crate) const BLOCKING: Route = Route(u32::MAX - 1);

    /// Pinned to domain `index`: polled and dropped only on that worker's thread.
    pub(crate) fn pinned(index: usize) -> Route {
        assert!(index < (u32::MAX - 1) as usize);
        Route(index as u32)
    }

    /// The home domain of a pinned task.
    pub(crate) fn domain(self) -> Option<usize> {
        (self.0 < u32::MAX - 1).then_some(self.0 as usize)
    }
}

/// `Header::shard` of a task that was never linked into the owned list.
const UNLINKED: u32 = u32::MAX;

/// The type-erased front of every task. `repr(C)`: `Cell<F>` starts with it, so a pointer to
/// the cell is a pointer to the header.
#[repr(C)]
pub(crate) struct Header {
    pub(crate) state: State,
    pub(crate) vtable: &'static Vtable,
    /// The runtime the task belongs to: where wakes submit its entries (`schedule.rs`).
    pub(crate) scheduler: Arc<Scheduler>,
    /// Owned-list links; guarded by the lock of the task's shard (`owned.rs`).
    pub(crate) owned_prev: UnsafeCell<Option<NonNull<Header>>>,
    pub(crate) owned_next: UnsafeCell<Option<NonNull<Header>>>,
    /// The join waker (protocol step 5).
    join_waker: UnsafeCell<Option<Waker>>,
    /// The owned-list shard hint once the task has been linked (the first time it went idle),
    /// [`UNLINKED`] before. Only the holder of `RUNNING` reads or writes it.
    pub(crate) shard: UnsafeCell<u32>,
    pub(crate) route: Route,
}

/// The monomorphised operations of one future type. Calling one is `unsafe`: each field's
/// contract is the `# Safety` section of the function it points to (`run`, `try_read_output`,
/// `drop_join_handle`, `shutdown`, `dealloc` below).
pub(crate) struct Vtable {
    /// Runs a queue entry: polls or cancels, and consumes the entry's reference.
    pub(crate) run: unsafe fn(NonNull<Header>),
    /// Moves the output into `*dst` (a `Poll<Result<T, JoinError>>`) if complete, else registers
    /// the waker.
    pub(crate) try_read_output: unsafe fn(NonNull<Header>, *mut (), &Waker),
    /// The join handle is dropped.
    pub(crate) drop_join_handle: unsafe fn(NonNull<Header>),
    /// The caller owns the future after `transition_to_shutdown`: cancel and complete.
    pub(crate) shutdown: unsafe fn(NonNull<Header>),
    /// Frees the cell (reference count reached zero).
    pub(crate) dealloc: unsafe fn(NonNull<Header>),
    /// `std::any::type_name` of the future (instrumentation).
    pub(crate) type_name: fn() -> &'static str,
}

enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, JoinError>),
    Consumed,
}

/// What a cell holds between its header and its stage: nothing ([`NoLink`]) for a stealable or
/// blocking task, the link of its domain's queues ([`QueueLink`], `domain/inbox.rs`) for a
/// pinned one. Only pinned cells pay for the link: a task cell's size decides the allocator's
/// path (one more word pushed nursery children past glibc's fast bins, which doubled
/// `nursery::spawn_join` at 2 workers).
pub(crate) trait Slot: 'static {
    fn new() -> Self;
}

/// The slot of a task that never sits in a domain's queues.
pub(crate) struct NoLink;

impl Slot for NoLink {
    fn new() -> NoLink {
        NoLink
    }
}

/// The slot of a pinned task: its link in its domain's inbox or ready queue, owned by
/// whichever of them holds the task's one queue entry.
pub(crate) type QueueLink = AtomicPtr<Header>;

impl Slot for QueueLink {
    fn new() -> QueueLink {
        AtomicPtr::new(std::ptr::null_mut())
    }
}

/// Where a cell's slot starts: right after the header (`repr(C)`, and the header's size is a
/// multiple of the link's alignment), whatever the future's type. `allocate` asserts it.
const LINK_OFFSET: usize = std::mem::size_of::<Header>();

/// The queue link of a pinned task (`domain/inbox.rs`).
///
/// # Safety
///
/// - `ptr` is a task pointer (the cell's own, not one made from a reference to the header) to
///   a live cell of a pinned task (made with a [`QueueLink`] slot), and the caller keeps the
///   task alive for `'a`.
pub(crate) unsafe fn queue_link<'a>(ptr: NonNull<Header>) -> &'a QueueLink {
    debug_assert!(
        // SAFETY: the caller keeps the task alive.
        unsafe { ptr.as_ref() }.route.domain().is_some(),
        "the queue link of a task that is not pinned"
    );
    // SAFETY: a pinned cell's slot is a `QueueLink` at `LINK_OFFSET` (asserted in `allocate`),
    // inside the allocation that `ptr` covers.
    unsafe {
        ptr.cast::<u8>()
            .add(LINK_OFFSET)
            .cast::<QueueLink>()
            .as_ref()
    }
}

#[repr(C)]
struct Cell<F: Future, L> {
    header: Header,
    link: L,
    stage: UnsafeCell<Stage<F>>,
}

struct Vtables<F, L>(std::marker::PhantomData<(F, L)>);

impl<F: Future, L: Slot> Vtables<F, L> {
    const VTABLE: Vtable = Vtable {
        run: run::<F, L>,
        try_read_output: try_read_output::<F, L>,
        drop_join_handle: drop_join_handle::<F, L>,
        shutdown: shutdown::<F, L>,
        dealloc: dealloc::<F, L>,
        type_name: std::any::type_name::<F>,
    };
}

/// Allocates the cell with two references: join handle and first queue entry. The task joins
/// the owned list only if it ever goes idle (`link_if_idle`). `L`: [`QueueLink`] for a pinned
/// task, [`NoLink`] otherwise.
pub(super) fn allocate<F: Future, L: Slot>(
    future: F,
    scheduler: Arc<Scheduler>,
    route: Route,
) -> RawTask {
    const {
        assert!(std::mem::offset_of!(Cell<F, L>, link) == LINK_OFFSET);
    }
    let cell = Box::new(Cell {
        header: Header {
            state: State::new(2),
            vtable: &Vtables::<F, L>::VTABLE,
            scheduler,
            owned_prev: UnsafeCell::new(None),
            owned_next: UnsafeCell::new(None),
            join_waker: UnsafeCell::new(None),
            shard: UnsafeCell::new(UNLINKED),
            route,
        },
        link: L::new(),
        stage: UnsafeCell::new(Stage::Running(future)),
    });
    RawTask(NonNull::from(Box::leak(cell)).cast())
}

/// The cell behind a header pointer.
///
/// # Safety
///
/// - `ptr` points to a live `Cell<F>` (`F` is the task's future type), and the caller holds a
///   reference to it for the whole lifetime `'a` it picks.
unsafe fn cell<'a, F: Future, L>(ptr: NonNull<Header>) -> &'a Cell<F, L> {
    // SAFETY: the caller guarantees it is a live Cell<F>; Header is its first field (repr(C)).
    unsafe { ptr.cast::<Cell<F, L>>().as_ref() }
}

/// Releases one reference, freeing the task if it was the last.
///
/// # Safety
///
/// - The caller owns one reference to the live task at `ptr`.
pub(super) unsafe fn drop_reference(ptr: NonNull<Header>) {
    // SAFETY: the caller owns a reference, so the header is alive until we drop it.
    let header = unsafe { ptr.as_ref() };
    if header.state.ref_dec() {
        // SAFETY: that was the last reference: nobody else can touch the cell.
        unsafe { (header.vtable.dealloc)(ptr) }
    }
}

/// Frees the cell: drops whatever the stage still holds, the header (its runtime reference),
/// and the allocation.
///
/// # Safety
///
/// - `ptr` points to a `Cell<F>` made by `allocate` whose reference count reached zero: the
///   caller dropped the last reference, so nobody else can touch the cell.
unsafe fn dealloc<F: Future, L: Slot>(ptr: NonNull<Header>) {
    // SAFETY: the last reference is gone; the cell was made by Box in `allocate`.
    drop(unsafe { Box::from_raw(ptr.cast::<Cell<F, L>>().as_ptr()) });
}

/// Runs a queue entry: polls the future once (or cancels it), then completes, goes idle or
/// resubmits the entry (protocol steps 2-4, 6, 7).
///
/// # Safety
///
/// - `ptr` points to a live `Cell<F>` with `NOTIFIED` set, and the caller hands over the queue
///   entry's reference (`Notified::run`), which this consumes.
/// - For a pinned task, the caller is its home domain's worker thread.
unsafe fn run<F: Future, L: Slot>(ptr: NonNull<Header>) {
    // SAFETY: the caller (Notified::run) owns a queue-entry reference to a live Cell<F>.
    let cell = unsafe { cell::<F, L>(ptr) };
    match cell.header.state.transition_to_running() {
        ToRunning::Cancel => {
            // SAFETY: RUNNING is ours; we own the entry reference.
            unsafe { cancel_and_complete::<F, L>(ptr) }
        }
        ToRunning::Poll => {
            let instruments = cell.header.scheduler.hooks();
            // The poll hooks run inside the task's panic guard: a hook's panic is the task's
            // failure (`instrument.rs`), never the worker's.
            let mut hook_panic = None;
            if !instruments.is_empty() {
                // SAFETY: our entry reference keeps the task alive.
                hook_panic = unsafe { instruments.each_caught(ptr, |i, t| i.before_task_poll(t)) };
            }
            let outcome = if hook_panic.is_none() {
                // SAFETY: RUNNING gives exclusive access to the stage, and the entry reference
                // keeps the task alive for the borrowed waker's lifetime (this poll).
                unsafe { poll_stage(cell, ptr) }
            } else {
                None // the task fails without being polled
            };
            if !instruments.is_empty() {
                // SAFETY: as above.
                let after = unsafe { instruments.each_caught(ptr, |i, t| i.after_task_poll(t)) };
                hook_panic = hook_panic.or(after);
            }
            if let Some(payload) = hook_panic {
                let result = match outcome {
                    // The task's own panic came first: it stays the failure.
                    Some(Err(err)) => Err(err),
                    Some(Ok(output)) => {
                        // The output is nobody's now; its destructor may panic too.
                        let _ = catch_unwind(AssertUnwindSafe(|| drop(output)));
                        Err(JoinError::panic(payload))
                    }
                    None => {
                        let stage = cell.stage.get();
                        // SAFETY: RUNNING gives exclusive access to the stage. A panic of the
                        // future's destructor leaves it Consumed; the hook's panic stays the
                        // failure.
                        let _ =
                            catch_unwind(AssertUnwindSafe(|| unsafe { *stage = Stage::Consumed }));
                        Err(JoinError::panic(payload))
                    }
                };
                // SAFETY: still RUNNING; we own the entry reference.
                return unsafe { complete::<F, L>(ptr, result) };
            }
            match outcome {
                Some(result) => {
                    // SAFETY: still RUNNING; we own the entry reference.
                    unsafe { complete::<F, L>(ptr, result) }
                }
                None if !link_if_idle(&cell.header, ptr) => {
                    // The runtime shut down: nobody would find this task once idle.
                    // SAFETY: still RUNNING; we own the entry reference.
                    unsafe { cancel_and_complete::<F, L>(ptr) }
                }
                None => match cell.header.state.transition_to_idle() {
                    ToIdle::Idle => {} // our reference was dropped in the transition
                    ToIdle::Notified => {
                        // SAFETY: our reference now belongs to the new queue entry.
                        let entry = unsafe { Notified::from_raw(RawTask(ptr)) };
                        cell.header.scheduler.schedule(entry, true);
                    }
                    ToIdle::Cancel => {
                        // SAFETY: still RUNNING (the transition kept it); we own our reference.
                        unsafe { cancel_and_complete::<F, L>(ptr) }
                    }
                },
            }
        }
    }
}

/// Before a task may go idle, it joins the owned list, so shutdown can find it while no queue
/// holds it. Tasks that complete or yield without ever waiting (the common short task) never
/// touch the list. Returns `false` if the list is closed (shutdown): the caller cancels.
fn link_if_idle(header: &Header, ptr: NonNull<Header>) -> bool {
    if header.state.load().has(NOTIFIED) {
        return true; // woken during the poll: it goes back to a queue, not idle
    }
    // SAFETY: the caller holds RUNNING, which guards `shard`.
    let shard = unsafe { &mut *header.shard.get() };
    if *shard != UNLINKED {
        return true; // linked already
    }
    let scheduler = &*header.scheduler;
    let owned = scheduler.owned();
    let chosen = owned.shard_for(header.route, || scheduler.shard_hint());
    header.state.ref_inc(); // the list's reference
    if owned.link(RawTask(ptr), chosen) {
        *shard = chosen as u32;
        true
    } else {
        // SAFETY: the list refused it; the reference we made for it is ours (and not the last:
        // the caller holds one).
        unsafe { drop_reference(ptr) };
        false
    }
}

/// Polls the future once. `Some` when it is done (output or panic), with the future dropped.
///
/// # Safety
///
/// - The caller holds `RUNNING` and a reference.
unsafe fn poll_stage<F: Future, L>(
    cell: &Cell<F, L>,
    ptr: NonNull<Header>,
) -> Option<Result<F::Output, JoinError>> {
    // SAFETY: a borrowed waker: it shares the caller's reference and never outlives this call
    // (ManuallyDrop: its drop would release a reference it does not own).
    let waker = ManuallyDrop::new(unsafe { Waker::from_raw(raw_waker(ptr)) });
    let mut cx = Context::from_waker(&waker);
    let stage = cell.stage.get();
    let polled = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: RUNNING gives exclusive access to the stage.
        let Stage::Running(future) = (unsafe { &mut *stage }) else {
            unreachable!("polled a task whose future is gone")
        };
        // SAFETY: the future lives in the heap cell and is never moved until dropped in place.
        match unsafe { Pin::new_unchecked(future) }.poll(&mut cx) {
            Poll::Ready(output) => {
                // Drop the future inside the guard: its destructor may panic too.
                // SAFETY: exclusive access, as above.
                unsafe { *stage = Stage::Consumed };
                Poll::Ready(output)
            }
            Poll::Pending => Poll::Pending,
        }
    }));
    match polled {
        Ok(Poll::Pending) => None,
        Ok(Poll::Ready(output)) => Some(Ok(output)),
        Err(payload) => {
            // SAFETY: exclusive access; the future may be half-dropped only if its destructor
            // panicked, in which case the stage is already Consumed.
            let _ = catch_unwind(AssertUnwindSafe(|| unsafe { *stage = Stage::Consumed }));
            Some(Err(JoinError::panic(payload)))
        }
    }
}

/// Drops the future and completes with `Cancelled` (or `Panic` if its destructor panicked).
///
/// # Safety
///
/// - `ptr` points to a live `Cell<F>`; the caller holds `RUNNING` and one reference (the
///   entry's), which this consumes.
unsafe fn cancel_and_complete<F: Future, L: Slot>(ptr: NonNull<Header>) {
    // SAFETY: the caller's reference keeps the cell alive until `complete` releases it.
    let stage = unsafe { cell::<F, L>(ptr) }.stage.get();
    // SAFETY: RUNNING gives exclusive access to the stage.
    let dropped = catch_unwind(AssertUnwindSafe(|| unsafe { *stage = Stage::Consumed }));
    let result = match dropped {
        Ok(()) => Err(JoinError::cancelled()),
        Err(payload) => Err(JoinError::panic(payload)),
    };
    // SAFETY: forwarded from the caller.
    unsafe { complete::<F, L>(ptr, result) }
}

/// Stores the result, publishes `COMPLETE`, notifies the join handle, leaves the owned list.
///
/// # Safety
///
/// - `ptr` points to a live `Cell<F>`; the caller holds `RUNNING` and one reference, which
///   this consumes.
unsafe fn complete<F: Future, L: Slot>(ptr: NonNull<Header>, result: Result<F::Output, JoinError>) {
    // A local borrow, not a parameter: this function frees the cell at its end (the last
    // `drop_reference`), and a reference passed in as an argument would have to outlive the
    // call (miri reports the deallocation under a protected borrow as undefined behaviour).
    // SAFETY: the caller's reference keeps the cell alive until the end of this function.
    let cell = unsafe { cell::<F, L>(ptr) };
    let scheduler = &*cell.header.scheduler;
    let instruments = scheduler.hooks();
    if !instruments.is_empty() {
        // SAFETY: the caller's reference keeps the task alive.
        unsafe { instruments.each(ptr, |i, t| i.task_exited(t)) };
    }
    if instruments.keeps_names() {
        instruments.forget_name(ptr);
    }
    // SAFETY: RUNNING gives exclusive access to the stage.
    unsafe { *cell.stage.get() = Stage::Finished(result) };
    let prev = cell.header.state.transition_to_complete();
    if !prev.has(JOIN_INTEREST) {
        // Nobody will read the output: drop it here. The stage is ours: the handle is gone.
        // SAFETY: no JoinHandle exists, and COMPLETE keeps every other party off the stage.
        let _ = catch_unwind(AssertUnwindSafe(|| unsafe {
            *cell.stage.get() = Stage::Consumed
        }));
    } else if prev.has(JOIN_WAKER) {
        // SAFETY: with JOIN_WAKER and COMPLETE set the slot belongs to the task side and is never
        // written again; the handle only reads it.
        let waker = unsafe { &*cell.header.join_waker.get() };
        if let Some(waker) = waker {
            // A user waker (a JoinHandle awaited elsewhere) must not take the worker down.
            crate::contain::wake_by_ref(waker, "a finished task woke its JoinHandle's waker");
        }
    }
    // SAFETY: COMPLETE was set by us while holding RUNNING; no one else reads `shard`.
    let shard = unsafe { *cell.header.shard.get() };
    if shard != UNLINKED && scheduler.owned().remove(RawTask(ptr), shard as usize) {
        // SAFETY: the list's reference was handed to us by `remove`.
        unsafe { drop_reference(ptr) };
    }
    scheduler.release(&cell.header);
    // SAFETY: the caller's reference.
    unsafe { drop_reference(ptr) };
}

/// Cancels a task that shutdown took while it was idle.
///
/// # Safety
///
/// - `ptr` points to a live `Cell<F>`, the caller won `transition_to_shutdown` (it holds
///   `RUNNING | CANCELLED`) and hands over one reference, which this consumes.
/// - For a pinned task, the caller is its home domain's worker thread.
unsafe fn shutdown<F: Future, L: Slot>(ptr: NonNull<Header>) {
    // SAFETY: the caller won `transition_to_shutdown` (RUNNING | CANCELLED are ours) and gives
    // us one reference.
    unsafe { cancel_and_complete::<F, L>(ptr) }
}

/// The join handle's poll: moves the output into `*dst` if the task is complete, else
/// registers `waker` (protocol step 5).
///
/// # Safety
///
/// - `ptr` points to a live `Cell<F>` and the caller is its `JoinHandle<F::Output>`, holding
///   the handle's reference.
/// - `dst` points to a valid, writable `Poll<Result<F::Output, JoinError>>`.
unsafe fn try_read_output<F: Future, L: Slot>(ptr: NonNull<Header>, dst: *mut (), waker: &Waker) {
    // SAFETY: the join handle holds a reference to a live Cell<F>.
    let cell = unsafe { cell::<F, L>(ptr) };
    // SAFETY: called by the join handle, which owns the slot per step 5.
    if unsafe { can_read_output(&cell.header, waker) } {
        // SAFETY: COMPLETE with JOIN_INTEREST: the output belongs to the handle.
        let stage = unsafe { std::mem::replace(&mut *cell.stage.get(), Stage::Consumed) };
        let Stage::Finished(result) = stage else {
            panic!("JoinHandle polled after it returned the output");
        };
        let dst = dst.cast::<Poll<Result<F::Output, JoinError>>>();
        // SAFETY: the caller passes a valid `Poll<Result<F::Output, JoinError>>`.
        unsafe { *dst = Poll::Ready(result) };
    }
}

/// Step 5. Returns `true` when complete (the output can be read); otherwise `waker` is
/// registered.
///
/// # Safety
///
/// - `header` is a live task's and only its join handle calls this (the slot protocol of step
///   5 gives the handle the slot while `JOIN_WAKER` is clear).
unsafe fn can_read_output(header: &Header, waker: &Waker) -> bool {
    let snapshot = header.state.load();
    if snapshot.has(COMPLETE) {
        return true;
    }
    let slot = header.join_waker.get();
    if snapshot.has(JOIN_WAKER) {
        // SAFETY: the task side only reads the slot; reading it here too is fine.
        let same = unsafe { (*slot).as_ref() }.is_some_and(|w| w.will_wake(waker));
        if same {
            return false;
        }
        if header.state.unset_join_waker().is_err() {
            return true; // completed meanwhile
        }
    }
    // SAFETY: JOIN_WAKER is clear: the slot is the handle's.
    unsafe { *slot = Some(waker.clone()) };
    if header.state.set_join_waker().is_err() {
        // Completed before the hand-over: the slot is still ours; clear it and read.
        // SAFETY: as above.
        unsafe { *slot = None };
        return true;
    }
    false
}

/// The join handle is dropped: clears `JOIN_INTEREST`, drops the output if the task already
/// completed, and releases the handle's reference.
///
/// # Safety
///
/// - `ptr` points to a live `Cell<F>` and the caller is its `JoinHandle`, handing over the
///   handle's reference, which this consumes.
unsafe fn drop_join_handle<F: Future, L: Slot>(ptr: NonNull<Header>) {
    // SAFETY: the join handle holds a reference to a live Cell<F>.
    let cell = unsafe { cell::<F, L>(ptr) };
    if !cell.header.state.unset_join_interest() {
        // Already complete: the output is the handle's to drop.
        // SAFETY: COMPLETE with JOIN_INTEREST: the stage belongs to the handle.
        let _ = catch_unwind(AssertUnwindSafe(|| unsafe {
            *cell.stage.get() = Stage::Consumed
        }));
    }
    // SAFETY: the handle's reference.
    unsafe { drop_reference(ptr) }
}

// ---- the waker ----

static WAKER_VTABLE: RawWakerVTable =
    RawWakerVTable::new(waker_clone, waker_wake, waker_wake_by_ref, waker_drop);

fn raw_waker(ptr: NonNull<Header>) -> RawWaker {
    RawWaker::new(ptr.as_ptr() as *const (), &WAKER_VTABLE)
}

// The waker vtable: `data` is the task's header pointer.

/// # Safety
///
/// - `data` is the header of a live task, and the waker being cloned holds or borrows a
///   reference to it (a `RawWakerVTable` contract: only wakers made by `raw_waker` call this).
unsafe fn waker_clone(data: *const ()) -> RawWaker {
    // SAFETY: a waker holds (or borrows) a reference, so the header is alive.
    let header = unsafe { &*(data as *const Header) };
    header.state.ref_inc();
    RawWaker::new(data, &WAKER_VTABLE)
}

/// # Safety
///
/// - `data` is the header of a live task, and the waker being consumed owns one reference to
///   it, which this consumes (an owned waker: a borrowed one is never woken by value, it is
///   never dropped either, being `ManuallyDrop`).
unsafe fn waker_wake(data: *const ()) {
    // SAFETY: an owned waker holds a reference to a live task.
    let ptr = unsafe { NonNull::new_unchecked(data as *mut Header) };
    // SAFETY: as above.
    let header = unsafe { ptr.as_ref() };
    match header.state.transition_to_notified_by_val() {
        (ToNotified::Submit, _) => {
            // SAFETY: the waker's reference became the entry's.
            let entry = unsafe { Notified::from_raw(RawTask(ptr)) };
            header.scheduler.schedule(entry, false);
        }
        (ToNotified::Nothing, true) => {
            // SAFETY: we dropped the last reference.
            unsafe { (header.vtable.dealloc)(ptr) }
        }
        (ToNotified::Nothing, false) => {}
    }
}

/// # Safety
///
/// - `data` is the header of a live task, and the waker holds or borrows a reference to it.
unsafe fn waker_wake_by_ref(data: *const ()) {
    // SAFETY: the waker holds (or borrows) a reference to a live task.
    let ptr = unsafe { NonNull::new_unchecked(data as *mut Header) };
    // SAFETY: as above.
    let header = unsafe { ptr.as_ref() };
    if header.state.transition_to_notified_by_ref() == ToNotified::Submit {
        // SAFETY: the transition added a reference for the entry.
        let entry = unsafe { Notified::from_raw(RawTask(ptr)) };
        header.scheduler.schedule(entry, false);
    }
}

/// # Safety
///
/// - `data` is the header of a live task, and the waker being dropped owns one reference to
///   it, which this releases.
unsafe fn waker_drop(data: *const ()) {
    // SAFETY: an owned waker holds one reference.
    unsafe { drop_reference(NonNull::new_unchecked(data as *mut Header)) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn header_fits_a_cache_line() {
        assert!(std::mem::size_of::<super::Header>() <= 64);
    }

    /// Only a pinned task's cell carries the queue link: the others are a word smaller.
    #[test]
    fn only_pinned_cells_carry_the_queue_link() {
        use super::{Cell, NoLink, QueueLink};
        type F = std::future::Ready<u64>;
        assert_eq!(
            std::mem::size_of::<Cell<F, QueueLink>>(),
            std::mem::size_of::<Cell<F, NoLink>>() + std::mem::size_of::<usize>()
        );
        assert_eq!(
            std::mem::offset_of!(Cell<F, NoLink>, stage),
            std::mem::size_of::<super::Header>()
        );
    }
}
