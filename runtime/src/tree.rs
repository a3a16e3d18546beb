//! The live task tree: nurseries, cancel scopes and nursery children, as a value to inspect
//! or print (Trio's `current_root_task()` / `child_nurseries` walk, across every domain).
//!
//! ```
//! use std::sync::Arc;
//! use trellis::sync::Event;
//!
//! let rt = trellis::Runtime::builder().workers(2).start_paused(true).task_tree(true).build().unwrap();
//! rt.block_on(async {
//!     let go = Arc::new(Event::new());
//!     trellis::nursery(async |n| {
//!         let wait = go.clone();
//!         n.start_soon_named("waiter", async move { wait.wait().await });
//!         trellis::testing::wait_all_tasks_blocked().await;
//!         let tree = trellis::tree::dump().unwrap();
//!         println!("{tree}");
//!         assert!(tree.find_task("waiter").is_some());
//!         go.set();
//!     })
//!     .await
//!     .unwrap();
//! });
//! ```
//!
//! # Mechanism
//!
//! The scope tree already exists: every scope, nursery and nursery child has a node
//! (`scope/node.rs`) linked to the scope enclosing it, and a parent keeps weak links to its
//! children so a cancel can walk down. The view adds, on a runtime built with
//! [`Builder::task_tree(true)`](crate::Builder::task_tree), only what that tree cannot tell:
//!
//! - **The roots.** A task-level scope (one entered with no enclosing scope: the first scope
//!   of a detached task, or of a `block_on` future) is pushed, as a weak link with the id and
//!   home domain of the task polling it, onto the runtime's `Roots` list (pruned like a
//!   node's children: dead entries go when the list doubles).
//! - **The tasks.** A nursery child's root node is linked to its task's header at the child's
//!   first poll and unlinked when the child's future is dropped, which happens before the
//!   task's cell can be freed; the dump follows the link only under the node's lock, which
//!   the unlink takes (`Node::link_task`). State and home domain are read from the header's
//!   state word and route.
//! - **The names** given with `TaskBuilder::name` and `start_soon_named` are kept in the side
//!   table instruments use (`instrument.rs`), looked up by task address.
//!
//! A child not yet polled has a node but no link: it shows as a task without an id. A
//! timeout scope nobody holds a `CancelHandle` to (`move_on_after`, `fail_after`) stores its
//! deadline when its timer is armed, at its body's first wait: until then it shows none.
//! Nodes whose scope has exited (a completed child, a finished `move_on_after`) are left out,
//! with everything below them.
//!
//! # Locks
//!
//! The dump takes, one at a time and never two at once: the roots list's lock (to copy it),
//! each node's lock (to copy its children, flags and task link, as a cancel's walk does), and
//! a shard of the name table (after the node's lock is released). No user code runs under any
//! of them, and none of them is held where the runtime calls an instrument hook, so a dump
//! from inside a hook cannot deadlock. The tree is not a snapshot taken at one instant:
//! tasks keep running while it is walked, so a node may show a state it left a moment ago.

use std::fmt;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use crate::DomainId;
use crate::instrument::TaskId;
use crate::scheduler::{Shared, context};
use crate::scope::{Kind, Node};
use crate::task::Header;
use crate::task::state::{COMPLETE, NOTIFIED, RUNNING};
use crate::time::Instant;
use crate::tuning::PRUNE_MIN;

/// The task tree of the runtime the caller runs in (a task, a `block_on` future, a blocking
/// closure, an instrument hook on a worker).
///
/// # Errors
///
/// [`TreeOff`] if the runtime was not built with
/// [`Builder::task_tree(true)`](crate::Builder::task_tree).
///
/// # Panics
///
/// Outside a Trellis runtime; from a plain thread use [`Handle::task_tree`](crate::Handle::task_tree).
///
/// # Examples
///
/// ```
/// let rt = trellis::Runtime::builder().workers(1).task_tree(true).build().unwrap();
/// rt.block_on(async {
///     trellis::move_on_after(std::time::Duration::from_secs(5), async {
///         trellis::yield_now().await; // (the deadline is stored at the first wait)
///         let tree = trellis::tree::dump().unwrap();
///         assert!(tree.to_string().contains("cancel scope [deadline in"));
///     })
///     .await;
/// });
/// let plain = trellis::Runtime::builder().workers(1).build().unwrap();
/// assert!(plain.block_on(async { trellis::tree::dump() }).is_err());
/// ```
pub fn dump() -> Result<TaskTree, TreeOff> {
    context::expect_runtime("trellis::tree::dump", |shared| dump_of(shared))
}

/// The tree of `shared` (`dump`, `Handle::task_tree`).
pub(crate) fn dump_of(shared: &Shared) -> Result<TaskTree, TreeOff> {
    let roots = shared.tree.as_ref().ok_or(TreeOff)?;
    let now = shared.clock.now();
    let mut groups: Vec<(Option<RootTask>, Vec<TreeNode>)> = Vec::new();
    for (node, task) in roots.live() {
        let Some(view) = view(&node, shared, now) else {
            continue;
        };
        let key = task.map(|t| t.id);
        match groups.iter_mut().find(|(t, _)| t.map(|t| t.id) == key) {
            Some((_, children)) => children.push(view),
            None => groups.push((task, vec![view])),
        }
    }
    let roots = groups
        .into_iter()
        .map(|(task, children)| TreeNode {
            kind: match task {
                None => NodeKind::BlockOn,
                Some(task) => NodeKind::Task(TaskView {
                    id: Some(TaskId::from_addr(task.id)),
                    name: shared.instruments.name_of(task.id),
                    // Not linked (a task-level scope may move to another task): not read.
                    state: None,
                    domain: task.domain.map(DomainId::new),
                    cancelled: false,
                }),
            },
            children,
        })
        .collect();
    Ok(TaskTree { roots })
}

/// The view of one node and its live subtree; `None` if its scope has exited.
fn view(node: &Node, shared: &Shared, now: Instant) -> Option<TreeNode> {
    let peek = node.peek(); // the node's lock is released here
    if peek.exited {
        return None;
    }
    let kind = match peek.kind {
        Kind::Scope => NodeKind::Scope {
            deadline: peek.deadline.map(|at| at.saturating_duration_since(now)),
            shielded: peek.shield,
            cancelled: peek.cancelled,
        },
        Kind::Nursery => NodeKind::Nursery {
            cancelled: peek.cancelled,
        },
        Kind::TaskRoot => {
            let (id, state, domain) = match peek.task {
                Some((id, word, domain)) => {
                    let state = if word.has(COMPLETE) {
                        TaskState::Completed
                    } else if word.has(RUNNING) {
                        TaskState::Running
                    } else if word.has(NOTIFIED) {
                        TaskState::Scheduled
                    } else {
                        TaskState::Idle
                    };
                    (Some(id), Some(state), domain)
                }
                None => (None, None, None),
            };
            NodeKind::Task(TaskView {
                id: id.map(TaskId::from_addr),
                name: id.and_then(|id| shared.instruments.name_of(id)),
                state,
                domain: domain.map(DomainId::new),
                cancelled: peek.cancelled,
            })
        }
    };
    let children = peek
        .children
        .iter()
        .filter_map(|child| view(child, shared, now))
        .collect();
    Some(TreeNode { kind, children })
}

/// Records a task-level scope (`ScopeCore::begin`, for a node with no enclosing scope or a
/// nursery child's root) if the runtime records the tree; `true` if it linked the node to its
/// task, which the scope must then undo when dropped (`Node::unlink_task`).
pub(crate) fn record(node: &Arc<Node>) -> bool {
    context::with_runtime(|rt| {
        let Some(roots) = rt.and_then(|rt| rt.tree.as_ref()) else {
            return false;
        };
        let task = TaskId::current().map(|id| {
            // SAFETY: the current task id is the address of the header of the task this
            // worker is polling right now (`TaskId::set_current` around `run`), alive for the
            // whole poll, which is this call.
            unsafe { &*(id.addr() as *const Header) }
        });
        if node.is_root() {
            roots.push(
                node,
                task.map(|header| RootTask {
                    id: std::ptr::from_ref(header) as usize,
                    domain: header.route.domain(),
                }),
            );
        }
        match task {
            Some(header) if node.kind() == Kind::TaskRoot => {
                // SAFETY: a task-root node belongs to a nursery child, whose `Child` future is
                // the task's own future (it cannot move to another task), polled now by that
                // task; its `ScopeCore` unlinks at drop since we return `true`.
                unsafe { node.link_task(header) };
                true
            }
            _ => false,
        }
    })
}

/// The task polling a task-level scope when it was entered.
#[derive(Clone, Copy)]
struct RootTask {
    id: usize,
    domain: Option<usize>,
}

/// The task-level scopes of a runtime that records its tree (`Shared::tree`).
#[derive(Default)]
pub(crate) struct Roots {
    list: Mutex<RootList>,
}

#[derive(Default)]
struct RootList {
    entries: Vec<(Weak<Node>, Option<RootTask>)>,
    /// Dead entries are pruned when `entries` reaches this length (amortised O(1) push).
    prune_at: usize,
}

impl Roots {
    fn lock(&self) -> std::sync::MutexGuard<'_, RootList> {
        // No critical section panics.
        self.list.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, node: &Arc<Node>, task: Option<RootTask>) {
        let mut list = self.lock();
        if list.entries.len() >= list.prune_at.max(PRUNE_MIN) {
            list.entries.retain(|(n, _)| n.strong_count() > 0);
            list.prune_at = (list.entries.len() * 2).max(PRUNE_MIN);
        }
        list.entries.push((Arc::downgrade(node), task));
    }

    /// The live roots, in the order they were entered (copied; the lock is released on
    /// return).
    fn live(&self) -> Vec<(Arc<Node>, Option<RootTask>)> {
        self.lock()
            .entries
            .iter()
            .filter_map(|(n, t)| Some((n.upgrade()?, *t)))
            .collect()
    }
}

/// A view of the live task tree: its roots are the `block_on` future (if it is inside a scope)
/// and the detached tasks that entered scopes; below them the nurseries, cancel scopes and
/// nursery children, as they nest. [`Display`](fmt::Display) renders it as an indented text
/// tree.
///
/// # Examples
///
/// ```
/// let rt = trellis::Runtime::builder().workers(1).task_tree(true).build().unwrap();
/// rt.block_on(async {
///     trellis::nursery(async |n| {
///         let tree = trellis::tree::dump().unwrap();
///         assert_eq!(tree.to_string(), "block_on\n└─ nursery\n");
///         # let _ = n;
///     })
///     .await
///     .unwrap();
/// });
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TaskTree {
    /// The roots: a [`NodeKind::BlockOn`] node for the scopes of `block_on` futures, and a
    /// [`NodeKind::Task`] node per detached task inside scopes.
    pub roots: Vec<TreeNode>,
}

/// One node of a [`TaskTree`]: what it is, and what nests inside it.
///
/// # Examples
///
/// ```
/// use trellis::tree::NodeKind;
///
/// let rt = trellis::Runtime::builder().workers(1).task_tree(true).build().unwrap();
/// rt.block_on(async {
///     trellis::nursery(async |_n| {
///         let tree = trellis::tree::dump().unwrap();
///         let root = &tree.roots[0];
///         assert_eq!(root.kind, NodeKind::BlockOn);
///         assert!(matches!(root.children[0].kind, NodeKind::Nursery { cancelled: false }));
///     })
///     .await
///     .unwrap();
/// });
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TreeNode {
    /// What this node is.
    pub kind: NodeKind,
    /// The live nodes nested directly inside it, in the order they entered.
    pub children: Vec<TreeNode>,
}

/// What a [`TreeNode`] stands for.
///
/// # Examples
///
/// ```
/// use trellis::tree::NodeKind;
/// let scope = NodeKind::Scope { deadline: None, shielded: true, cancelled: false };
/// assert!(matches!(scope, NodeKind::Scope { shielded: true, .. }));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum NodeKind {
    /// The future of a `block_on` (`Runtime::block_on`, `trellis::run`, `Handle::block_on`,
    /// `from_thread`): the scopes it entered.
    BlockOn,
    /// A task: a nursery child, or (at the root) a detached task that entered scopes.
    Task(TaskView),
    /// A nursery's own scope; its children are its child tasks and the scopes of its body.
    Nursery {
        /// The nursery's scope is cancelled (by itself, a failure, or an enclosing scope).
        cancelled: bool,
    },
    /// A cancel scope (`CancelScope`, `move_on_after`, `fail_after`, `shielded`, ...).
    Scope {
        /// The time left until its deadline (zero once passed), on the runtime's clock.
        deadline: Option<Duration>,
        /// The scope is shielded from enclosing cancellations.
        shielded: bool,
        /// The scope is cancelled (its own cancel or deadline, or an enclosing one not
        /// shielded off).
        cancelled: bool,
    },
}

/// A task in a [`TaskTree`].
///
/// # Examples
///
/// ```
/// use trellis::tree::{NodeKind, TaskState};
/// use trellis::sync::Event;
///
/// let rt = trellis::Runtime::builder().workers(2).start_paused(true).task_tree(true).build().unwrap();
/// rt.block_on(async {
///     let never = std::sync::Arc::new(Event::new());
///     trellis::nursery(async |n| {
///         let wait = never.clone();
///         n.start_soon_named("parked", async move { wait.wait().await });
///         trellis::testing::wait_all_tasks_blocked().await;
///         let tree = trellis::tree::dump().unwrap();
///         let NodeKind::Task(task) = &tree.find_task("parked").unwrap().kind else { panic!() };
///         assert_eq!(task.state, Some(TaskState::Idle));
///         assert_eq!(task.domain, None); // stealable: any domain runs it
///         n.cancel();
///     })
///     .await
///     .unwrap();
/// });
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TaskView {
    /// Its id (as instruments see it); `None` for a nursery child not polled yet.
    pub id: Option<TaskId>,
    /// The name given with `TaskBuilder::name` or `start_soon_named`.
    pub name: Option<Arc<str>>,
    /// Its state, from the task's state word; `None` where it is not tracked (a root task, a
    /// child not polled yet).
    pub state: Option<TaskState>,
    /// The home domain of a pinned task (`start_soon_on`, `start_soon_local`); `None` for a
    /// stealable task, which any domain may run.
    pub domain: Option<DomainId>,
    /// The task's scope is cancelled (it stops at its next checkpoint).
    pub cancelled: bool,
}

/// A task's scheduling state, as its state word tells it.
///
/// # Examples
///
/// ```
/// assert_eq!(trellis::tree::TaskState::Idle.to_string(), "idle");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TaskState {
    /// Waiting for a wake-up (parked on an event, a channel, a timer...).
    Idle,
    /// Woken, queued to run.
    Scheduled,
    /// Being polled on some worker right now.
    Running,
    /// Finished; about to leave the tree.
    Completed,
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TaskState::Idle => "idle",
            TaskState::Scheduled => "scheduled",
            TaskState::Running => "running",
            TaskState::Completed => "completed",
        })
    }
}

/// The runtime does not record its task tree: build it with
/// [`Builder::task_tree(true)`](crate::Builder::task_tree).
///
/// # Examples
///
/// ```
/// let rt = trellis::Runtime::builder().workers(1).build().unwrap();
/// let err = rt.handle().task_tree().unwrap_err();
/// assert!(err.to_string().contains("task_tree(true)"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeOff;

impl fmt::Display for TreeOff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "this runtime does not record its task tree: build it with \
             `Runtime::builder().task_tree(true)` to dump it",
        )
    }
}

impl std::error::Error for TreeOff {}

impl TaskTree {
    /// Every node, depth first, with its depth (roots at 0).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = trellis::Runtime::builder().workers(1).task_tree(true).build().unwrap();
    /// rt.block_on(async {
    ///     trellis::nursery(async |_n| {
    ///         let tree = trellis::tree::dump().unwrap();
    ///         let depths: Vec<usize> = tree.nodes().iter().map(|(d, _)| *d).collect();
    ///         assert_eq!(depths, [0, 1]);
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    pub fn nodes(&self) -> Vec<(usize, &TreeNode)> {
        let mut out = Vec::new();
        for root in &self.roots {
            root.collect(0, &mut out);
        }
        out
    }

    /// The first task named `name`, depth first.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = trellis::Runtime::builder().workers(1).task_tree(true).build().unwrap();
    /// let tree = rt.handle().task_tree().unwrap();
    /// assert!(tree.find_task("nobody").is_none());
    /// ```
    pub fn find_task(&self, name: &str) -> Option<&TreeNode> {
        self.roots.iter().find_map(|root| root.find_task(name))
    }
}

impl TreeNode {
    /// The first task named `name` in this subtree (this node included), depth first.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = trellis::Runtime::builder().workers(1).start_paused(true).task_tree(true).build().unwrap();
    /// rt.block_on(async {
    ///     trellis::nursery(async |n| {
    ///         n.start_soon_named("child", async { trellis::checkpoint().await });
    ///         trellis::testing::wait_all_tasks_blocked().await;
    ///         # let _ = n;
    ///     })
    ///     .await
    ///     .unwrap();
    ///     // The child completed: it left the tree.
    ///     assert!(trellis::tree::dump().unwrap().find_task("child").is_none());
    /// });
    /// ```
    pub fn find_task(&self, name: &str) -> Option<&TreeNode> {
        if self.task().and_then(|t| t.name.as_deref()) == Some(name) {
            return Some(self);
        }
        self.children.iter().find_map(|c| c.find_task(name))
    }

    /// The task this node stands for, if it is one.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = trellis::Runtime::builder().workers(1).task_tree(true).build().unwrap();
    /// rt.block_on(async {
    ///     trellis::nursery(async |_n| {
    ///         let tree = trellis::tree::dump().unwrap();
    ///         assert!(tree.roots[0].task().is_none()); // block_on is no task
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// ```
    pub fn task(&self) -> Option<&TaskView> {
        match &self.kind {
            NodeKind::Task(task) => Some(task),
            _ => None,
        }
    }

    fn collect<'a>(&'a self, depth: usize, out: &mut Vec<(usize, &'a TreeNode)>) {
        out.push((depth, self));
        for child in &self.children {
            child.collect(depth + 1, out);
        }
    }

    fn render(
        &self,
        f: &mut fmt::Formatter<'_>,
        lead: &mut String,
        last: bool,
        root: bool,
    ) -> fmt::Result {
        if root {
            writeln!(f, "{}", self.kind)?;
        } else {
            writeln!(f, "{lead}{}{}", if last { "└─ " } else { "├─ " }, self.kind)?;
        }
        let len = lead.len();
        if !root {
            lead.push_str(if last { "   " } else { "│  " });
        }
        for (i, child) in self.children.iter().enumerate() {
            child.render(f, lead, i + 1 == self.children.len(), false)?;
        }
        lead.truncate(len);
        Ok(())
    }
}

impl fmt::Display for TaskTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.roots.is_empty() {
            return writeln!(f, "(no live scopes)");
        }
        let mut lead = String::new();
        for root in &self.roots {
            root.render(f, &mut lead, true, true)?;
        }
        Ok(())
    }
}

impl fmt::Display for NodeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeKind::BlockOn => f.write_str("block_on"),
            NodeKind::Task(task) => {
                f.write_str("task")?;
                if let Some(name) = &task.name {
                    write!(f, " {name:?}")?;
                }
                let Some(id) = task.id else {
                    return f.write_str(" (not polled yet)");
                };
                write!(f, " #{:x} [", id.addr())?;
                if let Some(state) = task.state {
                    write!(f, "{state}, ")?;
                }
                match task.domain {
                    Some(domain) => write!(f, "domain {}", domain.index())?,
                    None => f.write_str("any domain")?,
                }
                if task.cancelled {
                    f.write_str(", cancelled")?;
                }
                f.write_str("]")
            }
            NodeKind::Nursery { cancelled } => {
                f.write_str("nursery")?;
                if *cancelled {
                    f.write_str(" [cancelled]")?;
                }
                Ok(())
            }
            NodeKind::Scope {
                deadline,
                shielded,
                cancelled,
            } => {
                f.write_str("cancel scope")?;
                let mut flags = Vec::new();
                match deadline {
                    Some(left) if left.is_zero() => flags.push("deadline passed".to_owned()),
                    Some(left) => flags.push(format!("deadline in {left:.3?}")),
                    None => {}
                }
                if *shielded {
                    flags.push("shielded".to_owned());
                }
                if *cancelled {
                    flags.push("cancelled".to_owned());
                }
                if !flags.is_empty() {
                    write!(f, " [{}]", flags.join(", "))?;
                }
                Ok(())
            }
        }
    }
}
