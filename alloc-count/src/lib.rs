//! A global allocator that counts what it is asked for: the system
//! allocator, plus two relaxed atomic additions per allocation.
//!
//! ```
//! use sessionkit_alloc_count::{Counting, Counts};
//!
//! #[global_allocator]
//! static ALLOC: Counting = Counting;
//!
//! fn main() {
//!     let before = Counts::now();
//!     let v: Vec<u8> = Vec::with_capacity(100);
//!     let used = Counts::now().since(before);
//!     assert!(used.allocs >= 1 && used.bytes >= 100);
//!     drop(v);
//! }
//! ```
//!
//! # Why a crate of its own
//!
//! A `GlobalAlloc` impl is `unsafe`, and the workspace forbids `unsafe_code`
//! in every crate that inherits its lints (a `forbid` cannot be allowed
//! again below it). This crate restates those lints with `unsafe_code`
//! denied, and allows it on the one impl.
//!
//! # What is counted
//!
//! Every `alloc`, `alloc_zeroed` and `realloc` adds one to
//! [`Counts::allocs`] and the requested size to [`Counts::bytes`] (for
//! `realloc` the new size, whether it grows or shrinks); frees are not
//! counted. The counters are process-wide, all threads together, and read
//! zero when the program installs another global allocator.

#![deny(missing_docs)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

/// The system allocator, counting; install it with `#[global_allocator]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counting;

fn count(size: usize) {
    // Relaxed: the counters order nothing, and readers only compare two
    // readings taken while no request is in flight.
    ALLOCS.fetch_add(1, Ordering::Relaxed);
    BYTES.fetch_add(size as u64, Ordering::Relaxed);
}

// SAFETY: every method forwards its arguments unchanged to `System`, which
// upholds `GlobalAlloc`'s contract; counting touches only two atomics and
// never allocates.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        System.realloc(ptr, layout, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

/// Allocations and bytes counted so far, or between two readings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Calls to `alloc`, `alloc_zeroed` and `realloc`.
    pub allocs: u64,
    /// Bytes those calls asked for.
    pub bytes: u64,
}

impl Counts {
    /// The process's counts so far (zero unless [`Counting`] is the global
    /// allocator).
    pub fn now() -> Counts {
        Counts {
            allocs: ALLOCS.load(Ordering::Relaxed),
            bytes: BYTES.load(Ordering::Relaxed),
        }
    }

    /// What was counted between `earlier` and `self`.
    pub fn since(self, earlier: Counts) -> Counts {
        Counts {
            allocs: self.allocs.wrapping_sub(earlier.allocs),
            bytes: self.bytes.wrapping_sub(earlier.bytes),
        }
    }
}
