//! A counting global allocator: wraps the system allocator and counts, with atomics, the live
//! bytes and blocks of the whole process and the allocations made so far, and, per thread, the
//! allocations made on the current thread.
//!
//! A binary opts in with
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: support::alloc::Counting = support::alloc::Counting;
//! ```
//!
//! `tests/rt_alloc.rs` uses the per-thread count (other threads, such as libtest's parallel
//! tests, cannot disturb it); the stress examples (`examples/stress/common.rs`, which includes
//! this file by path) use the process-wide live bytes to see memory return to its baseline.
//!
//! `unsafe` here is only what `GlobalAlloc` requires: each method forwards its caller's
//! contract to `std::alloc::System` unchanged.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, AtomicU64, Ordering::Relaxed};

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static LIVE_BLOCKS: AtomicIsize = AtomicIsize::new(0);
static TOTAL_ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    // `const` and without `Drop`: reading them never allocates or registers a destructor, so
    // the allocator may touch them at any time, thread teardown included.
    static THREAD_ALLOCS: Cell<u64> = const { Cell::new(0) };
    static THREAD_BYTES: Cell<u64> = const { Cell::new(0) };
    static THREAD_TRACE: Cell<bool> = const { Cell::new(false) };
}

/// The counting allocator (a unit struct: the counters are statics of this module).
#[derive(Debug)]
pub(crate) struct Counting;

/// Counts one new block of `size` bytes (an `alloc`, or the new block of a `realloc`).
fn record_alloc(size: usize) {
    LIVE_BYTES.fetch_add(size as isize, Relaxed);
    LIVE_BLOCKS.fetch_add(1, Relaxed);
    TOTAL_ALLOCS.fetch_add(1, Relaxed);
    let _ = THREAD_ALLOCS.try_with(|n| n.set(n.get() + 1));
    let _ = THREAD_BYTES.try_with(|n| n.set(n.get() + size as u64));
    let _ = THREAD_TRACE.try_with(|trace| {
        if trace.get() {
            // Off while capturing: the backtrace allocates too.
            trace.set(false);
            eprintln!(
                "alloc of {size} bytes at:\n{}",
                std::backtrace::Backtrace::force_capture()
            );
            trace.set(true);
        }
    });
}

/// Counts one freed block of `size` bytes.
fn record_free(size: usize) {
    LIVE_BYTES.fetch_sub(size as isize, Relaxed);
    LIVE_BLOCKS.fetch_sub(1, Relaxed);
}

// SAFETY: every method forwards to `System`, which upholds `GlobalAlloc`'s contract; the
// counting around it never allocates (atomics and const thread-locals only) except while a
// trace is on, when `record_alloc` turns it off first so that the trace cannot recurse.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` (a non-zero size) is `System`'s.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            record_alloc(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            record_alloc(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, that is from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        record_free(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from `System` with `layout`; `new_size` is the caller's to check.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            record_free(layout.size());
            record_alloc(new_size);
        }
        new
    }
}

/// Bytes allocated and not yet freed, process-wide.
pub(crate) fn live_bytes() -> isize {
    LIVE_BYTES.load(Relaxed)
}

/// Blocks allocated and not yet freed, process-wide.
pub(crate) fn live_blocks() -> isize {
    LIVE_BLOCKS.load(Relaxed)
}

/// Allocations (a `realloc` counts as one) made so far, process-wide.
pub(crate) fn total_allocs() -> u64 {
    TOTAL_ALLOCS.load(Relaxed)
}

/// Allocations (a `realloc` counts as one) made so far on the current thread.
pub(crate) fn thread_allocs() -> u64 {
    THREAD_ALLOCS.with(Cell::get)
}

/// Bytes allocated so far on the current thread (a `realloc` counts its new size).
pub(crate) fn thread_bytes() -> u64 {
    THREAD_BYTES.with(Cell::get)
}

/// While on, every allocation on the current thread prints its size and a backtrace to stderr:
/// for finding where an unexpected allocation comes from.
pub(crate) fn trace_this_thread(on: bool) {
    THREAD_TRACE.with(|trace| trace.set(on));
}
