//! One shard of the memory store: an insertion-ordered hash map plus the
//! state of its amortised sweep and its eviction sampler.
//!
//! Everything here is synchronous and runs under the shard's mutex.

use foldhash::fast::RandomState;
use indexmap::IndexMap;

/// Entries a `save` examines at the sweep cursor, removing expired ones.
const WRITE_SWEEP_BUDGET: usize = 2;
/// Entries examined at the sweep cursor when a new key finds the shard full,
/// before falling back to eviction.
const FULL_SWEEP_BUDGET: usize = 16;
/// Entries sampled to pick the one closest to expiry (Redis uses 5 too).
const EVICTION_SAMPLE: usize = 5;
/// A table is shrunk once its live entries fill at most 1/this of it.
/// Between two sweeps of its shard (4 s apart) a table also holds the
/// entries that expired since the last one, so under steady churn it can be
/// twice or more the size its live sessions need; an eighth leaves that
/// room alone and still catches a table the store has mostly left.
const SHRINK_BELOW: usize = 8;
/// A table at most this big is never shrunk: not worth the rehash.
const SHRINK_MIN_CAPACITY: usize = 64;
/// What freeing an entry gives the allocator besides its key and value
/// bytes: glibc's overhead on those two allocations, 8 to 23 bytes each.
const ENTRY_ALLOCATION_OVERHEAD: usize = 32;
/// What a table holds per unit of capacity: a 56-byte slot of the entry
/// vector and 8/7 of a 9-byte index slot (the index's load factor is 7/8).
const TABLE_BYTES_PER_SLOT: usize = 66;

/// What a full sweep of a shard did.
pub(super) struct Swept {
    /// About how many bytes it freed.
    pub(super) freed: usize,
    /// The table was under an eighth full and was shrunk: the shard holds
    /// far fewer sessions than it once did.
    pub(super) shrank: bool,
}

/// A stored session. 32 bytes: the value's fat pointer, the expiry and the
/// revision.
pub(super) struct Entry {
    value: Box<[u8]>,
    /// Milliseconds since the store's epoch; expired once `now >= expires_at`.
    expires_at: u64,
    /// Changes on every write of this key; a conditional save compares it.
    revision: u64,
}

impl Entry {
    /// Replaces the value (in place when the length is the same).
    fn overwrite(&mut self, value: &[u8], expires_at: u64, revision: u64) {
        if self.value.len() == value.len() {
            self.value.copy_from_slice(value);
        } else {
            self.value = value.into();
        }
        self.expires_at = expires_at;
        self.revision = revision;
    }
}

/// What a conditional save found.
pub(super) enum Conditional {
    Saved(u64),
    Exists,
    Changed(Vec<u8>, u64),
    Gone,
}

pub(super) struct Shard {
    // The keys are `prefix + id` where the id is server-generated and random
    // (the layer never stores under an id a client chose), so nobody can
    // craft colliding keys; a fast, non-DoS-resistant hasher is enough. It is
    // randomly seeded per shard anyway.
    map: IndexMap<Box<str>, Entry, RandomState>,
    /// At most this many entries, live or expired.
    capacity: usize,
    /// Position of the amortised sweep in `map`'s index order.
    cursor: usize,
    /// State of the eviction sampler's PRNG (wyrand).
    rng: u64,
    /// The last revision given to a write. Shard-wide, so a key deleted and
    /// written again never gets back a revision it had.
    revision: u64,
}

impl Shard {
    pub(super) fn new(capacity: usize, seed: u64) -> Shard {
        Shard {
            map: IndexMap::with_hasher(RandomState::default()),
            capacity,
            cursor: 0,
            rng: seed,
            revision: 0,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    #[cfg(test)]
    pub(super) fn table_capacity(&self) -> usize {
        self.map.capacity()
    }

    /// Copies of the live entries, for rebuilding a store.
    pub(super) fn live_entries(&self, now: u64) -> impl Iterator<Item = (&str, &[u8], u64)> + '_ {
        self.map
            .iter()
            .filter(move |(_, e)| e.expires_at > now)
            .map(|(k, e)| (&**k, &*e.value, e.expires_at))
    }

    /// The value under `key` and its revision, sliding its expiry to
    /// `expires_at`; an expired entry is removed and reads as missing.
    pub(super) fn load(&mut self, key: &str, now: u64, expires_at: u64) -> Option<(Vec<u8>, u64)> {
        let entry = self.live(key, now)?;
        entry.expires_at = expires_at;
        Some((entry.value.to_vec(), entry.revision))
    }

    /// Stores `value` under `key` until `expires_at`, making room first when
    /// the key is new and the shard is full. Returns the new revision.
    pub(super) fn save(&mut self, key: &str, value: &[u8], now: u64, expires_at: u64) -> u64 {
        self.sweep_step(now, WRITE_SWEEP_BUDGET);
        if let Some(entry) = self.map.get_mut(key) {
            self.revision += 1;
            entry.overwrite(value, expires_at, self.revision);
            return self.revision;
        }
        self.insert(key, value, now, expires_at)
    }

    /// Adds `key`, which is not in the map, making room first when the
    /// shard is full. Returns its revision.
    fn insert(&mut self, key: &str, value: &[u8], now: u64, expires_at: u64) -> u64 {
        if self.map.len() >= self.capacity {
            self.make_room(now);
        }
        self.revision += 1;
        self.map.insert(
            key.into(),
            Entry {
                value: value.into(),
                expires_at,
                revision: self.revision,
            },
        );
        self.revision
    }

    /// Stores `value` under `key` only if the key is free (`expected` is
    /// `None`) or still holds the value `expected` describes: its revision,
    /// or, without one, its bytes. One hash lookup when the key exists.
    pub(super) fn save_if(
        &mut self,
        key: &str,
        value: &[u8],
        expected: Option<(&[u8], Option<u64>)>,
        now: u64,
        expires_at: u64,
    ) -> Conditional {
        self.sweep_step(now, WRITE_SWEEP_BUDGET);
        match self.map.get_full_mut(key) {
            Some((_, _, entry)) if entry.expires_at > now => {
                let Some((bytes, revision)) = expected else {
                    return Conditional::Exists;
                };
                let unchanged = match revision {
                    Some(revision) => entry.revision == revision,
                    None => *entry.value == *bytes,
                };
                if !unchanged {
                    return Conditional::Changed(entry.value.to_vec(), entry.revision);
                }
                self.revision += 1;
                entry.overwrite(value, expires_at, self.revision);
                return Conditional::Saved(self.revision);
            }
            Some((index, _, _)) => {
                self.map.swap_remove_index(index);
            }
            None => {}
        }
        if expected.is_some() {
            return Conditional::Gone;
        }
        Conditional::Saved(self.insert(key, value, now, expires_at))
    }

    /// The entry under `key` if it has not expired; an expired one is removed.
    fn live(&mut self, key: &str, now: u64) -> Option<&mut Entry> {
        let (index, _, entry) = self.map.get_full_mut(key)?;
        if entry.expires_at <= now {
            self.map.swap_remove_index(index);
            return None;
        }
        // Looked up again: returning `entry` from here would keep `self.map`
        // borrowed in the branch above as well.
        self.map.get_index_mut(index).map(|(_, entry)| entry)
    }

    pub(super) fn delete(&mut self, key: &str) {
        self.map.swap_remove(key);
    }

    /// Examines up to `budget` entries at the cursor and removes the expired
    /// ones. `swap_remove_index` moves the last entry into the hole, which is
    /// then examined in turn, so each step is O(1). Returns how many went.
    fn sweep_step(&mut self, now: u64, budget: usize) -> usize {
        let mut removed = 0;
        for _ in 0..budget {
            if self.cursor >= self.map.len() {
                if self.map.is_empty() {
                    break;
                }
                self.cursor = 0;
            }
            let expired = self
                .map
                .get_index(self.cursor)
                .is_some_and(|(_, e)| e.expires_at <= now);
            if expired {
                self.map.swap_remove_index(self.cursor);
                removed += 1;
            } else {
                self.cursor += 1;
            }
        }
        removed
    }

    /// Frees one slot in a full shard. Expired entries go first; failing
    /// that, the entry closest to expiry among a small random sample is
    /// evicted (Redis's approximated LRU: expiry slides on every access, so
    /// closest to expiry is, for sessions sharing a TTL, least recently
    /// used).
    fn make_room(&mut self, now: u64) {
        // A full scan here would make every insert of a flood O(shard); the
        // bounded sweep plus the background sweeper reclaim expired entries.
        if self.sweep_step(now, FULL_SWEEP_BUDGET) > 0 {
            return;
        }
        let len = self.map.len();
        if len == 0 {
            return;
        }
        // Distinct entries: with repeats a sample could consist only of the
        // few most recently used sessions and evict one of them.
        let mut victim = 0;
        let mut victim_expiry = u64::MAX;
        if len <= EVICTION_SAMPLE {
            for index in 0..len {
                let expiry = self.expiry_at(index);
                if expiry < victim_expiry {
                    (victim, victim_expiry) = (index, expiry);
                }
            }
        } else {
            let mut sampled = [usize::MAX; EVICTION_SAMPLE];
            let mut taken = 0;
            while taken < EVICTION_SAMPLE {
                let candidate = self.random_index(len);
                if sampled[..taken].contains(&candidate) {
                    continue;
                }
                sampled[taken] = candidate;
                taken += 1;
                let expiry = self.expiry_at(candidate);
                if expiry < victim_expiry {
                    (victim, victim_expiry) = (candidate, expiry);
                }
            }
        }
        self.map.swap_remove_index(victim);
    }

    /// Removes every expired entry, then gives memory back when the table
    /// has become mostly empty (an eighth full or less: shrink to twice the
    /// live count, so a shard hovering around one size does not thrash).
    /// Returns about how many bytes that freed: the removed keys and values
    /// with their allocation overhead, and the table slots a shrink gave up.
    pub(super) fn sweep_all(&mut self, now: u64) -> Swept {
        let mut freed = 0;
        self.map.retain(|key, e| {
            let live = e.expires_at > now;
            if !live {
                freed += key.len() + e.value.len() + ENTRY_ALLOCATION_OVERHEAD;
            }
            live
        });
        let capacity = self.map.capacity();
        let shrank = capacity > SHRINK_MIN_CAPACITY && self.map.len() <= capacity / SHRINK_BELOW;
        if shrank {
            self.map.shrink_to(self.map.len() * 2);
            freed += capacity.saturating_sub(self.map.capacity()) * TABLE_BYTES_PER_SLOT;
        }
        if self.cursor >= self.map.len() {
            self.cursor = 0;
        }
        Swept { freed, shrank }
    }

    fn expiry_at(&self, index: usize) -> u64 {
        self.map
            .get_index(index)
            .map_or(u64::MAX, |(_, e)| e.expires_at)
    }

    /// A uniform index below `len` (wyrand, then Lemire's multiply-shift).
    fn random_index(&mut self, len: usize) -> usize {
        self.rng = self.rng.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.rng) * u128::from(self.rng ^ 0xe703_7ed1_a0b4_28db);
        let random = (t >> 64) as u64 ^ t as u64;
        ((u128::from(random) * len as u128) >> 64) as usize
    }
}
