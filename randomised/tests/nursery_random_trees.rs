//! Randomised structure: proptest builds random trees of nurseries, cancel scopes (shielded or
//! not, with or without a deadline, absolute or as a relative timeout) and child tasks (stealable, pinned to a domain, or local),
//! whose tasks sleep on the paused clock, send and receive on channels, fail, panic, cancel an
//! enclosing scope or move its deadline, hang, `start` children that call `started` or fail first, and enter a
//! further scope or nursery later (right after cancelling an enclosing scope, often: so
//! shielded scopes are entered inside cancelled ones, and `start` is called in a cancelled
//! nursery, where it starts nothing). An
//! interpreter runs each tree on a paused-clock runtime of 1 or 2 workers in chaos mode (seed
//! from the case), and an oracle computes the expected outcome from the tree alone. Every case
//! checks the rules of ARCHITECTURE.md section 5 (G1, G2, G4-G11) and I3:
//!
//! - no child runs, and no future is dropped, after its nursery returned (each nursery sets a
//!   "closed" flag when it returns; every node checks its nurseries' flags at each step and when
//!   it is dropped);
//! - every failure is reported exactly once, by the nursery the oracle names, in completion
//!   order (the whole failure tree, nested nursery errors included, must equal the oracle's);
//! - every future is dropped exactly once (drop counters per node; never-created ones zero);
//! - pinned futures are polled and dropped only on their home domain's thread;
//! - the outermost cancelled scope catches (`cancelled_caught` of every scope equals the
//!   oracle's), and a shielded scope's own deadline fires (shielded scopes always have one);
//! - exactly the actions the oracle expects ran (so deadlines fired, cancellations landed and
//!   `start` returned what it should), and `start` returned the oracle's outcome.
//!
//! # Keeping the oracle simple
//!
//! Every timed event is at its own absolute instant: action `uid` of a task runs at
//! `slot * SLOT + 2 * uid + 1` ms (odd), and a scope's deadline at `slot * SLOT + 2 * uid`
//! (even), each event with a uid of its own, so no two events of the tree tie, and the paused
//! clock makes the order of instants exact. Within one instant the outcome follows causally
//! from the one event at that instant. Further restrictions: structure is entered at time 0,
//! or by a task right after its last action, with all its own events in later slots; a
//! nursery body first spawns its children, then awaits its `start` calls (whose "started or
//! failed" events come first, in order), then runs its own actions (a slot later); a channel's
//! sender stays alive to the end (a receive ends only by a value or by cancellation); a
//! shielded scope has a deadline, and the root scope's deadline bounds everything, so no case
//! hangs; every structural node ends with a checkpoint when it finished cleanly (so a
//! cancelled scope around it catches there, as in Trio).
//!
//! Fixed seeds: `cargo test` runs [`DEFAULT_CASES`] cases from a fixed RNG seed, with no
//! failure persistence; `PROPTEST_CASES=N` runs N, `PROPTEST_RNG_SEED=S` another seed.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, Once, OnceLock};
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use trellis::channel::{self, Receiver, Sender};
use trellis::time::{Instant, sleep_until};
use trellis::{
    CancelHandle, CancelScope, DomainId, NotStarted, Nursery, NurseryError, NurseryHandle,
    TaskFailure, TaskStatus,
};

/// Cases in a plain `cargo test`.
const DEFAULT_CASES: u32 = 64;
/// The fixed RNG seed of a plain `cargo test`.
const DEFAULT_SEED: u64 = 20_261_202;
/// One time slot, in ms of virtual time.
const SLOT: u64 = 10_000;
/// The slots generated for task actions (`0..ACTION_SLOTS`) and deadlines (`1..=ACTION_SLOTS`);
/// a node entered by a `Seq` moves its events to later slots.
const ACTION_SLOTS: u8 = 10;
/// The root scope's deadline, in slots: it bounds every case.
const ROOT_DEADLINE_SLOTS: u64 = 20;
/// How long (real time) one case may take before it counts as a hang.
const CASE_LIMIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// The generated tree.

#[derive(Clone, Debug)]
enum G {
    Task(GTask),
    Scope {
        shield: bool,
        deadline: Option<u8>,
        inner: Box<G>,
    },
    Nursery {
        body: GTask,
        children: Vec<(Spawn, G)>,
        starts: Vec<GStart>,
    },
    /// A task that runs its actions, then enters `then` at once (no checkpoint between): after
    /// a `Cancel` as the last action, `then` is entered inside a cancelled scope.
    Seq {
        acts: Vec<(u8, GAct)>,
        then: Box<G>,
    },
}

#[derive(Clone, Debug)]
struct GTask {
    acts: Vec<(u8, GAct)>,
    term: (u8, GTerm),
}

#[derive(Clone, Copy, Debug)]
enum GAct {
    Nothing,
    /// Cancel the k-th enclosing scope or nursery (innermost first, modulo their number).
    Cancel(u8),
    Send,
    /// Move the deadline of the k-th enclosing cancel scope to (at least the slot after this
    /// action) slot `s`.
    Move(u8, u8),
}

#[derive(Clone, Copy, Debug)]
enum GTerm {
    Ok,
    Fail,
    Panic,
    Hang,
    Recv,
}

#[derive(Clone, Debug)]
struct GStart {
    first: StartFirst,
    rest: GTask,
}

/// What a `start`ed child does first (in slot 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StartFirst {
    Started,
    Fail,
    Panic,
    /// Returns `Ok` without calling `started`.
    NotStarted,
}

#[derive(Clone, Copy, Debug)]
enum Spawn {
    Send,
    /// Pinned to domain `d % workers`.
    On(u8),
    Local,
}

fn g_act() -> impl Strategy<Value = GAct> {
    prop_oneof![
        4 => Just(GAct::Nothing),
        1 => any::<u8>().prop_map(GAct::Cancel),
        2 => Just(GAct::Send),
        1 => (any::<u8>(), 1..=ACTION_SLOTS).prop_map(|(k, s)| GAct::Move(k, s)),
    ]
}

fn g_task() -> impl Strategy<Value = GTask> {
    let act = g_act();
    let term = prop_oneof![
        4 => Just(GTerm::Ok),
        1 => Just(GTerm::Fail),
        1 => Just(GTerm::Panic),
        1 => Just(GTerm::Hang),
        2 => Just(GTerm::Recv),
    ];
    (
        proptest::collection::vec((0..ACTION_SLOTS, act), 0..=3),
        (0..ACTION_SLOTS, term),
    )
        .prop_map(|(acts, term)| GTask { acts, term })
}

fn g_start() -> impl Strategy<Value = GStart> {
    let first = prop_oneof![
        3 => Just(StartFirst::Started),
        1 => Just(StartFirst::Fail),
        1 => Just(StartFirst::Panic),
        1 => Just(StartFirst::NotStarted),
    ];
    (first, g_task()).prop_map(|(first, rest)| GStart { first, rest })
}

fn g_spawn() -> impl Strategy<Value = Spawn> {
    prop_oneof![
        3 => Just(Spawn::Send),
        1 => any::<u8>().prop_map(Spawn::On),
        1 => Just(Spawn::Local),
    ]
}

/// A tree of depth at most 4 (below the root scope) and fan-out at most 4 (children plus
/// `start` calls): a nursery on top, whose children are random subtrees.
fn g_tree() -> impl Strategy<Value = G> {
    let subtree = g_task()
        .prop_map(G::Task)
        .prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                (
                    any::<bool>(),
                    proptest::option::of(1..=ACTION_SLOTS),
                    1..=ACTION_SLOTS,
                    inner.clone()
                )
                    .prop_map(|(shield, deadline, forced, inner)| G::Scope {
                        shield,
                        // A shielded scope always has a deadline (else a hang inside never ends).
                        deadline: if shield {
                            Some(deadline.unwrap_or(forced))
                        } else {
                            deadline
                        },
                        inner: Box::new(inner),
                    }),
                g_nursery(inner.clone(), 0),
                (
                    proptest::collection::vec((0..ACTION_SLOTS, g_act()), 1..=3),
                    proptest::option::of(any::<u8>()),
                    inner
                )
                    .prop_map(|(mut acts, cancel_last, then)| {
                        // Often cancel an enclosing scope right before entering `then`.
                        if let Some(k) = cancel_last {
                            acts.sort_by_key(|a| a.0);
                            acts.last_mut().unwrap().1 = GAct::Cancel(k);
                        }
                        G::Seq {
                            acts,
                            then: Box::new(then),
                        }
                    }),
            ]
        });
    g_nursery(subtree.boxed(), 1)
}

/// A nursery with at least `min_children` children from `child` and at most 4 children and
/// `start` calls in all.
fn g_nursery(child: BoxedStrategy<G>, min_children: usize) -> impl Strategy<Value = G> {
    (
        g_task(),
        proptest::collection::vec((g_spawn(), child), min_children..=3),
        proptest::collection::vec(g_start(), 0..=1),
    )
        .prop_map(|(body, children, starts)| G::Nursery {
            body,
            children,
            starts,
        })
}

// ---------------------------------------------------------------------------------------------
// The flattened tree both the interpreter and the oracle read.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Act {
    Nothing,
    Cancel(u8),
    Send(usize),
    /// `set_deadline` of the k-th enclosing cancel scope, to this many ms after the origin.
    Move(u8, u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Term {
    Ok,
    Fail,
    Panic,
    Hang,
    Recv(usize),
}

/// One timed step: at `at` ms after the origin, event `uid`.
#[derive(Clone, Copy, Debug)]
struct Step<K> {
    at: u64,
    uid: u32,
    what: K,
}

#[derive(Clone, Debug)]
struct Leaf {
    first: Option<Step<StartFirst>>,
    acts: Vec<Step<Act>>,
    term: Step<Term>,
    /// A `Seq`: the node entered after the actions, instead of `term`.
    then: Option<usize>,
}

#[derive(Clone, Debug)]
enum Kind {
    Scope {
        shield: bool,
        deadline: Option<u64>,
        /// Set as a relative timeout (from entry) rather than an absolute deadline.
        relative: bool,
        inner: usize,
    },
    Nursery {
        body: usize,
        children: Vec<(Spawn, usize)>,
        starts: Vec<usize>,
    },
    Leaf(Leaf),
}

#[derive(Clone, Debug)]
struct Node {
    parent: Option<usize>,
    kind: Kind,
}

#[derive(Clone, Debug)]
struct Tree {
    nodes: Vec<Node>,
    channels: usize,
}

impl Tree {
    /// The root scope (node 0, deadline [`ROOT_DEADLINE_SLOTS`]) around `g`.
    fn new(g: &G) -> Tree {
        let mut b = Flatten {
            nodes: Vec::new(),
            uid: 0,
        };
        b.nodes.push(Node {
            parent: None,
            kind: Kind::Leaf(Leaf {
                first: None,
                acts: Vec::new(),
                term: step(0, 0, Term::Ok),
                then: None,
            }),
        });
        let inner = b.node(g, 0, 0);
        b.nodes[0].kind = Kind::Scope {
            shield: false,
            deadline: Some(ROOT_DEADLINE_SLOTS * SLOT),
            relative: false,
            inner,
        };
        let mut tree = Tree {
            nodes: b.nodes,
            channels: 0,
        };
        tree.pair_channels();
        tree
    }

    fn leaf(&self, n: usize) -> &Leaf {
        match &self.nodes[n].kind {
            Kind::Leaf(leaf) => leaf,
            _ => unreachable!("node {n} is no leaf"),
        }
    }

    /// Pairs each receive with an earlier-listed unused send of another task; unpaired sends
    /// do nothing and unpaired receives return at once.
    fn pair_channels(&mut self) {
        let mut sends = Vec::new();
        let mut recvs = Vec::new();
        for (n, node) in self.nodes.iter().enumerate() {
            if let Kind::Leaf(leaf) = &node.kind {
                for (i, a) in leaf.acts.iter().enumerate() {
                    if matches!(a.what, Act::Send(_)) {
                        sends.push((n, i));
                    }
                }
                if matches!(leaf.term.what, Term::Recv(_)) {
                    recvs.push(n);
                }
            }
        }
        let mut used = vec![false; sends.len()];
        let mut channel = 0;
        let mut pairs = Vec::new();
        for r in recvs {
            if let Some(s) = (0..sends.len()).find(|&s| !used[s] && sends[s].0 != r) {
                used[s] = true;
                pairs.push((sends[s], r, channel));
                channel += 1;
            } else {
                self.leaf_mut(r).term.what = Term::Ok;
            }
        }
        for (s, &(n, i)) in sends.iter().enumerate() {
            if !used[s] {
                self.leaf_mut(n).acts[i].what = Act::Nothing;
            }
        }
        for ((n, i), r, c) in pairs {
            self.leaf_mut(n).acts[i].what = Act::Send(c);
            self.leaf_mut(r).term.what = Term::Recv(c);
        }
        self.channels = channel;
    }

    fn leaf_mut(&mut self, n: usize) -> &mut Leaf {
        match &mut self.nodes[n].kind {
            Kind::Leaf(leaf) => leaf,
            _ => unreachable!(),
        }
    }

    /// The scopes and nurseries enclosing node `n`, innermost first (what `Cancel(k)` picks
    /// from).
    fn chain(&self, n: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut at = self.nodes[n].parent;
        while let Some(p) = at {
            if !matches!(self.nodes[p].kind, Kind::Leaf(_)) {
                out.push(p);
            }
            at = self.nodes[p].parent;
        }
        out
    }
}

fn step<K>(slot: u64, uid: u32, what: K) -> Step<K> {
    Step {
        at: slot * SLOT + 2 * u64::from(uid) + 1,
        uid,
        what,
    }
}

struct Flatten {
    nodes: Vec<Node>,
    uid: u32,
}

impl Flatten {
    fn push(&mut self, parent: usize, kind: Kind) -> usize {
        self.nodes.push(Node {
            parent: Some(parent),
            kind,
        });
        self.nodes.len() - 1
    }

    fn next_uid(&mut self) -> u32 {
        self.uid += 1;
        assert!(
            u64::from(self.uid) * 2 + 1 < SLOT,
            "too many events for one slot"
        );
        self.uid
    }

    /// Flattens `g` under `parent`; its events fall in slot `min_slot` or later.
    fn node(&mut self, g: &G, parent: usize, min_slot: u8) -> usize {
        match g {
            G::Task(t) => {
                let leaf = self.leaf(t, None, min_slot);
                self.push(parent, Kind::Leaf(leaf))
            }
            G::Seq { acts, then } => {
                let task = GTask {
                    acts: acts.clone(),
                    term: (0, GTerm::Ok),
                };
                let leaf = self.leaf(&task, None, min_slot);
                let entry_slot = leaf
                    .acts
                    .last()
                    .map_or(min_slot, |a| (a.at / SLOT) as u8 + 1);
                let me = self.push(parent, Kind::Leaf(leaf));
                let then = self.node(then, me, entry_slot);
                if let Kind::Leaf(leaf) = &mut self.nodes[me].kind {
                    leaf.then = Some(then);
                }
                me
            }
            G::Scope {
                shield,
                deadline,
                inner,
            } => {
                let deadline = deadline
                    .map(|d| u64::from(d.max(min_slot)) * SLOT + 2 * u64::from(self.next_uid()));
                let me = self.push(
                    parent,
                    Kind::Scope {
                        shield: *shield,
                        deadline,
                        // Half the deadlines (those of an even uid) as relative timeouts.
                        relative: deadline.is_some_and(|d| d % 4 == 0),
                        inner: usize::MAX,
                    },
                );
                let i = self.node(inner, me, min_slot);
                if let Kind::Scope { inner, .. } = &mut self.nodes[me].kind {
                    *inner = i;
                }
                me
            }
            G::Nursery {
                body,
                children,
                starts,
            } => {
                let me = self.push(
                    parent,
                    Kind::Nursery {
                        body: usize::MAX,
                        children: Vec::new(),
                        starts: Vec::new(),
                    },
                );
                let kids: Vec<_> = children
                    .iter()
                    .map(|(spawn, c)| (*spawn, self.node(c, me, min_slot)))
                    .collect();
                let st: Vec<_> = starts
                    .iter()
                    .map(|s| {
                        let leaf = self.leaf(&s.rest, Some(s.first), min_slot);
                        self.push(me, Kind::Leaf(leaf))
                    })
                    .collect();
                // The body's actions come after every `start` (the next slot onwards).
                let b = self.leaf(body, None, min_slot + 1);
                let b = self.push(me, Kind::Leaf(b));
                self.nodes[me].kind = Kind::Nursery {
                    body: b,
                    children: kids,
                    starts: st,
                };
                me
            }
        }
    }

    fn leaf(&mut self, t: &GTask, first: Option<StartFirst>, min_slot: u8) -> Leaf {
        let first = first.map(|f| {
            let uid = self.next_uid();
            step(u64::from(min_slot), uid, f)
        });
        let mut acts = t.acts.clone();
        acts.sort_by_key(|a| a.0);
        let mut last = min_slot;
        let acts = acts
            .iter()
            .map(|&(slot, a)| {
                last = last.max(slot);
                let uid = self.next_uid();
                let what = match a {
                    GAct::Nothing => Act::Nothing,
                    GAct::Cancel(k) => Act::Cancel(k),
                    GAct::Send => Act::Send(usize::MAX),
                    GAct::Move(k, s) => {
                        let uid = self.next_uid();
                        let slot = s.max(last + 1);
                        Act::Move(k, u64::from(slot) * SLOT + 2 * u64::from(uid))
                    }
                };
                step(u64::from(last), uid, what)
            })
            .collect();
        let slot = last.max(t.term.0);
        let uid = self.next_uid();
        let what = match t.term.1 {
            GTerm::Ok => Term::Ok,
            GTerm::Fail => Term::Fail,
            GTerm::Panic => Term::Panic,
            GTerm::Hang => Term::Hang,
            GTerm::Recv => Term::Recv(usize::MAX),
        };
        Leaf {
            first,
            acts,
            term: step(u64::from(slot), uid, what),
            then: None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Outcomes, as both sides describe them.

/// A failure: a task's error or panic (by event uid), or a nursery's error (by node) with its
/// failures in completion order.
#[derive(Clone, Debug, PartialEq, Eq)]
enum F {
    Err(u32),
    Panic(u32),
    Nest(usize, Vec<F>),
    /// Something the interpreter did not make (a bug either way).
    Unknown(String),
}

/// What a `start` call returned.
#[derive(Clone, Debug, PartialEq, Eq)]
enum StartOutcome {
    Started(u32),
    Failed(F),
    NotStarted,
}

/// Everything a case is checked on.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    result: Result<(), F>,
    ran: BTreeSet<u32>,
    caught: BTreeMap<usize, bool>,
    starts: BTreeMap<usize, StartOutcome>,
    drops: Vec<usize>,
}

#[derive(Debug)]
struct Boom(F);

impl fmt::Display for Boom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl std::error::Error for Boom {}

fn panic_uid(message: Option<String>) -> F {
    match message.as_deref().and_then(|m| m.strip_prefix("boom ")) {
        Some(uid) => uid
            .parse()
            .map_or_else(|_| F::Unknown(format!("panic {uid}")), F::Panic),
        None => F::Unknown(format!("panic {message:?}")),
    }
}

fn failure(f: &TaskFailure) -> F {
    match f {
        TaskFailure::Error(e) => match e.downcast_ref::<Boom>() {
            Some(b) => b.0.clone(),
            None => F::Unknown(format!("error {e}")),
        },
        TaskFailure::Panic(p) => panic_uid(p.message()),
    }
}

fn nursery_failure(node: usize, e: &NurseryError) -> F {
    F::Nest(node, e.failures().iter().map(failure).collect())
}

// ---------------------------------------------------------------------------------------------
// The oracle: a discrete-event simulation of the tree in virtual time.

#[derive(Clone, Debug, PartialEq, Eq)]
enum End {
    Ok,
    Err(F),
    Dropped,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum St {
    Unborn,
    Alive,
    Ended(End),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wait {
    No,
    Start,
    Recv(usize),
    Hang,
    /// A `Seq` that entered its `then` node: it ends as that node ends.
    Entered,
}

struct Sim<'t> {
    t: &'t Tree,
    st: Vec<St>,
    /// Cancelled by itself: an action, its deadline, a failure inside (nurseries).
    own: Vec<bool>,
    /// A scope's current deadline (moved by `Act::Move`).
    deadline: Vec<Option<u64>>,
    caught: Vec<bool>,
    fails: Vec<Vec<F>>,
    /// A leaf's next phase: 0 is `first` if any, then the actions, then the term.
    pc: Vec<usize>,
    wait: Vec<Wait>,
    /// A nursery's next `start` index.
    next_start: Vec<usize>,
    sent: Vec<bool>,
    ran: BTreeSet<u32>,
    starts: BTreeMap<usize, StartOutcome>,
}

/// A leaf's phase `pc`: its time, uid, and what it is.
enum Phase {
    First(StartFirst),
    Act(Act),
    Term(Term),
}

impl Leaf {
    fn phase(&self, pc: usize) -> (u64, u32, Phase) {
        let pc = match self.first {
            Some(f) if pc == 0 => return (f.at, f.uid, Phase::First(f.what)),
            Some(_) => pc - 1,
            None => pc,
        };
        match self.acts.get(pc) {
            Some(a) => (a.at, a.uid, Phase::Act(a.what)),
            None => (self.term.at, self.term.uid, Phase::Term(self.term.what)),
        }
    }
}

impl<'t> Sim<'t> {
    fn run(t: &'t Tree) -> Result<Outcome, String> {
        let n = t.nodes.len();
        let mut sim = Sim {
            t,
            st: vec![St::Unborn; n],
            own: vec![false; n],
            deadline: t
                .nodes
                .iter()
                .map(|node| match node.kind {
                    Kind::Scope { deadline, .. } => deadline,
                    _ => None,
                })
                .collect(),
            caught: vec![false; n],
            fails: vec![Vec::new(); n],
            pc: vec![0; n],
            wait: vec![Wait::No; n],
            next_start: vec![0; n],
            sent: vec![false; t.channels],
            ran: BTreeSet::new(),
            starts: BTreeMap::new(),
        };
        sim.birth(0);
        loop {
            sim.settle();
            if let St::Ended(end) = &sim.st[0] {
                let result = match end {
                    End::Ok => Ok(()),
                    End::Err(f) => Err(f.clone()),
                    End::Dropped => return Err("oracle: the root was dropped".into()),
                };
                let caught = (0..n)
                    .filter(|&i| matches!(t.nodes[i].kind, Kind::Scope { .. }))
                    .filter(|&i| sim.st[i] != St::Unborn)
                    .map(|i| (i, sim.caught[i]))
                    .collect();
                let drops = (0..n)
                    .map(|i| usize::from(sim.st[i] != St::Unborn))
                    .collect();
                return Ok(Outcome {
                    result,
                    ran: sim.ran,
                    caught,
                    starts: sim.starts,
                    drops,
                });
            }
            let Some((_, node)) = sim.next_event() else {
                return Err("oracle: nothing left to happen, yet the root runs".into());
            };
            sim.fire(node);
        }
    }

    fn alive(&self, n: usize) -> bool {
        self.st[n] == St::Alive
    }

    fn birth(&mut self, n: usize) {
        self.st[n] = St::Alive;
        match &self.t.nodes[n].kind {
            Kind::Scope { inner, .. } => self.birth(*inner),
            Kind::Nursery {
                body,
                children,
                starts,
            } => {
                for &(_, c) in children {
                    self.birth(c);
                }
                self.birth(*body);
                if let Some(&s) = starts.first() {
                    self.wait[*body] = Wait::Start;
                    // `start` in a cancelled scope starts nothing (the body is dropped there).
                    if !self.eff(n) {
                        self.birth(s);
                    }
                }
            }
            Kind::Leaf(leaf) => {
                if leaf.first.is_none() && leaf.acts.is_empty() && leaf.then.is_some() {
                    self.enter(n);
                }
            }
        }
    }

    /// A `Seq` leaf's actions are done: it enters its `then` node, with no checkpoint between.
    fn enter(&mut self, n: usize) {
        let Kind::Leaf(leaf) = &self.t.nodes[n].kind else {
            unreachable!()
        };
        self.wait[n] = Wait::Entered;
        self.birth(leaf.then.unwrap());
    }

    /// Whether the scope enclosing node `n`'s code is cancelled.
    fn ctx_cancelled(&self, n: usize) -> bool {
        self.t.nodes[n]
            .parent
            .is_some_and(|p| match self.t.nodes[p].kind {
                // A `Seq`'s node runs in the `Seq` task's scope.
                Kind::Leaf(_) => self.ctx_cancelled(p),
                _ => self.eff(p),
            })
    }

    /// Whether scope-like node `s` is cancelled (own, or inherited unless shielded).
    fn eff(&self, s: usize) -> bool {
        let shield = matches!(self.t.nodes[s].kind, Kind::Scope { shield: true, .. });
        self.own[s] || (!shield && self.ctx_cancelled(s))
    }

    /// The earliest pending event: a leaf's next phase, or a live scope's deadline.
    fn next_event(&self) -> Option<(u64, usize)> {
        let mut best: Option<(u64, usize)> = None;
        for (n, node) in self.t.nodes.iter().enumerate() {
            if !self.alive(n) {
                continue;
            }
            let at = match &node.kind {
                Kind::Leaf(leaf) if self.wait[n] == Wait::No => Some(leaf.phase(self.pc[n]).0),
                Kind::Scope { .. } if !self.own[n] => self.deadline[n],
                _ => None,
            };
            if let Some(at) = at {
                if best.is_none_or(|(b, _)| at < b) {
                    best = Some((at, n));
                }
            }
        }
        best
    }

    fn fire(&mut self, n: usize) {
        let Kind::Leaf(leaf) = &self.t.nodes[n].kind else {
            self.own[n] = true; // a deadline
            return;
        };
        let (_, uid, phase) = leaf.phase(self.pc[n]);
        self.ran.insert(uid);
        self.pc[n] += 1;
        match phase {
            Phase::First(first) => {
                let outcome = match first {
                    StartFirst::Started => StartOutcome::Started(uid),
                    StartFirst::Fail => StartOutcome::Failed(F::Err(uid)),
                    StartFirst::Panic => StartOutcome::Failed(F::Panic(uid)),
                    StartFirst::NotStarted => StartOutcome::NotStarted,
                };
                if first != StartFirst::Started {
                    // Reported to the caller, not the nursery.
                    self.st[n] = St::Ended(End::Ok);
                }
                self.starts.insert(n, outcome);
                self.start_done(self.t.nodes[n].parent.unwrap());
            }
            Phase::Act(Act::Nothing) => {}
            Phase::Act(Act::Cancel(k)) => {
                let chain = self.t.chain(n);
                let target = chain[usize::from(k) % chain.len()];
                if self.alive(target) {
                    self.own[target] = true;
                }
            }
            Phase::Act(Act::Move(k, at)) => {
                let scopes: Vec<_> = (self.t.chain(n).into_iter())
                    .filter(|&s| matches!(self.t.nodes[s].kind, Kind::Scope { .. }))
                    .collect();
                let target = scopes[usize::from(k) % scopes.len()];
                if self.alive(target) {
                    self.deadline[target] = Some(at);
                }
            }
            Phase::Act(Act::Send(c)) => {
                self.sent[c] = true;
                for r in 0..self.t.nodes.len() {
                    if self.alive(r) && self.wait[r] == Wait::Recv(c) {
                        self.end(r, End::Ok);
                    }
                }
            }
            Phase::Term(term) => match term {
                Term::Ok => self.end(n, End::Ok),
                Term::Fail => self.end(n, End::Err(F::Err(uid))),
                Term::Panic => self.end(n, End::Err(F::Panic(uid))),
                Term::Hang => self.wait[n] = Wait::Hang,
                Term::Recv(c) if self.sent[c] => self.end(n, End::Ok),
                Term::Recv(c) => self.wait[n] = Wait::Recv(c),
            },
        }
        if leaf.then.is_some()
            && self.alive(n)
            && self.wait[n] == Wait::No
            && self.pc[n] == leaf.acts.len()
        {
            self.enter(n);
        }
    }

    /// Nursery `nursery`'s current `start` returned: the body calls the next one, or goes on.
    fn start_done(&mut self, nursery: usize) {
        let Kind::Nursery { body, starts, .. } = &self.t.nodes[nursery].kind else {
            unreachable!()
        };
        let k = self.next_start[nursery] + 1;
        self.next_start[nursery] = k;
        match starts.get(k) {
            Some(&s) if !self.eff(nursery) => self.birth(s),
            Some(_) => {}
            None => self.wait[*body] = Wait::No,
        }
    }

    /// Node `n` ended; a failure of a nursery's body or child fails (and cancels) it.
    fn end(&mut self, n: usize, end: End) {
        if let (End::Err(f), Some(p)) = (&end, self.t.nodes[n].parent) {
            if matches!(self.t.nodes[p].kind, Kind::Nursery { .. }) {
                self.fails[p].push(f.clone());
                self.own[p] = true;
            }
        }
        self.st[n] = St::Ended(end);
    }

    /// A scope's code was dropped for a cancellation: it catches, or leaves the catch to the
    /// cancelled scope around it.
    fn catch_or_defer(&mut self, s: usize) -> End {
        let shield = matches!(self.t.nodes[s].kind, Kind::Scope { shield: true, .. });
        if !shield && self.ctx_cancelled(s) {
            End::Dropped
        } else {
            self.caught[s] = true;
            End::Ok
        }
    }

    /// Propagates the consequences of the instant's event: drops, then ends, to a fixpoint.
    fn settle(&mut self) {
        loop {
            let mut changed = false;
            for n in 0..self.t.nodes.len() {
                if !self.alive(n) {
                    continue;
                }
                let end = match &self.t.nodes[n].kind {
                    Kind::Leaf(leaf) if self.wait[n] == Wait::Entered => {
                        match &self.st[leaf.then.unwrap()] {
                            St::Ended(end) => Some(end.clone()),
                            _ => None,
                        }
                    }
                    Kind::Leaf(_) => self.ctx_cancelled(n).then_some(End::Dropped),
                    Kind::Scope { inner, .. } => match &self.st[*inner] {
                        St::Ended(End::Err(f)) => Some(End::Err(f.clone())),
                        St::Ended(End::Ok) if !self.eff(n) => Some(End::Ok),
                        St::Ended(_) => Some(self.catch_or_defer(n)),
                        _ => None,
                    },
                    Kind::Nursery {
                        body,
                        children,
                        starts,
                    } => {
                        let done = !self.alive(*body)
                            && children.iter().all(|&(_, c)| !self.alive(c))
                            && starts.iter().all(|&s| !self.alive(s));
                        done.then(|| {
                            if !self.fails[n].is_empty() {
                                End::Err(F::Nest(n, self.fails[n].clone()))
                            } else if self.ctx_cancelled(n) {
                                End::Dropped
                            } else {
                                End::Ok
                            }
                        })
                    }
                };
                if let Some(end) = end {
                    self.end(n, end);
                    changed = true;
                }
            }
            if !changed {
                return;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The interpreter.

/// State shared by every future of one case.
struct Case {
    tree: Tree,
    workers: usize,
    origin: OnceLock<Instant>,
    ran: Mutex<BTreeSet<u32>>,
    starts: Mutex<BTreeMap<usize, StartOutcome>>,
    drops: Vec<AtomicUsize>,
    /// Per nursery node: it has returned.
    closed: Vec<AtomicBool>,
    handles: Mutex<BTreeMap<usize, CancelHandle>>,
    /// Senders stay here to the end: a receive ends only by a value or a cancellation.
    channels: Vec<(Sender<()>, Receiver<()>)>,
    violations: Mutex<Vec<String>>,
}

impl Case {
    fn new(tree: Tree, workers: usize) -> Case {
        let n = tree.nodes.len();
        let channels = (0..tree.channels).map(|_| channel::unbounded()).collect();
        Case {
            tree,
            workers,
            origin: OnceLock::new(),
            ran: Mutex::default(),
            starts: Mutex::default(),
            drops: (0..n).map(|_| AtomicUsize::new(0)).collect(),
            closed: (0..n).map(|_| AtomicBool::new(false)).collect(),
            handles: Mutex::default(),
            channels,
            violations: Mutex::default(),
        }
    }

    fn at(&self, ms: u64) -> Instant {
        *self.origin.get().expect("origin set") + Duration::from_millis(ms)
    }

    fn violation(&self, what: String) {
        self.violations.lock().unwrap().push(what);
    }
}

#[derive(Clone)]
enum Target {
    Scope(CancelHandle),
    Nursery(NurseryHandle),
}

impl Target {
    fn cancel(&self) {
        match self {
            Target::Scope(h) => h.cancel(),
            Target::Nursery(h) => h.cancel(),
        }
    }
}

/// Where a node runs: its enclosing scopes and nurseries (innermost first), the nurseries it
/// must not outlive, and the thread a pinned node must stay on.
#[derive(Clone, Default)]
struct Env {
    chain: Vec<Target>,
    nurseries: Vec<usize>,
    home: Option<String>,
}

/// Held by each node's future: counts its drop and checks, at each step and at the drop, that
/// its nurseries have not returned and that a pinned node is on its home thread.
struct Guard {
    case: Arc<Case>,
    node: usize,
    nurseries: Vec<usize>,
    home: Option<String>,
}

impl Guard {
    fn new(case: &Arc<Case>, node: usize, env: &Env) -> Guard {
        Guard {
            case: case.clone(),
            node,
            nurseries: env.nurseries.clone(),
            home: env.home.clone(),
        }
    }

    fn check(&self, when: &str) {
        for &n in &self.nurseries {
            if self.case.closed[n].load(SeqCst) {
                self.case.violation(format!(
                    "node {} {when} after its nursery {n} returned",
                    self.node
                ));
            }
        }
        if let Some(home) = &self.home {
            let here = support::thread_name();
            if here.as_deref() != Some(home.as_str()) {
                self.case.violation(format!(
                    "pinned node {} {when} on {here:?}, not at home on {home}",
                    self.node
                ));
            }
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.check("dropped");
        self.case.drops[self.node].fetch_add(1, SeqCst);
    }
}

/// Sets a nursery's "closed" flag when the nursery returns (or its finished future is
/// dropped by the scope that catches around it).
struct Closer(Arc<Case>, usize);

impl Drop for Closer {
    fn drop(&mut self) {
        self.0.closed[self.1].store(true, SeqCst);
    }
}

type Res = Result<(), Boom>;
type BoxFut = Pin<Box<dyn Future<Output = Res> + Send>>;

/// The future of node `n`.
fn interp(case: &Arc<Case>, n: usize, env: Env) -> BoxFut {
    match &case.tree.nodes[n].kind {
        Kind::Leaf(_) => leaf(case, n, env, None),
        &Kind::Scope {
            shield,
            deadline,
            relative,
            inner,
        } => {
            let mut scope = CancelScope::new().shield(shield);
            match deadline {
                // Entered (first polled) at this same instant of the paused clock.
                Some(d) if relative => scope = scope.timeout(case.at(d) - Instant::now()),
                Some(d) => scope = scope.deadline(case.at(d)),
                None => {}
            }
            let handle = scope.handle();
            case.handles.lock().unwrap().insert(n, handle.clone());
            let guard = Guard::new(case, n, &env);
            let mut inner_env = env;
            inner_env.chain.insert(0, Target::Scope(handle));
            let inner = interp(case, inner, inner_env);
            Box::pin(async move {
                let _guard = guard;
                let body = async move {
                    inner.await?;
                    trellis::checkpoint().await;
                    Ok(())
                };
                scope.run(body).await.unwrap_or(Ok(()))
            })
        }
        Kind::Nursery {
            body,
            children,
            starts,
        } => {
            let guard = Guard::new(case, n, &env);
            let (case, body, children, starts) =
                (case.clone(), *body, children.clone(), starts.clone());
            Box::pin(async move {
                let _guard = guard;
                let closer = Closer(case.clone(), n);
                let result = trellis::nursery(async |nursery: &Nursery| {
                    run_nursery_body(&case, n, nursery, env, body, &children, &starts).await
                })
                .await;
                drop(closer);
                result.map_err(|e| Boom(nursery_failure(n, &e)))?;
                trellis::checkpoint().await;
                Ok(())
            })
        }
    }
}

/// A nursery's body: spawn the children, call `start` for each start child, run the body's
/// own actions.
async fn run_nursery_body(
    case: &Arc<Case>,
    n: usize,
    nursery: &Nursery,
    env: Env,
    body: usize,
    children: &[(Spawn, usize)],
    starts: &[usize],
) -> Res {
    let mut inside = env;
    inside.chain.insert(0, Target::Nursery(nursery.handle()));
    inside.nurseries.push(n);
    let body = leaf(case, body, inside.clone(), None);
    for &(spawn, child) in children {
        let mut child_env = inside.clone();
        match spawn {
            Spawn::Send => {
                child_env.home = None;
                nursery.start_soon(interp(case, child, child_env));
            }
            Spawn::On(d) => {
                let d = usize::from(d) % case.workers;
                child_env.home = Some(format!("trellis-{d}"));
                let case = case.clone();
                nursery.start_soon_on(DomainId::new(d), move || interp(&case, child, child_env));
            }
            Spawn::Local => {
                child_env.home = support::thread_name();
                nursery.start_soon_local(interp(case, child, child_env));
            }
        }
    }
    for &s in starts {
        let mut start_env = inside.clone();
        start_env.home = None;
        let outcome = nursery
            .start(|status: TaskStatus<u32>| leaf(case, s, start_env, Some(status)))
            .await;
        let outcome = match outcome {
            Ok(v) => StartOutcome::Started(v),
            Err(TaskFailure::Error(e)) if e.is::<NotStarted>() => StartOutcome::NotStarted,
            Err(f) => StartOutcome::Failed(failure(&f)),
        };
        case.starts.lock().unwrap().insert(s, outcome);
    }
    body.await
}

/// A task's future: its timed steps, each at its absolute instant.
fn leaf(case: &Arc<Case>, n: usize, env: Env, status: Option<TaskStatus<u32>>) -> BoxFut {
    let guard = Guard::new(case, n, &env);
    let case = case.clone();
    Box::pin(async move {
        let g = guard;
        let def = case.tree.leaf(n).clone();
        let ran = |uid: u32| {
            g.check("ran");
            case.ran.lock().unwrap().insert(uid);
        };
        if let Some(first) = def.first {
            sleep_until(case.at(first.at)).await;
            ran(first.uid);
            match first.what {
                StartFirst::Started => status.expect("a start child").started(first.uid),
                StartFirst::Fail => return Err(Boom(F::Err(first.uid))),
                StartFirst::Panic => panic!("boom {}", first.uid),
                StartFirst::NotStarted => return Ok(()),
            }
        }
        for a in &def.acts {
            sleep_until(case.at(a.at)).await;
            ran(a.uid);
            match a.what {
                Act::Nothing => {}
                Act::Cancel(k) => env.chain[usize::from(k) % env.chain.len()].cancel(),
                Act::Move(k, at) => {
                    let scopes: Vec<_> = (env.chain.iter())
                        .filter_map(|t| match t {
                            Target::Scope(h) => Some(h),
                            Target::Nursery(_) => None,
                        })
                        .collect();
                    scopes[usize::from(k) % scopes.len()].set_deadline(case.at(at));
                }
                Act::Send(c) => {
                    let _ = case.channels[c].0.send(()).await;
                }
            }
        }
        if let Some(then) = def.then {
            // A `Seq`: enter the node at once, right after the last action.
            return interp(&case, then, env).await;
        }
        let term = def.term;
        sleep_until(case.at(term.at)).await;
        ran(term.uid);
        match term.what {
            Term::Ok => Ok(()),
            Term::Fail => Err(Boom(F::Err(term.uid))),
            Term::Panic => panic!("boom {}", term.uid),
            Term::Hang => std::future::pending().await,
            Term::Recv(c) => {
                let rx = case.channels[c].1.clone();
                let _ = rx.recv().await;
                Ok(())
            }
        }
    })
}

/// Runs `tree` on a paused-clock chaos runtime; `Err` on a hang or a violated invariant.
fn run_case(tree: &Tree, workers: usize, seed: u64) -> Result<Outcome, String> {
    let case = Arc::new(Case::new(tree.clone(), workers));
    let rt = support::build(support::builder(workers).start_paused(true).chaos(seed));
    let root = {
        let case = case.clone();
        rt.spawn(async move {
            case.origin.set(Instant::now()).unwrap();
            interp(&case, 0, Env::default()).await
        })
    };
    let joined = support::join_within(root, CASE_LIMIT);
    drop(rt);
    let result = match joined {
        None => {
            return Err(format!(
                "hang: the root did not finish within {CASE_LIMIT:?}"
            ));
        }
        Some(Ok(Ok(()))) => Ok(()),
        Some(Ok(Err(Boom(f)))) => Err(f),
        Some(Err(e)) if e.is_panic() => {
            Err(panic_uid(Some(support::panic_message(&*e.into_panic()))))
        }
        Some(Err(e)) => return Err(format!("the root task did not finish: {e:?}")),
    };
    let violations = std::mem::take(&mut *case.violations.lock().unwrap());
    if !violations.is_empty() {
        return Err(format!("violations: {violations:#?}"));
    }
    let caught = case
        .handles
        .lock()
        .unwrap()
        .iter()
        .map(|(&n, h)| (n, h.cancelled_caught()))
        .collect();
    Ok(Outcome {
        result,
        ran: case.ran.lock().unwrap().clone(),
        caught,
        starts: case.starts.lock().unwrap().clone(),
        drops: case.drops.iter().map(|d| d.load(SeqCst)).collect(),
    })
}

/// Silences the expected panics ("boom N") of the tasks; others print as usual.
fn quiet_booms() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let msg = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied());
            if !msg.is_some_and(|m| m.starts_with("boom ")) {
                default(info);
            }
        }));
    });
}

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if cfg!(miri) { 2 } else { DEFAULT_CASES });
    let seed = std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    Config {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(seed),
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_nursery_trees_keep_the_structured_concurrency_rules(
        g in g_tree(),
        workers in 1usize..=2,
        seed in any::<u64>(),
    ) {
        quiet_booms();
        let tree = Tree::new(&g);
        let expected = Sim::run(&tree).map_err(TestCaseError::fail)?;
        let got = run_case(&tree, workers, seed).map_err(TestCaseError::fail)?;
        prop_assert_eq!(got, expected, "tree {:#?}", tree);
    }
}
