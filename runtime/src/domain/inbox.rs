//! A domain's queues of pinned entries, linked through the tasks themselves: the *inbox*
//! ([`Stack`]), where other threads drop entries for the domain, and the *ready queue*
//! ([`Fifo`]), the home thread's own FIFO that the inbox is emptied into. Neither allocates:
//! each entry is linked through a pointer in its task's cell, right after the header (a pinned
//! task's cell has this slot, `task/raw.rs`, `QueueLink`), which is free for this because a
//! task has at most one queue entry at a time (protocol step 2 in `task/mod.rs`) and a pinned
//! entry sits in no other queue.
//!
//! # Protocol: the inbox
//!
//! The inbox is one word, `top`: null (empty), [`CLOSED`] (the domain's worker has exited), or
//! the newest entry, whose link names the next older one, down to null.
//!
//! - **Push** (any thread, [`Stack::push`]): read `top`; if it is `CLOSED`, refuse (the caller
//!   gets the entry back). Otherwise write it into the entry's link and compare-and-swap `top`
//!   from it to the entry (`Release`), retrying from the read on failure.
//! - **Take** (one consumer, the home thread, [`Stack::take`]): swap `top` to null (`Acquire`)
//!   and walk the chain it returned, reversing it into arrival order.
//! - **Close** (the consumer, once, at the domain's shutdown, [`Stack::close`]): swap `top` to
//!   `CLOSED` and take what it held, as a take does.
//!
//! **Why it is sound.** An entry's link is written only by its pusher before the publishing
//! compare-and-swap, and read only by the consumer after a swap that read that CAS or a later
//! one; each push is a read-modify-write on `top`, so all of them are in the release sequence
//! that the consumer's `Acquire` swap reads from, and every link it walks is visible to it.
//! The consumer never takes one entry at a time, only the whole chain, so there is no ABA: a
//! pusher's CAS succeeds only if `top` still holds the entry it linked to, and whatever that
//! entry links to then is the rest of the stack at that moment, whoever pushed it. An entry
//! that a push links in is owned by the stack until a take returns it; one the push refuses
//! goes back to its caller. No entry is lost: every push either lands before the consumer's
//! swap (and that take returns it) or after (and the next one does), or is refused after the
//! close.
//!
//! The waking side (making sure the consumer looks) is not here: the pusher unparks the
//! domain's worker after its push, and the worker checks the inbox after each unpark
//! (`domain/mod.rs`, step 1).
//!
//! The loom models at the end (`loom_inbox_*`) run this code against concurrent pushers and a
//! take or a close at every interleaving.

use std::ptr::{self, NonNull};

use crate::loom::sync::atomic::{
    AtomicPtr, Ordering::Acquire, Ordering::Relaxed, Ordering::Release,
};

/// A node that can sit in a [`Stack`] or a [`Fifo`]: it carries its own link. A node is in at
/// most one of them at a time.
///
/// # Safety
///
/// - An owned node may be handed to another thread (a [`Stack`] is `Send` and `Sync` for every
///   `Link`): the implementor vouches that its owner's right to it is `Send`.
pub(crate) unsafe trait Link: Sized {
    /// The node's link: the next node of its chain, or null.
    ///
    /// # Safety
    ///
    /// - `node` points to a live node, which the caller keeps alive for `'a`.
    unsafe fn link<'a>(node: NonNull<Self>) -> &'a AtomicPtr<Self>;

    /// Releases a node still held by a stack or a queue that is dropped.
    ///
    /// # Safety
    ///
    /// - The caller owns the live node, which is in no stack or `Fifo` any more.
    unsafe fn release(node: NonNull<Self>);
}

/// The value of `top` once the stack is closed: never a node's address (nodes are aligned to at
/// least 2).
const CLOSED: usize = 1;

fn closed<N>() -> *mut N {
    ptr::without_provenance_mut(CLOSED)
}

/// The inbox: a lock-free stack of owned nodes, pushed by any thread, taken whole by one
/// consumer (see the module docs).
pub(crate) struct Stack<N: Link> {
    top: AtomicPtr<N>,
}

// SAFETY: the stack owns the nodes it holds and hands each to exactly one taker; moving the
// stack or sharing it moves or shares only the right to push owned nodes and take them, which
// `Link` says may cross threads.
unsafe impl<N: Link> Send for Stack<N> {}
// SAFETY: as for `Send`: every access to `top` is atomic, and a node's link is written by its
// pusher before it is published and read by the taker after (the protocol in the module docs).
unsafe impl<N: Link> Sync for Stack<N> {}

impl<N: Link> Stack<N> {
    pub(crate) fn new() -> Stack<N> {
        Stack {
            top: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Pushes `node`, or gives it back if the stack is closed.
    ///
    /// # Safety
    ///
    /// - `node` points to a live node that the caller owns and that is in no stack or `Fifo`; on
    ///   `Ok` it belongs to the stack until a take or a close returns it.
    pub(crate) unsafe fn push(&self, node: NonNull<N>) -> Result<(), NonNull<N>> {
        // SAFETY: the caller owns the live node.
        let link = unsafe { N::link(node) };
        let mut top = self.top.load(Relaxed);
        loop {
            if top == closed() {
                return Err(node);
            }
            link.store(top, Relaxed);
            match self
                .top
                .compare_exchange_weak(top, node.as_ptr(), Release, Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(now) => top = now,
            }
        }
    }

    /// Whether the stack holds nothing (it may be closed). A push that happened before this call
    /// (through a release-acquire pair, such as an unpark and the park it ends) is seen.
    pub(crate) fn is_empty(&self) -> bool {
        let top = self.top.load(Acquire);
        top.is_null() || top == closed()
    }

    /// Takes every node, oldest first. Only the stack's one consumer calls this.
    pub(crate) fn take(&self) -> Fifo<N> {
        if self.is_empty() {
            return Fifo::new();
        }
        let top = self.top.swap(ptr::null_mut(), Acquire);
        // SAFETY: the swap took the chain: its nodes are ours (the one consumer), their links
        // written before the pushes we synchronised with.
        unsafe { Fifo::reversed(top) }
    }

    /// Closes the stack (later pushes are refused) and takes what it held. Only the consumer
    /// calls this, once.
    pub(crate) fn close(&self) -> Fifo<N> {
        let top = self.top.swap(closed(), Acquire);
        debug_assert!(top != closed(), "an inbox was closed twice");
        // SAFETY: as in `take`.
        unsafe { Fifo::reversed(top) }
    }
}

impl<N: Link> Drop for Stack<N> {
    fn drop(&mut self) {
        // Nodes still held (the consumer never closed the stack) are released with it.
        let top = self.top.swap(closed(), Acquire);
        if top != closed() {
            // SAFETY: as in `take`; we are the last user of the stack.
            drop(unsafe { Fifo::reversed(top) });
        }
    }
}

/// A FIFO of owned nodes: the home thread's ready queue, and what a take returns. Plain links,
/// no atomic read-modify-write; it stays on one thread (`NonNull` makes it `!Send`).
pub(crate) struct Fifo<N: Link> {
    head: Option<NonNull<N>>,
    tail: Option<NonNull<N>>,
}

impl<N: Link> Fifo<N> {
    pub(crate) fn new() -> Fifo<N> {
        Fifo {
            head: None,
            tail: None,
        }
    }

    /// The chain from `top` (newest first, down to null), reversed into arrival order.
    ///
    /// # Safety
    ///
    /// - The caller owns every node of the chain, and its links are visible to it.
    unsafe fn reversed(top: *mut N) -> Fifo<N> {
        let tail = NonNull::new(top);
        let mut head = None;
        let mut next = top;
        while let Some(node) = NonNull::new(next) {
            // SAFETY: an owned, live node of the chain.
            let link = unsafe { N::link(node) };
            next = link.load(Relaxed);
            link.store(head.map_or(ptr::null_mut(), NonNull::as_ptr), Relaxed);
            head = Some(node);
        }
        Fifo { head, tail }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    /// Appends `node`.
    ///
    /// # Safety
    ///
    /// - `node` points to a live node that the caller owns and that is in no stack or `Fifo`; it
    ///   belongs to this queue until popped.
    pub(crate) unsafe fn push_back(&mut self, node: NonNull<N>) {
        // SAFETY: the caller owns the live node.
        unsafe { N::link(node) }.store(ptr::null_mut(), Relaxed);
        self.append(Fifo {
            head: Some(node),
            tail: Some(node),
        });
    }

    /// Appends every node of `other`, in its order.
    pub(crate) fn append(&mut self, other: Fifo<N>) {
        let other = std::mem::ManuallyDrop::new(other);
        let Some(head) = other.head else {
            return;
        };
        match self.tail {
            // SAFETY: our tail is a live node that we own.
            Some(tail) => unsafe { N::link(tail) }.store(head.as_ptr(), Relaxed),
            None => self.head = Some(head),
        }
        self.tail = other.tail;
    }

    /// Takes the oldest node; the caller owns it.
    pub(crate) fn pop_front(&mut self) -> Option<NonNull<N>> {
        let node = self.head?;
        // SAFETY: our head is a live node that we own.
        let next = unsafe { N::link(node) }.load(Relaxed);
        self.head = NonNull::new(next);
        if self.head.is_none() {
            self.tail = None;
        }
        Some(node)
    }
}

impl<N: Link> Drop for Fifo<N> {
    fn drop(&mut self) {
        // The owner empties its queues (to run or cancel each entry); what is left when a queue
        // is dropped anyway is released, never leaked.
        while let Some(node) = self.pop_front() {
            // SAFETY: popped, so ours and in no queue.
            unsafe { N::release(node) };
        }
    }
}

#[cfg(all(test, trellis_loom))]
mod loom_inbox {
    use super::*;
    use crate::loom::cell::UnsafeCell;
    use loom::sync::Arc;
    use loom::thread;

    /// A model node: its value lives in a loom cell, written by the pusher after the node was
    /// made, so loom fails the model if the taker reads it without the push's release reaching it.
    struct Node {
        value: UnsafeCell<usize>,
        link: AtomicPtr<Node>,
    }

    // SAFETY: plain data.
    unsafe impl Link for Node {
        unsafe fn link<'a>(node: NonNull<Node>) -> &'a AtomicPtr<Node> {
            // SAFETY: the caller keeps the node alive.
            unsafe { &(*node.as_ptr()).link }
        }

        unsafe fn release(node: NonNull<Node>) {
            // SAFETY: the model's nodes are leaked boxes (`node`), owned by the caller.
            drop(unsafe { Box::from_raw(node.as_ptr()) });
        }
    }

    fn node(value: usize) -> NonNull<Node> {
        let node = Box::new(Node {
            value: UnsafeCell::new(0),
            link: AtomicPtr::new(ptr::null_mut()),
        });
        // SAFETY: the node is ours alone.
        node.value.with_mut(|v| unsafe { *v = value });
        NonNull::from(Box::leak(node))
    }

    /// Frees the nodes of `fifo`, returning their values in order.
    fn values(mut fifo: Fifo<Node>) -> Vec<usize> {
        let mut out = Vec::new();
        while let Some(n) = fifo.pop_front() {
            // SAFETY: each node was leaked by `node` and is ours again.
            let n = unsafe { Box::from_raw(n.as_ptr()) };
            // SAFETY: taken, so nobody else touches it.
            out.push(n.value.with(|v| unsafe { *v }));
        }
        out
    }

    /// Two pushers (two nodes each) against a consumer taking twice: every node comes out once,
    /// each pusher's in its order, its value visible to the taker. Checked against a seeded bug:
    /// a take that loads and swaps `Relaxed` (loom reports the unsynchronised read of a node).
    #[test]
    fn loom_inbox_pushes_race_takes() {
        loom::model(|| {
            let s = Arc::new(Stack::new());
            let pushers: Vec<_> = [0, 10]
                .into_iter()
                .map(|base| {
                    let s = s.clone();
                    thread::spawn(move || {
                        for v in [base, base + 1] {
                            // SAFETY: a fresh node.
                            unsafe { s.push(node(v)) }.unwrap();
                        }
                    })
                })
                .collect();
            // The consumer yields before each take: loom then also runs pushes before it.
            thread::yield_now();
            let mut got = values(s.take());
            thread::yield_now();
            got.extend(values(s.take()));
            for p in pushers {
                p.join().unwrap();
            }
            got.extend(values(s.take()));
            let mine: Vec<_> = got.iter().copied().filter(|v| *v < 10).collect();
            let theirs: Vec<_> = got.iter().copied().filter(|v| *v >= 10).collect();
            assert_eq!(mine, [0, 1]);
            assert_eq!(theirs, [10, 11]);
        });
    }

    /// A push racing the close either lands before it (the close returns the node) or is
    /// refused (the pusher gets it back): never both, never neither. Checked against a seeded
    /// bug: a push that does not look for `CLOSED` (it lands on the marker, and the final take
    /// walks into it: the model crashes).
    #[test]
    fn loom_inbox_push_races_close() {
        loom::model(|| {
            let s = Arc::new(Stack::new());
            let s2 = s.clone();
            let pusher = thread::spawn(move || {
                // SAFETY: a fresh node.
                match unsafe { s2.push(node(7)) } {
                    Ok(()) => 0,
                    Err(n) => {
                        // SAFETY: refused, so still ours.
                        unsafe { Node::release(n) };
                        1
                    }
                }
            });
            thread::yield_now();
            let closed = values(s.close()).len();
            let refused = pusher.join().unwrap();
            assert_eq!(closed + refused, 1);
            assert!(s.is_empty());
            assert!(values(s.take()).is_empty());
        });
    }
}

#[cfg(all(test, not(trellis_loom)))]
mod tests {
    use super::*;

    struct Node {
        value: usize,
        link: AtomicPtr<Node>,
    }

    // SAFETY: plain data.
    unsafe impl Link for Node {
        unsafe fn link<'a>(node: NonNull<Node>) -> &'a AtomicPtr<Node> {
            // SAFETY: the caller keeps the node alive.
            unsafe { &(*node.as_ptr()).link }
        }

        unsafe fn release(_: NonNull<Node>) {
            // The test's nodes live in a vector that outlives every queue.
        }
    }

    #[test]
    fn takes_come_out_in_arrival_order_after_the_ready_queue() {
        let mut nodes: Vec<Node> = (0..6)
            .map(|value| Node {
                value,
                link: AtomicPtr::new(ptr::null_mut()),
            })
            .collect();
        let mut ptrs = nodes.iter_mut().map(NonNull::from);
        let stack = Stack::new();
        let mut fifo = Fifo::new();
        // SAFETY: each node pushed is live, ours, and in no queue.
        unsafe {
            fifo.push_back(ptrs.next().unwrap());
            for _ in 0..3 {
                stack.push(ptrs.next().unwrap()).unwrap();
            }
        }
        fifo.append(stack.take());
        assert!(stack.is_empty());
        // SAFETY: as above.
        unsafe { stack.push(ptrs.next().unwrap()).unwrap() };
        fifo.append(stack.close());
        // SAFETY: as above.
        let refused = unsafe { stack.push(ptrs.next().unwrap()) };
        assert!(refused.is_err());
        let mut order = Vec::new();
        while let Some(n) = fifo.pop_front() {
            // SAFETY: the nodes outlive the queue.
            order.push(unsafe { n.as_ref() }.value);
        }
        assert_eq!(order, [0, 1, 2, 3, 4]);
        assert!(fifo.is_empty());
    }
}
