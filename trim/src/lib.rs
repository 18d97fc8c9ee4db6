//! Asks the C allocator to give freed memory back to the operating system.
//!
//! sessionkit's memory store frees every session that expires, but glibc's
//! `malloc` keeps freed small blocks in its arenas for reuse rather than
//! returning them to the kernel: after 100,000 sessions come and go, the
//! process's resident memory stays near its peak although nothing uses it.
//! glibc's `malloc_trim` hands the free pages back. The store calls
//! [`release_free_memory`] after a sweep that freed a lot.
//!
//! # Why a crate of its own
//!
//! Calling `malloc_trim` is FFI, so `unsafe`. The `sessionkit` crate is
//! `#![forbid(unsafe_code)]` and stays so: the one `unsafe` block lives here,
//! in a crate small enough to audit at a glance. We know of no well-kept
//! crate on crates.io that offers a safe wrapper for `malloc_trim`.
//!
//! # Cost
//!
//! `malloc_trim` is not free: glibc walks every arena in turn, locking it
//! while it goes through its free blocks and advises the kernel to drop the
//! whole pages among them, so another thread that allocates from that arena
//! meanwhile waits, and pages handed back cost a page fault when used again.
//! With many scattered free blocks a call takes milliseconds (the
//! repository's BENCHMARKS.md has the measurement). Call it rarely, after a
//! large amount was freed, and from a thread that may block
//! (`tokio::task::spawn_blocking`), not from an async worker.
//!
//! It does not return everything: in the arenas of threads other than the
//! main one, glibc leaves the free space at the end of the arena alone.
//!
//! # Platforms
//!
//! Only Linux with glibc (`target_os = "linux"`, `target_env = "gnu"`) has
//! `malloc_trim`; elsewhere [`release_free_memory`] does nothing. If the
//! program installs another `#[global_allocator]`, Rust's allocations do not
//! go through glibc's `malloc` and the call gives back only what glibc
//! itself holds.

#![deny(missing_docs)]

/// Asks the allocator to return the free memory of its heaps to the
/// operating system; returns whether any was returned.
///
/// On Linux with glibc, this calls `malloc_trim(0)`. On every other target it
/// does nothing and returns `false`. See the [crate docs](crate) for what it
/// costs.
///
/// ```
/// // Harmless anywhere: `false` where there is nothing to release or no
/// // `malloc_trim`.
/// let _released: bool = sessionkit_trim::release_free_memory();
/// ```
pub fn release_free_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `malloc_trim` has no preconditions: it takes a plain
        // integer (the bytes to leave untrimmed at the top of the heap),
        // touches only glibc's own heap state under each arena's lock, and is
        // thread-safe (MT-Safe in its manual page).
        #[allow(unsafe_code)]
        let released = unsafe { libc::malloc_trim(0) };
        released != 0
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
