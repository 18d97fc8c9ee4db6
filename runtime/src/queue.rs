//! Saves of one session that ran into each other, queued within this process.
//!
//! Compare-and-set needs no lock to be correct, but under contention it is
//! unfair: while one save merges and tries again, fresh saves of the same
//! session keep getting in first, and with many requests of one session at
//! once some run out of tries. So once a save of a session has conflicted,
//! it and every later save of that session in this process wait their turn
//! in a first-come, first-served queue, each with one round trip to itself;
//! conflicts are then left to saves from other processes. The queue of a
//! session goes away with its last waiter, so a session whose saves do not
//! overlap costs one check of an empty map.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

type Queue = Arc<AsyncMutex<()>>;

/// The queues of the sessions whose saves are being queued now, by store key.
#[derive(Default)]
pub(crate) struct SaveQueues {
    queues: Mutex<HashMap<Box<str>, Queue>>,
}

/// A save's turn: held until the save is done.
pub(crate) struct Turn {
    key: Box<str>,
    queue: Queue,
    guard: Option<OwnedMutexGuard<()>>,
}

impl SaveQueues {
    /// The queue of `key` if its saves are being queued now.
    pub(crate) fn existing(&self, key: &str) -> Option<Queue> {
        let queues = self.lock();
        if queues.is_empty() {
            return None;
        }
        queues.get(key).cloned()
    }

    /// The queue of `key`, made if there is none.
    pub(crate) fn get_or_make(&self, key: &str) -> Queue {
        let mut queues = self.lock();
        if let Some(queue) = queues.get(key) {
            return Arc::clone(queue);
        }
        let queue = Queue::default();
        queues.insert(key.into(), Arc::clone(&queue));
        queue
    }

    /// Waits for the turn of `key` in `queue`.
    pub(crate) async fn wait(&self, key: &str, queue: Queue) -> Turn {
        let guard = Arc::clone(&queue).lock_owned().await;
        Turn {
            key: key.into(),
            queue,
            guard: Some(guard),
        }
    }

    /// Ends a turn; the queue goes once nobody else waits in it.
    pub(crate) fn done(&self, mut turn: Turn) {
        drop(turn.guard.take());
        let mut queues = self.lock();
        // Ours and the map's: nobody else holds or waits for it.
        if Arc::strong_count(&turn.queue) <= 2 {
            queues.remove(&turn.key);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Queue>> {
        // Every critical section is a single map operation: a panic cannot
        // leave the map half-changed.
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn turns_come_in_order_and_the_queue_goes_with_its_last_waiter() {
        let queues = Arc::new(SaveQueues::default());
        assert!(queues.existing("k").is_none());
        let first = queues.wait("k", queues.get_or_make("k")).await;
        let queue = queues.existing("k").expect("made by the first");
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut waiters = Vec::new();
        for n in 0..3 {
            let (queues, queue, order) = (queues.clone(), queue.clone(), order.clone());
            waiters.push(tokio::spawn(async move {
                let turn = queues.wait("k", queue).await;
                order.lock().unwrap().push(n);
                queues.done(turn);
            }));
            // Each waiter is in line before the next one starts.
            tokio::task::yield_now().await;
        }
        drop(queue);
        assert_eq!(queues.len(), 1);
        queues.done(first);
        for waiter in waiters {
            waiter.await.unwrap();
        }
        assert_eq!(
            *order.lock().unwrap(),
            [0, 1, 2],
            "first come, first served"
        );
        assert_eq!(queues.len(), 0, "gone with its last waiter");
        assert!(queues.existing("k").is_none());
    }
}
