//! The memory store's owner indexes: one small map per owner, from session
//! key to the layer's value and the session's `until`, all in one map under
//! one lock (owner index calls are rare: a login, a logout, a "log out
//! everywhere").
//!
//! `until` is in seconds since the Unix epoch; the store's clock is tokio's
//! monotonic [`Instant`](tokio::time::Instant). The store reads the system
//! clock once, when it is made, and counts Unix time from there on its own
//! clock (see [`Inner::unix_now_secs`](super::Inner)), so that an index
//! expires by the same clock as the sessions it lists (and tests can pause
//! it).

use std::collections::HashMap;

/// One session in an index.
#[derive(Clone)]
pub(super) struct Listed {
    pub(super) value: Box<[u8]>,
    /// Seconds since the Unix epoch: the entry is dead once `now >= until`.
    pub(super) until: u64,
}

/// One owner's sessions.
#[derive(Clone, Default)]
pub(super) struct Index {
    pub(super) entries: HashMap<Box<str>, Listed>,
}

impl Index {
    /// Drops the entries whose `until` has passed at `now` (seconds).
    pub(super) fn prune(&mut self, now: u64) {
        self.entries.retain(|_, e| e.until > now);
    }

    /// Puts `key`, drops what has passed at `now`, and when more than `max`
    /// entries remain drops those with the earliest `until`, answering
    /// their keys.
    pub(super) fn add(
        &mut self,
        key: &str,
        value: &[u8],
        until: u64,
        max: usize,
        now: u64,
    ) -> Vec<String> {
        self.entries.insert(
            key.into(),
            Listed {
                value: value.into(),
                until,
            },
        );
        self.prune(now);
        let over = self.entries.len().saturating_sub(max);
        if over == 0 {
            return Vec::new();
        }
        let mut by_until: Vec<(u64, &str)> =
            self.entries.iter().map(|(k, e)| (e.until, &**k)).collect();
        by_until.sort_unstable();
        let evicted: Vec<String> = by_until[..over]
            .iter()
            .map(|(_, k)| (*k).to_owned())
            .collect();
        for key in &evicted {
            self.entries.remove(key.as_str());
        }
        evicted
    }
}

/// Every owner's index, by index key.
#[derive(Clone, Default)]
pub(super) struct Indexes {
    pub(super) map: HashMap<Box<str>, Index>,
}

impl Indexes {
    /// Drops every entry whose `until` has passed at `now`, and every index
    /// left empty: for the sweeper, so that an index nobody touches again
    /// does not stay forever.
    pub(super) fn sweep(&mut self, now: u64) {
        self.map.retain(|_, index| {
            index.prune(now);
            !index.entries.is_empty()
        });
    }

    /// The index under `name`, with what has passed at `now` dropped; an
    /// index left empty is removed and reads as missing.
    pub(super) fn live(&mut self, name: &str, now: u64) -> Option<&mut Index> {
        let index = self.map.get_mut(name)?;
        index.prune(now);
        if index.entries.is_empty() {
            self.map.remove(name);
            return None;
        }
        self.map.get_mut(name)
    }

    /// Removes the index `name` if it holds nothing.
    pub(super) fn drop_if_empty(&mut self, name: &str) {
        if self.map.get(name).is_some_and(|i| i.entries.is_empty()) {
            self.map.remove(name);
        }
    }

    /// How many entries all indexes hold, expired ones not yet swept
    /// included.
    #[cfg(test)]
    pub(super) fn entries(&self) -> usize {
        self.map.values().map(|i| i.entries.len()).sum()
    }
}
