//! The live task tree (`trellis::tree`): nurseries nested across domains, cancel scopes with
//! deadlines and shields, named children with their states and domains; completed children
//! leave it; it can be dumped from a task, from a plain thread through a `Handle`, and from
//! inside an instrument hook.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::Watchdog;
use trellis::sync::Event;
use trellis::testing::wait_all_tasks_blocked;
use trellis::tree::{NodeKind, TaskState, TaskTree, TreeNode, TreeOff};
use trellis::{CancelScope, DomainId, Handle, Instrument, TaskBuilder, TaskInfo};

/// A two-worker runtime with a paused clock (deadlines stay put while nothing sleeps) that
/// records its task tree.
fn tree_rt() -> trellis::Runtime {
    support::build(support::builder(2).start_paused(true).task_tree(true))
}

fn task_named<'a>(tree: &'a TaskTree, name: &str) -> &'a TreeNode {
    tree.find_task(name)
        .unwrap_or_else(|| panic!("no task {name:?} in the tree:\n{tree}"))
}

/// The names of the tasks directly below `node`, sorted (children enter in the order their
/// nodes were made: a pinned child's on its domain, so after its stealable siblings may).
fn names(node: &TreeNode) -> Vec<String> {
    let mut names: Vec<String> = node
        .children
        .iter()
        .filter_map(|c| c.task()?.name.as_deref().map(str::to_owned))
        .collect();
    names.sort();
    names
}

#[test]
fn nested_nurseries_across_domains_show_names_states_domains_and_scopes() {
    let _w = Watchdog::new("nested_nurseries_across_domains_show_names_states_domains_and_scopes");
    let rt = tree_rt();
    rt.block_on(async {
        let leaf_go = Arc::new(Event::new());
        let rest_go = Arc::new(Event::new());
        trellis::nursery(async |outer| {
            let (leaf, rest) = (leaf_go.clone(), rest_go.clone());
            outer.start_soon_named("owner", async move {
                trellis::nursery(async |inner| {
                    let go = leaf.clone();
                    inner.start_soon_named("leaf", async move { go.wait().await });
                    let go = rest.clone();
                    inner.start_soon_on_named("pinned", DomainId::new(1), move || async move {
                        go.wait().await
                    });
                    let go = rest.clone();
                    inner.start_soon_named("guarded", async move {
                        let outer_scope = CancelScope::new();
                        let outer_handle = outer_scope.handle();
                        outer_scope
                            .run(async move {
                                outer_handle.cancel(); // the shield below holds it off
                                CancelScope::new()
                                    .shield(true)
                                    .timeout(Duration::from_secs(10))
                                    .run(go.wait())
                                    .await
                            })
                            .await;
                    });
                })
                .await
                .unwrap();
            });
            wait_all_tasks_blocked().await;

            let tree = trellis::tree::dump().unwrap();
            assert_eq!(tree.roots.len(), 1, "{tree}");
            let root = &tree.roots[0];
            assert_eq!(root.kind, NodeKind::BlockOn);
            assert_eq!(root.children.len(), 1, "{tree}");
            let outer_n = &root.children[0];
            assert_eq!(outer_n.kind, NodeKind::Nursery { cancelled: false });
            assert_eq!(names(outer_n), ["owner"]);

            let owner = &outer_n.children[0];
            let owner_task = owner.task().unwrap();
            assert_eq!(owner_task.state, Some(TaskState::Idle));
            assert_eq!(owner_task.domain, None);
            assert!(owner_task.id.is_some());
            assert_eq!(owner.children.len(), 1, "{tree}");
            let inner_n = &owner.children[0];
            assert_eq!(inner_n.kind, NodeKind::Nursery { cancelled: false });
            assert_eq!(names(inner_n), ["guarded", "leaf", "pinned"]);

            let leaf = task_named(&tree, "leaf").task().unwrap();
            assert_eq!(leaf.state, Some(TaskState::Idle));
            assert_eq!(leaf.domain, None);
            assert!(!leaf.cancelled);
            let pinned = task_named(&tree, "pinned").task().unwrap();
            assert_eq!(pinned.state, Some(TaskState::Idle));
            assert_eq!(pinned.domain, Some(DomainId::new(1)));

            let guarded = task_named(&tree, "guarded");
            assert!(!guarded.task().unwrap().cancelled);
            assert_eq!(guarded.children.len(), 1, "{tree}");
            let cancelled_scope = &guarded.children[0];
            assert_eq!(
                cancelled_scope.kind,
                NodeKind::Scope {
                    deadline: None,
                    shielded: false,
                    cancelled: true
                }
            );
            assert_eq!(
                cancelled_scope.children[0].kind,
                NodeKind::Scope {
                    deadline: Some(Duration::from_secs(10)), // the paused clock did not move
                    shielded: true,
                    cancelled: false
                }
            );

            // The text form shows the same structure.
            let text = tree.to_string();
            for needle in [
                "block_on\n└─ nursery\n   └─ task \"owner\" #",
                "      └─ nursery\n",
                "task \"leaf\" #",
                "[idle, any domain]",
                "task \"pinned\" #",
                "[idle, domain 1]",
                "cancel scope [cancelled]\n",
                "cancel scope [deadline in 10.000s, shielded]\n",
            ] {
                assert!(text.contains(needle), "{needle:?} not in:\n{text}");
            }

            // A completed child leaves the tree; its siblings stay.
            leaf_go.set();
            wait_all_tasks_blocked().await;
            let tree = trellis::tree::dump().unwrap();
            assert!(tree.find_task("leaf").is_none(), "{tree}");
            let inner_n = &task_named(&tree, "owner").children[0];
            assert_eq!(names(inner_n), ["guarded", "pinned"]);

            rest_go.set();
        })
        .await
        .unwrap();
        // Everything finished: only what is still open is shown, and nothing is.
        let tree = trellis::tree::dump().unwrap();
        assert!(tree.roots.is_empty(), "{tree}");
        assert_eq!(tree.to_string(), "(no live scopes)\n");
    });
}

#[test]
fn a_cancelled_nursery_marks_its_children_cancelled() {
    let _w = Watchdog::new("a_cancelled_nursery_marks_its_children_cancelled");
    let rt = tree_rt();
    rt.block_on(async {
        trellis::nursery(async |n| {
            n.start_soon_named("stubborn", async {
                // Shielded: it sees no cancellation and keeps waiting until told.
                trellis::shielded(async {
                    let _ = trellis::time::sleep(Duration::from_secs(3600)).await;
                })
                .await;
            });
            wait_all_tasks_blocked().await;
            n.cancel();
            let tree = trellis::tree::dump().unwrap();
            let nursery = &tree.roots[0].children[0];
            assert_eq!(
                nursery.kind,
                NodeKind::Nursery { cancelled: true },
                "{tree}"
            );
            let stubborn = task_named(&tree, "stubborn");
            assert!(stubborn.task().unwrap().cancelled, "{tree}");
            assert!(
                matches!(
                    stubborn.children[0].kind,
                    NodeKind::Scope {
                        shielded: true,
                        cancelled: false,
                        ..
                    }
                ),
                "{tree}"
            );
            assert!(tree.to_string().contains("nursery [cancelled]"), "{tree}");
        })
        .await
        .unwrap();
    });
}

#[test]
fn dump_from_a_plain_thread_through_a_handle_shows_detached_tasks_as_roots() {
    let _w =
        Watchdog::new("dump_from_a_plain_thread_through_a_handle_shows_detached_tasks_as_roots");
    let rt = support::build(support::builder(2).task_tree(true));
    let go = Arc::new(Event::new());
    let wait = go.clone();
    #[allow(clippy::async_yields_async)] // spawned inside the runtime, joined outside
    let task = rt.block_on(async {
        TaskBuilder::new().name("detached").spawn(async move {
            trellis::nursery(async |n| {
                n.start_soon_named("child", async move { wait.wait().await });
            })
            .await
            .unwrap();
        })
    });
    let handle: Handle = rt.handle();
    let tree = std::thread::spawn(move || {
        // Wait for the outcome (the child parked), not for a time.
        let mut tree = handle.task_tree().unwrap();
        assert!(support::wait_until(Duration::from_secs(30), || {
            tree = handle.task_tree().unwrap();
            tree.find_task("child")
                .and_then(|c| c.task()?.state)
                .is_some_and(|s| s == TaskState::Idle)
        }));
        tree
    })
    .join()
    .unwrap();
    assert_eq!(tree.roots.len(), 1, "{tree}");
    let root = tree.roots[0].task().expect("a detached task is a root");
    assert_eq!(root.name.as_deref(), Some("detached"));
    assert!(root.id.is_some());
    assert_eq!(root.state, None); // a root task's state is not tracked
    assert!(matches!(
        tree.roots[0].children[0].kind,
        NodeKind::Nursery { .. }
    ));
    assert!(
        tree.to_string().starts_with("task \"detached\" #"),
        "{tree}"
    );
    go.set();
    rt.block_on(task).unwrap();
    let tree = rt.handle().task_tree().unwrap();
    assert!(tree.roots.is_empty(), "{tree}");
}

/// Dumps the tree from every hook it gets, counting the dumps and remembering what it saw
/// of the task being polled.
#[derive(Default)]
struct Dumper {
    handle: Mutex<Option<Handle>>,
    dumps: AtomicUsize,
    saw_running_leaf: AtomicUsize,
}

impl Dumper {
    fn dump(&self, during_poll_of: Option<&TaskInfo<'_>>) {
        let Some(handle) = self.handle.lock().unwrap().clone() else {
            return;
        };
        let Ok(tree) = handle.task_tree() else { return };
        let _ = tree.to_string();
        self.dumps.fetch_add(1, Ordering::SeqCst);
        if let Some(task) = during_poll_of.filter(|t| t.name() == Some("leaf")) {
            let seen = tree.find_task("leaf").and_then(|n| n.task().cloned());
            if seen.is_some_and(|v| v.id == Some(task.id()) && v.state == Some(TaskState::Running))
            {
                self.saw_running_leaf.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

impl Instrument for Dumper {
    fn task_spawned(&self, _task: &TaskInfo<'_>) {
        self.dump(None);
    }
    fn task_scheduled(&self, _task: &TaskInfo<'_>) {
        self.dump(None);
    }
    fn before_task_poll(&self, task: &TaskInfo<'_>) {
        // A hook on a worker may use the free function too.
        if Handle::try_current().is_some() {
            let _ = trellis::tree::dump();
        }
        self.dump(Some(task));
    }
    fn after_task_poll(&self, _task: &TaskInfo<'_>) {
        self.dump(None);
    }
    fn task_exited(&self, _task: &TaskInfo<'_>) {
        self.dump(None);
    }
}

#[test]
fn dumping_inside_instrument_hooks_does_not_deadlock() {
    let _w = Watchdog::new("dumping_inside_instrument_hooks_does_not_deadlock");
    let dumper = Arc::new(Dumper::default());
    let rt = support::build(
        support::builder(2)
            .task_tree(true)
            .instrument(dumper.clone()),
    );
    *dumper.handle.lock().unwrap() = Some(rt.handle());
    rt.block_on(async {
        for round in 0..20 {
            let go = Arc::new(Event::new());
            trellis::nursery(async |n| {
                for i in 0..4 {
                    let first = go.clone();
                    n.start_soon_named("leaf", async move {
                        first.wait().await;
                        trellis::yield_now().await;
                    });
                    let go = go.clone();
                    n.start_soon_on(DomainId::new(i % 2), move || async move { go.wait().await });
                }
                trellis::move_on_after(Duration::from_millis(round % 3), async {
                    trellis::yield_now().await;
                })
                .await;
                go.set();
            })
            .await
            .unwrap();
        }
    });
    *dumper.handle.lock().unwrap() = None; // the handle must not outlive the runtime's use
    assert!(dumper.dumps.load(Ordering::SeqCst) > 100);
    assert!(dumper.saw_running_leaf.load(Ordering::SeqCst) > 0);
}

#[test]
fn a_runtime_without_the_tree_says_how_to_turn_it_on() {
    let _w = Watchdog::new("a_runtime_without_the_tree_says_how_to_turn_it_on");
    let rt = support::rt(1);
    assert_eq!(rt.handle().task_tree(), Err(TreeOff));
    let err = rt.block_on(async { trellis::tree::dump() }).unwrap_err();
    assert!(err.to_string().contains("task_tree(true)"), "{err}");
}
