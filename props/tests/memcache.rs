//! The memcached answer reader's hook over [`cases`](sessionkit_props::cases)
//! generated answers (1,000,000 by default), in a test binary of its own:
//! its allocator refuses, for the length of each case, any allocation
//! beyond the maximum value size plus a fixed allowance, so a reader that
//! sizes a buffer by what the server announces aborts the test (with
//! "memory allocation of N bytes failed") instead of passing.

use std::alloc::System;

use cap::Cap;
use sessionkit::fuzzing;
use sessionkit_props::{check, gen};

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

/// What a case may allocate besides the value itself: the connection's
/// buffers (8 KiB of read buffer), the runtime's first use, error messages.
const ALLOWANCE: usize = 256 * 1024;

#[test]
fn memcache_answers() {
    check("memcache", gen::memcache, |(command, max, reply)| {
        let limit = ALLOCATOR.allocated() + max + ALLOWANCE;
        ALLOCATOR
            .set_limit(limit)
            .expect("the limit is above what is allocated");
        let result = std::panic::catch_unwind(|| fuzzing::memcache_reply(*command, *max, reply));
        ALLOCATOR.set_limit(usize::MAX).expect("no limit");
        result.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    });
}
