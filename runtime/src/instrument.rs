//! Instrumentation: hooks the scheduler calls around every task event (Trio's
//! `trio.abc.Instrument`), for profilers such as `trellis::util::TaskStats`.
//!
//! An instrument is installed with [`Builder::instrument`](crate::Builder::instrument). Without
//! one, each hook site costs one test of an empty list, and task names are not kept at all
//! (unless the runtime records its task tree, `tree.rs`, which keeps the given ones): they
//! live in a side table of the runtime (keyed by task address, sharded), not in the task,
//! because 16 more bytes in every task cell pushed small tasks into a slower allocator size
//! class (`rt::ping_pong` lost 60%).

use std::collections::HashMap;

use std::fmt;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::DomainId;
use crate::contain;
use crate::task::Header;

/// Hooks called by the runtime around task events. Every method has an empty default.
///
/// Hooks run on the thread where the event happens (any worker, the `block_on` thread, a plain
/// thread that wakes a task), concurrently, so an implementation synchronises its own state.
/// Polls on one thread can nest: a task that awaits the `JoinHandle` of a task it has just
/// spawned runs that task inside its own poll (see [`JoinHandle`](crate::JoinHandle)), so the
/// inner task's `before_task_poll` and `after_task_poll` come between the outer one's, and the
/// outer poll's duration includes the inner one.
/// They run in the middle of scheduling: keep them short, and never block, spawn or wake
/// tasks from them. A panicking hook is a bug in the instrument, and it never takes a worker
/// down: a panic of [`before_task_poll`](Self::before_task_poll) or
/// [`after_task_poll`](Self::after_task_poll) is the failure of the task being polled (its
/// future is dropped, not polled, if `before_task_poll` panicked, and its `JoinHandle` reports
/// [`is_panic`](crate::JoinError::is_panic)); a panic of any other hook is caught, reported on
/// stderr, and ignored. Either way the other instruments still get the event.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use trellis::{Instrument, TaskInfo};
///
/// #[derive(Default)]
/// struct CountPolls(AtomicUsize);
///
/// impl Instrument for CountPolls {
///     fn before_task_poll(&self, _task: &TaskInfo<'_>) {
///         self.0.fetch_add(1, Ordering::Relaxed);
///     }
/// }
///
/// let polls = Arc::new(CountPolls::default());
/// let rt = trellis::Runtime::builder().workers(1).instrument(polls.clone()).build().unwrap();
/// rt.block_on(async { trellis::spawn(async {}).await.unwrap() });
/// assert!(polls.0.load(Ordering::Relaxed) >= 1);
/// ```
pub trait Instrument: Send + Sync + 'static {
    /// A task was created (before its first scheduling).
    fn task_spawned(&self, task: &TaskInfo<'_>) {
        let _ = task;
    }

    /// A task became runnable: spawned, woken, or yielding. A wake that coalesces with one
    /// already pending does not schedule again.
    fn task_scheduled(&self, task: &TaskInfo<'_>) {
        let _ = task;
    }

    /// A worker is about to poll the task (one "step" in Trio's words).
    fn before_task_poll(&self, task: &TaskInfo<'_>) {
        let _ = task;
    }

    /// The poll that [`before_task_poll`](Self::before_task_poll) announced returned (or
    /// panicked).
    fn after_task_poll(&self, task: &TaskInfo<'_>) {
        let _ = task;
    }

    /// The task completed, was cancelled, or panicked; its id may be reused afterwards.
    fn task_exited(&self, task: &TaskInfo<'_>) {
        let _ = task;
    }

    /// The runtime shut down (Trio's `after_run`): every task is gone.
    fn runtime_stopped(&self) {}
}

/// What an [`Instrument`] hook learns about a task.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use trellis::{Instrument, TaskInfo};
///
/// #[derive(Default)]
/// struct Names(Mutex<Vec<String>>);
///
/// impl Instrument for Names {
///     fn task_spawned(&self, task: &TaskInfo<'_>) {
///         self.0.lock().unwrap().push(task.name().unwrap_or("?").to_owned());
///     }
/// }
///
/// let names = Arc::new(Names::default());
/// let rt = trellis::Runtime::builder().workers(1).instrument(names.clone()).build().unwrap();
/// rt.block_on(async {
///     trellis::TaskBuilder::new().name("fetch").spawn(async {}).await.unwrap();
/// });
/// assert_eq!(*names.0.lock().unwrap(), ["fetch"]);
/// ```
#[derive(Clone)]
pub struct TaskInfo<'a> {
    header: &'a Header,
    name: Option<Arc<str>>,
}

impl<'a> TaskInfo<'a> {
    /// The task's id: unique among live tasks (an id may be reused after
    /// [`task_exited`](Instrument::task_exited)).
    ///
    /// # Examples
    ///
    /// ```
    /// use trellis::{Instrument, TaskId, TaskInfo};
    /// struct Ids;
    /// impl Instrument for Ids {
    ///     fn task_exited(&self, task: &TaskInfo<'_>) {
    ///         let _id: TaskId = task.id();
    ///     }
    /// }
    /// # let _: &dyn Instrument = &Ids;
    /// ```
    pub fn id(&self) -> TaskId {
        TaskId(std::ptr::from_ref(self.header) as usize)
    }

    /// The name given with [`TaskBuilder::name`](crate::TaskBuilder::name) or
    /// [`Nursery::start_soon_named`](crate::Nursery::start_soon_named); for nursery children
    /// started without one while an instrument is installed, the type name of their future.
    ///
    /// # Examples
    ///
    /// ```
    /// use trellis::{Instrument, TaskInfo};
    /// struct Log;
    /// impl Instrument for Log {
    ///     fn task_exited(&self, task: &TaskInfo<'_>) {
    ///         println!("{} exited", task.name().unwrap_or(task.type_name()));
    ///     }
    /// }
    /// # let _: &dyn Instrument = &Log;
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The type name of the task's future (`std::any::type_name`), a fallback label for
    /// unnamed tasks.
    ///
    /// # Examples
    ///
    /// ```
    /// use trellis::{Instrument, TaskInfo};
    /// struct Log;
    /// impl Instrument for Log {
    ///     fn task_spawned(&self, task: &TaskInfo<'_>) {
    ///         assert!(!task.type_name().is_empty());
    ///     }
    /// }
    /// # let _: &dyn Instrument = &Log;
    /// ```
    pub fn type_name(&self) -> &'static str {
        (self.header.vtable.type_name)()
    }

    /// The domain a pinned task lives on (`spawn_local`, `spawn_on`); `None` for stealable
    /// tasks and blocking jobs.
    ///
    /// # Examples
    ///
    /// ```
    /// use trellis::{Instrument, TaskInfo};
    /// struct Where;
    /// impl Instrument for Where {
    ///     fn before_task_poll(&self, task: &TaskInfo<'_>) {
    ///         if let Some(d) = task.domain() {
    ///             assert_eq!(trellis::domain::current(), Some(d));
    ///         }
    ///     }
    /// }
    /// # let _: &dyn Instrument = &Where;
    /// ```
    pub fn domain(&self) -> Option<DomainId> {
        self.header.route.domain().map(DomainId::new)
    }
}

impl fmt::Debug for TaskInfo<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskInfo")
            .field("id", &self.id())
            .field("name", &self.name)
            .field("domain", &self.domain())
            .finish()
    }
}

/// Identifies a live task (see [`TaskInfo::id`]).
///
/// # Examples
///
/// ```
/// use std::collections::HashSet;
/// use trellis::TaskId;
/// let ids: HashSet<TaskId> = HashSet::new();
/// assert!(ids.is_empty());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(usize);

thread_local! {
    /// The id of the task this worker is polling, 0 between polls.
    static CURRENT_TASK: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl TaskId {
    /// The task's address, as the name table keys it.
    pub(crate) fn addr(self) -> usize {
        self.0
    }

    pub(crate) fn from_addr(addr: usize) -> TaskId {
        TaskId(addr)
    }

    /// The task being polled on this thread, if any (not the root future of `block_on`, not a
    /// blocking job).
    pub(crate) fn current() -> Option<TaskId> {
        match CURRENT_TASK.with(std::cell::Cell::get) {
            0 => None,
            id => Some(TaskId(id)),
        }
    }

    /// Records the task a worker is about to poll (`None` once the poll returned).
    #[inline]
    pub(crate) fn set_current(header: Option<&Header>) {
        Self::replace_current_addr(header.map_or(0, |h| std::ptr::from_ref(h) as usize));
    }

    /// Sets the current task's address (0: none) and returns the one it replaces: a joiner's,
    /// saved while a joined task runs inside its poll (`scheduler/worker.rs`, `run_joined`).
    #[inline]
    pub(crate) fn replace_current_addr(id: usize) -> usize {
        CURRENT_TASK.with(|c| c.replace(id))
    }
}

/// A task's name as given at spawn: materialised (for a type name, allocated) only when the
/// runtime is instrumented, so naming costs an uninstrumented spawn nothing.
#[derive(Clone, Debug)]
pub(crate) enum TaskName {
    /// Given by the user (`TaskBuilder::name`, `Nursery::start_soon_named`).
    Given(Arc<str>),
    /// The type name of the future (unnamed nursery children).
    TypeOf(fn() -> &'static str),
}

impl TaskName {
    /// The type name of `F`, as a lazy label.
    pub(crate) fn type_of<F>() -> TaskName {
        TaskName::TypeOf(std::any::type_name::<F>)
    }

    fn into_arc(self) -> Arc<str> {
        match self {
            TaskName::Given(name) => name,
            TaskName::TypeOf(name) => Arc::from(name()),
        }
    }
}

use crate::tuning::NAME_SHARDS;

/// One shard of the name table: task address -> name.
type NameShard = Mutex<HashMap<usize, Arc<str>>>;

/// The instruments of one runtime, and the names of its live named tasks.
#[derive(Default)]
pub(crate) struct Instruments {
    list: Vec<Arc<dyn Instrument>>,
    /// Task address -> name, sharded by address; used only when `list` is not empty.
    names: Box<[NameShard]>,
}

impl Clone for Instruments {
    /// The same instruments, with a fresh (empty) name table.
    fn clone(&self) -> Instruments {
        Instruments {
            list: self.list.clone(),
            names: Box::default(),
        }
    }
}

impl Instruments {
    pub(crate) fn push(&mut self, instrument: Arc<dyn Instrument>) {
        self.list.push(instrument);
        self.keep_names();
    }

    /// Keeps the names of live tasks (for instruments, or for the task-tree view).
    pub(crate) fn keep_names(&mut self) {
        if self.names.is_empty() {
            self.names = (0..NAME_SHARDS).map(|_| Mutex::default()).collect();
        }
    }

    /// Are task names kept (an instrument is installed, or the task tree is recorded)?
    #[inline]
    pub(crate) fn keeps_names(&self) -> bool {
        !self.names.is_empty()
    }

    /// The name of the live task at address `id`, if it has one (only while names are kept).
    pub(crate) fn name_of(&self, id: usize) -> Option<Arc<str>> {
        let ptr = NonNull::new(id as *mut Header)?;
        self.names(ptr).get(&id).cloned()
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    fn names(&self, ptr: NonNull<Header>) -> MutexGuard<'_, HashMap<usize, Arc<str>>> {
        // Skip the low bits of the address, which vary little between heap blocks.
        let shard = (ptr.as_ptr() as usize >> 6) % NAME_SHARDS;
        // A hook that panicked left the map intact.
        self.names[shard].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the name of a new task (only called while names are kept). Without an
    /// instrument (the task tree alone) only given names are kept: a type name would cost an
    /// allocation per unnamed child.
    pub(crate) fn set_name(&self, ptr: NonNull<Header>, name: TaskName) {
        if self.list.is_empty() && matches!(name, TaskName::TypeOf(_)) {
            return;
        }
        self.names(ptr)
            .insert(ptr.as_ptr() as usize, name.into_arc());
    }

    /// Drops the name of a task that completed (its address may be reused).
    pub(crate) fn forget_name(&self, ptr: NonNull<Header>) {
        let name = self.names(ptr).remove(&(ptr.as_ptr() as usize));
        drop(name);
    }

    /// Calls `hook` on every instrument with the task at `ptr`; a panicking hook is reported
    /// and ignored (`contain.rs`).
    ///
    /// # Safety
    ///
    /// - `ptr` points to a live task whose reference the caller holds during the call.
    pub(crate) unsafe fn each(
        &self,
        ptr: NonNull<Header>,
        hook: impl Fn(&dyn Instrument, &TaskInfo<'_>),
    ) {
        // SAFETY: forwarded from the caller.
        if let Some(payload) = unsafe { self.each_caught(ptr, hook) } {
            contain::report("running an instrument hook", &payload);
        }
    }

    /// Calls `hook` on every instrument with the task at `ptr`, even after one panicked;
    /// returns the first panic's payload (the poll hooks make it the task's failure).
    ///
    /// # Safety
    ///
    /// - `ptr` points to a live task whose reference the caller holds during the call.
    pub(crate) unsafe fn each_caught(
        &self,
        ptr: NonNull<Header>,
        hook: impl Fn(&dyn Instrument, &TaskInfo<'_>),
    ) -> Option<contain::Payload> {
        let name = self.names(ptr).get(&(ptr.as_ptr() as usize)).cloned();
        // SAFETY: the caller keeps the task alive during the call.
        let header = unsafe { ptr.as_ref() };
        let info = TaskInfo { header, name };
        let mut first = None;
        for instrument in &self.list {
            if let Err(payload) = contain::catch(|| hook(&**instrument, &info)) {
                first.get_or_insert(payload);
            }
        }
        first
    }

    /// Calls [`Instrument::runtime_stopped`] on every instrument (a panic is reported and
    /// ignored).
    pub(crate) fn runtime_stopped(&self) {
        for instrument in &self.list {
            if let Err(payload) = contain::catch(|| instrument.runtime_stopped()) {
                contain::report("running Instrument::runtime_stopped", &payload);
            }
        }
    }
}

impl fmt::Debug for Instruments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} instrument(s)", self.list.len())
    }
}
