//! A per-thread byte buffer for values that are built, used and dropped
//! within one call (an encoding to compare, a header to copy), so that
//! building them allocates nothing once the buffer has grown.

use std::cell::RefCell;

/// A buffer that outgrew this is freed after use rather than kept by the
/// thread.
const KEEP: usize = 16 * 1024;

thread_local! {
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Calls `f` with this thread's buffer, emptied; with a fresh one while the
/// thread's is in use (a call nested in another) or gone (the thread is
/// shutting down).
pub(crate) fn with_buffer<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    let mut f = Some(f);
    let done = BUFFER.try_with(|cell| {
        let mut buf = cell.try_borrow_mut().ok()?;
        buf.clear();
        let result = (f.take()?)(&mut buf);
        if buf.capacity() > KEEP {
            *buf = Vec::new();
        }
        Some(result)
    });
    match (done, f) {
        (Ok(Some(result)), _) => result,
        (_, Some(f)) => f(&mut Vec::new()),
        (_, None) => unreachable!("`f` either ran on the thread's buffer or is still here"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_buffer;

    #[test]
    fn nested_calls_get_a_buffer_of_their_own() {
        let outer = with_buffer(|a| {
            a.extend_from_slice(b"outer");
            let inner = with_buffer(|b| {
                assert!(b.is_empty());
                b.extend_from_slice(b"inner");
                b.clone()
            });
            assert_eq!(a.as_slice(), b"outer");
            (a.clone(), inner)
        });
        assert_eq!(outer, (b"outer".to_vec(), b"inner".to_vec()));
    }

    #[test]
    fn the_buffer_is_emptied_and_a_grown_one_is_let_go() {
        with_buffer(|b| b.extend_from_slice(&[7; 100]));
        with_buffer(|b| assert!(b.is_empty()));
        with_buffer(|b| b.resize(super::KEEP + 1, 0));
        with_buffer(|b| assert!(b.capacity() <= super::KEEP));
    }
}
