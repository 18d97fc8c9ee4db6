//! What every check is built from: its verdict, store calls that turn a
//! panic, a hang or an unexpected error into that verdict, and the
//! `ensure!` macros.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use sessionkit::store::{StoreError, StoreFuture};

/// How long one store call may take before the check fails with "did not
/// complete": no call may hang forever.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A check found a rule of the store contract or of the session lifecycle
/// broken.
///
/// Its [`Display`](fmt::Display) (and its `Debug`, so that `unwrap` shows
/// the same) names the check and says which rule broke and what the store
/// did instead.
#[derive(Clone, PartialEq, Eq)]
pub struct Failure {
    check: &'static str,
    message: String,
}

impl Failure {
    /// The name of the check that failed: the name of its function in
    /// [`contract`](crate::contract) or [`lifecycle`](crate::lifecycle).
    pub fn check(&self) -> &'static str {
        self.check
    }

    /// The rule that broke and what the store did instead.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "conformance check `{}` failed: {}",
            self.check, self.message
        )
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Failure {}

/// Every check that failed in one [`run_all`](crate::run_all).
#[derive(Clone, PartialEq, Eq)]
pub struct Failures(pub(crate) Vec<Failure>);

impl Failures {
    /// The failures, in the order the checks ran.
    pub fn as_slice(&self) -> &[Failure] {
        &self.0
    }

    /// Whether the check named `check` is among them.
    pub fn contains(&self, check: &str) -> bool {
        self.0.iter().any(|f| f.check == check)
    }
}

impl fmt::Display for Failures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} conformance check(s) failed", self.0.len())?;
        for failure in &self.0 {
            write!(f, "\n- {failure}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Failures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Failures {}

impl IntoIterator for Failures {
    type Item = Failure;
    type IntoIter = std::vec::IntoIter<Failure>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// The check being run: makes its failures and guards its store calls.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cx(pub(crate) &'static str);

impl Cx {
    /// A failure of this check.
    pub(crate) fn fail(self, message: impl Into<String>) -> Failure {
        Failure {
            check: self.0,
            message: message.into(),
        }
    }

    /// Calls the store (`op` names the call in messages) and awaits the
    /// answer; an error, a panic or no answer within [`CALL_TIMEOUT`] is a
    /// failure.
    pub(crate) async fn call<'a, T>(
        self,
        op: &str,
        call: impl FnOnce() -> StoreFuture<'a, T>,
    ) -> Result<T, Failure> {
        self.attempt(op, call).await?.map_err(|error| {
            self.fail(format!(
                "{op} returned an error where it must succeed: {error} (class {:?})",
                error.class()
            ))
        })
    }

    /// Like [`call`](Self::call), but gives the store's error back: for a
    /// call that is meant to fail. A panic or a hang is still a failure.
    pub(crate) async fn attempt<'a, T>(
        self,
        op: &str,
        call: impl FnOnce() -> StoreFuture<'a, T>,
    ) -> Result<Result<T, StoreError>, Failure> {
        let future = catch_unwind(AssertUnwindSafe(call)).map_err(|panic| {
            self.fail(format!(
                "{op} panicked; a store reports every failure as a StoreError: {}",
                panic_text(&*panic)
            ))
        })?;
        match tokio::time::timeout(CALL_TIMEOUT, CatchUnwind(future)).await {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(panic)) => Err(self.fail(format!(
                "{op} panicked; a store reports every failure as a StoreError: {}",
                panic_text(&*panic)
            ))),
            Err(_) => Err(self.fail(format!(
                "{op} did not complete within {CALL_TIMEOUT:?}; no store call may hang (use a timeout)"
            ))),
        }
    }
}

/// The text a panic was raised with.
fn panic_text(panic: &(dyn Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "(a panic without a message)".to_owned()
    }
}

/// A store future whose panics are caught and returned.
struct CatchUnwind<F>(F);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = std::thread::Result<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = &mut self.0;
        match catch_unwind(AssertUnwindSafe(|| Pin::new(&mut *future).poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

/// Prints that a check did not apply to the store (shown by the test
/// harness with `--nocapture`, or when a test fails).
pub(crate) fn skipped(cx: Cx, why: &str) {
    println!("conformance check `{}` skipped: {why}", cx.0);
}

/// Fails the check with a message unless `cond` holds.
macro_rules! ensure {
    ($cx:expr, $cond:expr, $($message:tt)+) => {
        if !$cond {
            return Err($cx.fail(format!($($message)+)));
        }
    };
}

/// Fails the check unless `got == want`, showing both.
macro_rules! ensure_eq {
    ($cx:expr, $got:expr, $want:expr, $($message:tt)+) => {
        match (&$got, &$want) {
            (got, want) => {
                if *got != *want {
                    return Err($cx.fail(format!(
                        "{}\n  got:      {:?}\n  expected: {:?}",
                        format_args!($($message)+),
                        got,
                        want
                    )));
                }
            }
        }
    };
}

pub(crate) use {ensure, ensure_eq};

/// Stored bytes as a check shows them: as text, cut after 120 characters.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Bytes(pub(crate) Vec<u8>);

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 120;
        let text = String::from_utf8_lossy(&self.0);
        if text.chars().count() <= SHOWN {
            write!(f, "{text:?}")
        } else {
            let head: String = text.chars().take(SHOWN).collect();
            write!(f, "{head:?}… ({} bytes)", self.0.len())
        }
    }
}

/// `value` as [`Bytes`].
pub(crate) fn bytes(value: Option<Vec<u8>>) -> Option<Bytes> {
    value.map(Bytes)
}
