//! The background task of the SQL stores that removes expired rows.
//!
//! A SQL store never returns an expired row (every query compares the
//! expiry with the clock), but it does not remove one when it expires: the
//! row stays until this task deletes it. The task runs one batch after
//! another (each a short statement deleting at most `batch` rows), with a
//! pause between them so that requests always find the table between two
//! batches, until a batch finds fewer rows than it may delete; then it
//! sleeps `interval` and starts again.

use std::future::Future;
use std::time::Duration;

use crate::error::StoreError;

/// How often and how much the cleanup task of a SQL store deletes.
///
/// ```
/// use std::time::Duration;
/// use sessionkit::store::Cleanup;
///
/// let cleanup = Cleanup::default()
///     .with_interval(Duration::from_secs(300))
///     .with_batch(500);
/// assert_eq!(cleanup.batch(), 500);
/// assert_eq!(cleanup.pause(), Duration::from_millis(10));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cleanup {
    interval: Duration,
    batch: usize,
    pause: Duration,
}

impl Default for Cleanup {
    /// Every minute, 1000 rows per statement, 10 ms between statements.
    fn default() -> Self {
        Cleanup {
            interval: Duration::from_secs(60),
            batch: 1000,
            pause: Duration::from_millis(10),
        }
    }
}

impl Cleanup {
    /// The time between two runs (a run deletes batches until none is
    /// left). At least one millisecond.
    #[must_use]
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(1));
        self
    }

    /// The most rows one statement deletes (at least 1). Smaller batches
    /// hold each lock for less time; larger ones finish a big backlog in
    /// fewer statements.
    #[must_use]
    pub fn with_batch(mut self, rows: usize) -> Self {
        self.batch = rows.max(1);
        self
    }

    /// The time the task waits between two batches of one run, so that the
    /// table is never busy for a whole run at once. Zero is allowed.
    #[must_use]
    pub fn with_pause(mut self, pause: Duration) -> Self {
        self.pause = pause;
        self
    }

    /// The time between two runs.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The most rows one statement deletes.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The time between two batches of one run.
    pub fn pause(&self) -> Duration {
        self.pause
    }
}

/// The running cleanup task of a SQL store. It stops when this is dropped
/// (or [`stop`](Self::stop)ped), so keep it for as long as the store
/// serves.
#[derive(Debug)]
#[must_use = "the cleanup task stops when its handle is dropped"]
pub struct CleanupTask {
    task: tokio::task::JoinHandle<()>,
}

impl CleanupTask {
    /// Stops the task. A batch under way is abandoned; the database rolls
    /// its statement back or finishes it, and nothing else is lost.
    pub fn stop(self) {}

    /// Whether the task is still running (it only ends when stopped, or
    /// when its runtime shuts down).
    pub fn is_running(&self) -> bool {
        !self.task.is_finished()
    }
}

impl Drop for CleanupTask {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the cleanup task on the current tokio runtime: `delete` deletes
/// at most the given number of expired rows and answers how many it deleted.
/// A failed batch is logged and the run ends; the next starts after
/// `interval` as usual.
///
/// # Panics
///
/// Outside a tokio runtime.
pub(crate) fn spawn<F, Fut>(store: &'static str, cleanup: Cleanup, mut delete: F) -> CleanupTask
where
    F: FnMut(usize) -> Fut + Send + 'static,
    Fut: Future<Output = Result<u64, StoreError>> + Send + 'static,
{
    let task = tokio::spawn(async move {
        loop {
            tokio::time::sleep(cleanup.interval).await;
            let mut removed = 0u64;
            loop {
                match delete(cleanup.batch).await {
                    Ok(rows) => {
                        removed += rows;
                        if rows < cleanup.batch as u64 {
                            break;
                        }
                        tokio::time::sleep(cleanup.pause).await;
                    }
                    Err(error) => {
                        tracing::warn!(
                            store,
                            removed,
                            error = %crate::error::Report(&error),
                            "removing expired sessions failed; trying again at the next run"
                        );
                        break;
                    }
                }
            }
            if removed > 0 {
                tracing::debug!(store, removed, "removed expired sessions");
            }
        }
    });
    CleanupTask { task }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A run deletes batch after batch until one comes back short, and the
    /// next run starts an interval later; a failed batch ends its run only.
    #[tokio::test(start_paused = true)]
    async fn runs_batches_until_one_is_short_then_waits_an_interval() {
        let asked = Arc::new(Mutex::new(Vec::new()));
        // What the batches answer, in order: a run of three batches (the
        // last short), then a failure, then an empty run.
        let answers = Arc::new(Mutex::new(vec![Ok(0), Err(()), Ok(3), Ok(10), Ok(10)]));
        let cleanup = Cleanup::default()
            .with_interval(Duration::from_secs(60))
            .with_batch(10);
        let task = {
            let asked = asked.clone();
            let answers = answers.clone();
            spawn("test", cleanup, move |batch| {
                asked
                    .lock()
                    .unwrap()
                    .push((tokio::time::Instant::now(), batch));
                let answer = answers.lock().unwrap().pop().unwrap_or(Ok(0));
                async move { answer.map_err(|()| StoreError::new("down")) }
            })
        };
        let start = tokio::time::Instant::now();
        tokio::time::sleep(Duration::from_secs(59)).await;
        assert!(
            asked.lock().unwrap().is_empty(),
            "nothing before an interval"
        );
        tokio::time::sleep(Duration::from_secs(200)).await;
        let at: Vec<(u64, usize)> = asked
            .lock()
            .unwrap()
            .iter()
            .map(|(when, batch)| ((*when - start).as_millis() as u64, *batch))
            .collect();
        assert_eq!(
            at,
            [
                (60_000, 10),
                (60_010, 10),
                (60_020, 10),
                (120_020, 10),
                (180_020, 10),
                (240_020, 10)
            ]
        );
        assert!(task.is_running());
        task.stop();
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_the_handle_stops_the_task() {
        let calls = Arc::new(Mutex::new(0));
        let task = {
            let calls = calls.clone();
            spawn(
                "test",
                Cleanup::default().with_interval(Duration::from_secs(1)),
                move |_| {
                    *calls.lock().unwrap() += 1;
                    async { Ok(0) }
                },
            )
        };
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(*calls.lock().unwrap(), 1);
        drop(task);
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(*calls.lock().unwrap(), 1);
    }

    #[test]
    fn knobs_have_floors() {
        let cleanup = Cleanup::default()
            .with_batch(0)
            .with_interval(Duration::ZERO);
        assert_eq!(cleanup.batch(), 1);
        assert_eq!(cleanup.interval(), Duration::from_millis(1));
    }
}
