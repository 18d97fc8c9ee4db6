//! One shard of the memory store: a hash map of its sessions, a list that
//! orders them for eviction (a segmented LRU), its byte count, and the state
//! of its amortised sweep.
//!
//! Everything here is synchronous and runs under the shard's mutex.
//!
//! # Eviction order
//!
//! The entries form one doubly linked list, threaded through the map's
//! entries by index, oldest first:
//!
//! ```text
//! head                                                              tail
//!  [ probation: oldest … newest ][ protected: least … most recently used ]
//!                                 ^ boundary
//! ```
//!
//! A new entry joins probation as its newest member (just before
//! `boundary`). A hit (a load, or an overwrite of a live entry) moves the
//! entry to the tail, into protected. Protected holds at most
//! `protected_capacity` entries; past that, its least recently used entry
//! leaves it, which only moves `boundary` one step: that entry becomes the
//! newest of probation. Eviction takes the head: the oldest entry of
//! probation, and only when probation is empty the least recently used one
//! of protected. Every step is O(1).

use foldhash::fast::RandomState;
use indexmap::IndexMap;

/// Entries a `save` examines at the sweep cursor, removing expired ones.
const WRITE_SWEEP_BUDGET: usize = 2;
/// Entries examined at the sweep cursor when a write finds the shard full,
/// before falling back to eviction.
const FULL_SWEEP_BUDGET: usize = 16;
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
pub(super) const ENTRY_ALLOCATION_OVERHEAD: usize = 32;
/// What a table holds per entry when full: a 64-byte slot of the entry
/// vector (hash, `Box<str>` key, [`Entry`]) and 8/7 of a 9-byte index slot
/// (the index's load factor is 7/8), rounded down.
pub(super) const TABLE_BYTES_PER_SLOT: usize = 74;
/// What an entry counts against the byte budget besides its key and value.
pub(super) const ENTRY_OVERHEAD: usize = TABLE_BYTES_PER_SLOT + ENTRY_ALLOCATION_OVERHEAD;
/// The protected segment holds at most this many fifths of the shard's
/// capacity.
const PROTECTED_FIFTHS: usize = 4;
/// The end of the list: no entry.
const NIL: u32 = u32::MAX;
/// The most entries a shard holds: list links are `u32` indices below `NIL`.
pub(super) const MAX_ENTRIES: usize = NIL as usize;
/// The bit of [`Entry::stamp`] that says the entry is in protected.
const PROTECTED: u64 = 1 << 63;

/// What an entry of `key_len` and `value_len` bytes counts against the
/// byte budget.
pub(super) fn charge(key_len: usize, value_len: usize) -> usize {
    key_len
        .saturating_add(value_len)
        .saturating_add(ENTRY_OVERHEAD)
}

/// What a full sweep of a shard did.
pub(super) struct Swept {
    /// About how many bytes it freed.
    pub(super) freed: usize,
    /// The table was under an eighth full and was shrunk: the shard holds
    /// far fewer sessions than it once did.
    pub(super) shrank: bool,
}

/// A stored session. 40 bytes: the value's fat pointer, the expiry, the
/// revision with the segment bit, and the two list links.
pub(super) struct Entry {
    value: Box<[u8]>,
    /// Milliseconds since the store's epoch; expired once `now >= expires_at`.
    expires_at: u64,
    /// The low 63 bits: the revision, which changes on every write of this
    /// key and which a conditional save compares (a shard-wide counter: it
    /// would take 2^63 writes to reach the top bit). The top bit
    /// ([`PROTECTED`]): the entry is in the protected segment.
    stamp: u64,
    /// The next older entry in the eviction list, or `NIL`.
    prev: u32,
    /// The next newer entry in the eviction list, or `NIL`.
    next: u32,
}

impl Entry {
    fn revision(&self) -> u64 {
        self.stamp & !PROTECTED
    }

    fn is_protected(&self) -> bool {
        self.stamp & PROTECTED != 0
    }

    fn set_protected(&mut self, protected: bool) {
        if protected {
            self.stamp |= PROTECTED;
        } else {
            self.stamp &= !PROTECTED;
        }
    }

    /// Replaces the value (in place when the length is the same), keeping
    /// the segment.
    fn overwrite(&mut self, value: &[u8], expires_at: u64, revision: u64) {
        if self.value.len() == value.len() {
            self.value.copy_from_slice(value);
        } else {
            self.value = value.into();
        }
        self.expires_at = expires_at;
        self.stamp = revision | (self.stamp & PROTECTED);
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
    // The keys are `prefix + id` (or the id's hash) where the id is
    // server-generated and random (the layer never stores under an id a
    // client chose), so nobody can craft colliding keys; a fast,
    // non-DoS-resistant hasher is enough. It is randomly seeded per shard
    // anyway.
    map: IndexMap<Box<str>, Entry, RandomState>,
    /// At most this many entries, live or expired.
    capacity: usize,
    /// The sum of the entries' [`charge`]s never exceeds this.
    max_bytes: usize,
    /// The sum of the entries' [`charge`]s.
    bytes: usize,
    /// At most this many entries are in protected.
    protected_capacity: usize,
    /// How many entries are in protected.
    protected_len: usize,
    /// The oldest entry (evicted first), or `NIL` when empty.
    head: u32,
    /// The most recently used entry, or `NIL` when empty.
    tail: u32,
    /// The least recently used entry of protected, or `NIL` when protected
    /// is empty. Every entry before it is in probation, every entry from it
    /// on in protected.
    boundary: u32,
    /// Position of the amortised sweep in `map`'s index order.
    cursor: usize,
    /// The last revision given to a write. Shard-wide, so a key deleted and
    /// written again never gets back a revision it had.
    revision: u64,
}

impl Shard {
    /// An empty shard of at most `capacity` entries (clamped to
    /// [`MAX_ENTRIES`]) whose charges add up to at most `max_bytes`.
    pub(super) fn new(capacity: usize, max_bytes: usize) -> Shard {
        let capacity = capacity.min(MAX_ENTRIES);
        Shard {
            map: IndexMap::with_hasher(RandomState::default()),
            capacity,
            max_bytes,
            bytes: 0,
            protected_capacity: capacity / 5 * PROTECTED_FIFTHS
                + capacity % 5 * PROTECTED_FIFTHS / 5,
            protected_len: 0,
            head: NIL,
            tail: NIL,
            boundary: NIL,
            cursor: 0,
            revision: 0,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(super) fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// The sum of the entries' charges against the byte budget.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether `value` under `key` fits the byte budget, once every other
    /// entry is gone.
    pub(super) fn fits(&self, key: &str, value: &[u8]) -> bool {
        charge(key.len(), value.len()) <= self.max_bytes
    }

    #[cfg(test)]
    pub(super) fn table_capacity(&self) -> usize {
        self.map.capacity()
    }

    #[cfg(test)]
    pub(super) fn protected_len(&self) -> usize {
        self.protected_len
    }

    /// Every entry, oldest (first to be evicted) first: key, value, expiry
    /// and whether it is in protected.
    pub(super) fn entries_oldest_first(&self) -> impl Iterator<Item = (&str, &[u8], u64, bool)> {
        let mut next = self.head;
        std::iter::from_fn(move || {
            if next == NIL {
                return None;
            }
            let (key, entry) = self.map.get_index(next as usize)?;
            next = entry.next;
            Some((
                &**key,
                &*entry.value,
                entry.expires_at,
                entry.is_protected(),
            ))
        })
    }

    /// The value under `key` and its revision, sliding its expiry to
    /// `expires_at` and moving it to protected; an expired entry is removed
    /// and reads as missing.
    #[inline]
    pub(super) fn load(&mut self, key: &str, now: u64, expires_at: u64) -> Option<(Vec<u8>, u64)> {
        let index = self.live(key, now)?;
        self.promote(index);
        let entry = &mut self.map[index];
        entry.expires_at = expires_at;
        Some((entry.value.to_vec(), entry.revision()))
    }

    /// Stores `value` under `key` until `expires_at`, making room first when
    /// needed. Returns the new revision. The caller has checked that the
    /// value [`fits`](Self::fits).
    pub(super) fn save(&mut self, key: &str, value: &[u8], now: u64, expires_at: u64) -> u64 {
        self.sweep_step(now, WRITE_SWEEP_BUDGET);
        match self.map.get_full(key) {
            Some((index, _, entry)) if entry.expires_at > now => {
                self.overwrite(index, value, now, expires_at)
            }
            Some((index, _, _)) => {
                self.remove_index(index);
                self.insert(key, value, now, expires_at, false)
            }
            None => self.insert(key, value, now, expires_at, false),
        }
    }

    /// Copies an entry of another store into this one, in its segment,
    /// making room as a save would; one that does not fit the byte budget
    /// is left out.
    pub(super) fn restore(
        &mut self,
        key: &str,
        value: &[u8],
        now: u64,
        expires_at: u64,
        protected: bool,
    ) {
        if self.fits(key, value) {
            self.insert(key, value, now, expires_at, protected);
        }
    }

    /// Stores `value` under `key` only if the key is free (`expected` is
    /// `None`) or still holds the value `expected` describes: its revision,
    /// or, without one, its bytes. One hash lookup when the key exists. The
    /// caller has checked that the value [`fits`](Self::fits).
    #[inline]
    pub(super) fn save_if(
        &mut self,
        key: &str,
        value: &[u8],
        expected: Option<(&[u8], Option<u64>)>,
        now: u64,
        expires_at: u64,
    ) -> Conditional {
        self.sweep_step(now, WRITE_SWEEP_BUDGET);
        match self.map.get_full(key) {
            Some((index, _, entry)) if entry.expires_at > now => {
                let Some((bytes, revision)) = expected else {
                    return Conditional::Exists;
                };
                let unchanged = match revision {
                    Some(revision) => entry.revision() == revision,
                    None => *entry.value == *bytes,
                };
                if !unchanged {
                    return Conditional::Changed(entry.value.to_vec(), entry.revision());
                }
                return Conditional::Saved(self.overwrite(index, value, now, expires_at));
            }
            Some((index, _, _)) => {
                self.remove_index(index);
            }
            None => {}
        }
        if expected.is_some() {
            return Conditional::Gone;
        }
        Conditional::Saved(self.insert(key, value, now, expires_at, false))
    }

    /// How many milliseconds the entry under `key` has left to live at
    /// `now`, without touching it (no sliding, no move in the eviction
    /// order); `None` when it is missing or expired (an expired one is
    /// removed).
    pub(super) fn remaining(&mut self, key: &str, now: u64) -> Option<u64> {
        let index = self.live(key, now)?;
        Some(self.map[index].expires_at - now)
    }

    pub(super) fn delete(&mut self, key: &str) {
        if let Some(index) = self.map.get_index_of(key) {
            self.remove_index(index);
        }
    }

    /// The index of the entry under `key` if it has not expired; an expired
    /// one is removed.
    #[inline]
    fn live(&mut self, key: &str, now: u64) -> Option<usize> {
        let (index, _, entry) = self.map.get_full(key)?;
        if entry.expires_at <= now {
            self.remove_index(index);
            return None;
        }
        Some(index)
    }

    /// Adds `key`, which is not in the map, making room first. Returns its
    /// revision.
    #[inline]
    fn insert(
        &mut self,
        key: &str,
        value: &[u8],
        now: u64,
        expires_at: u64,
        protected: bool,
    ) -> u64 {
        let charge = charge(key.len(), value.len());
        self.make_room(now, charge);
        self.revision += 1;
        let entry = Entry {
            value: value.into(),
            expires_at,
            stamp: self.revision,
            prev: NIL,
            next: NIL,
        };
        self.push(key.into(), entry, charge, protected);
        self.revision
    }

    /// Adds an entry whose key is not in the map and for which there is
    /// room, as the newest of probation, then moves it to protected if
    /// `protected`.
    #[inline]
    fn push(&mut self, key: Box<str>, entry: Entry, charge: usize, protected: bool) {
        let index = self.map.len();
        self.map.insert(key, entry);
        self.bytes += charge;
        self.link_probation(index as u32);
        if protected {
            self.promote(index);
        }
    }

    /// Writes `value` into the live entry at `index`, which moves to
    /// protected. When the value grew past what the byte budget has left,
    /// other entries are evicted for it, never this one. Returns the new
    /// revision.
    #[inline]
    fn overwrite(&mut self, index: usize, value: &[u8], now: u64, expires_at: u64) -> u64 {
        let old_len = self.map[index].value.len();
        let grown = value.len().saturating_sub(old_len);
        if grown > self.max_bytes - self.bytes {
            return self.overwrite_making_room(index, value, now, expires_at);
        }
        self.bytes = self.bytes - old_len + value.len();
        self.revision += 1;
        self.promote(index);
        self.map[index].overwrite(value, expires_at, self.revision);
        self.revision
    }

    /// [`overwrite`](Self::overwrite) when room must be made first: the
    /// entry is taken out while room is made, so that eviction cannot pick
    /// it, then put back as the most recently used.
    #[inline(never)]
    fn overwrite_making_room(
        &mut self,
        index: usize,
        value: &[u8],
        now: u64,
        expires_at: u64,
    ) -> u64 {
        let (key, mut entry) = self.remove_index(index);
        let charge = charge(key.len(), value.len());
        self.make_room(now, charge);
        self.revision += 1;
        entry.overwrite(value, expires_at, self.revision);
        entry.set_protected(false);
        self.push(key, entry, charge, true);
        self.revision
    }

    /// Makes room for one more entry of `charge` bytes (at most
    /// `max_bytes`): expired entries at the sweep cursor first, then the
    /// oldest of the eviction list.
    #[inline]
    fn make_room(&mut self, now: u64, charge: usize) {
        if !self.has_room(charge) {
            self.evict_for(now, charge);
        }
    }

    /// [`make_room`](Self::make_room) when the shard is full.
    #[inline(never)]
    fn evict_for(&mut self, now: u64, charge: usize) {
        // A full scan here would make every insert of a flood O(shard); the
        // bounded sweep plus the background sweeper reclaim expired entries.
        if self.sweep_step(now, FULL_SWEEP_BUDGET) > 0 && self.has_room(charge) {
            return;
        }
        while !self.has_room(charge) && self.head != NIL {
            self.remove_index(self.head as usize);
        }
    }

    #[inline]
    fn has_room(&self, charge: usize) -> bool {
        // `bytes <= max_bytes` always holds.
        self.map.len() < self.capacity && charge <= self.max_bytes - self.bytes
    }

    /// Removes the entry at `index`, from the list too, and returns it.
    /// `swap_remove_index` moves the last entry into the hole: its
    /// neighbours are pointed at its new index.
    fn remove_index(&mut self, index: usize) -> (Box<str>, Entry) {
        self.unlink(index as u32);
        let last = self.map.len() - 1;
        let (key, entry) = self
            .map
            .swap_remove_index(index)
            .expect("the index of an entry");
        if index != last {
            self.relink_moved(last as u32, index as u32);
        }
        if entry.is_protected() {
            self.protected_len -= 1;
        }
        self.bytes -= charge(key.len(), entry.value.len());
        (key, entry)
    }

    /// Moves the entry at `index` to the tail, into protected; past
    /// protected's capacity, protected's least recently used entry goes
    /// back to probation, as its newest.
    #[inline]
    fn promote(&mut self, index: usize) {
        if self.tail != index as u32 || !self.map[index].is_protected() {
            self.move_to_protected(index);
        }
    }

    /// [`promote`](Self::promote) when the entry is not already the most
    /// recently used.
    #[inline(never)]
    fn move_to_protected(&mut self, index: usize) {
        let i = index as u32;
        let protected = self.map[index].is_protected();
        self.unlink(i);
        self.link_tail(i);
        if protected {
            return;
        }
        self.map[index].set_protected(true);
        self.protected_len += 1;
        if self.boundary == NIL {
            self.boundary = i;
        }
        if self.protected_len > self.protected_capacity {
            // Protected is not empty: `boundary` is an entry. It stays where
            // it is, now the newest of probation.
            let oldest = &mut self.map[self.boundary as usize];
            oldest.set_protected(false);
            self.boundary = oldest.next;
            self.protected_len -= 1;
        }
    }

    /// Takes the entry at `i` out of the list.
    fn unlink(&mut self, i: u32) {
        let entry = &self.map[i as usize];
        let (prev, next) = (entry.prev, entry.next);
        match prev {
            NIL => self.head = next,
            prev => self.map[prev as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            next => self.map[next as usize].prev = prev,
        }
        if self.boundary == i {
            self.boundary = next;
        }
    }

    /// Links the entry at `i`, not in the list, at the tail.
    fn link_tail(&mut self, i: u32) {
        let tail = self.tail;
        let entry = &mut self.map[i as usize];
        entry.prev = tail;
        entry.next = NIL;
        match tail {
            NIL => self.head = i,
            tail => self.map[tail as usize].next = i,
        }
        self.tail = i;
    }

    /// Links the entry at `i`, not in the list, as the newest of probation:
    /// just before protected.
    fn link_probation(&mut self, i: u32) {
        let boundary = self.boundary;
        if boundary == NIL {
            return self.link_tail(i);
        }
        let prev = self.map[boundary as usize].prev;
        let entry = &mut self.map[i as usize];
        entry.prev = prev;
        entry.next = boundary;
        self.map[boundary as usize].prev = i;
        match prev {
            NIL => self.head = i,
            prev => self.map[prev as usize].next = i,
        }
    }

    /// The entry that was at index `from` is now at `to`: points its
    /// neighbours (and the list's ends) at it.
    fn relink_moved(&mut self, from: u32, to: u32) {
        let entry = &self.map[to as usize];
        let (prev, next) = (entry.prev, entry.next);
        match prev {
            NIL => self.head = to,
            prev => self.map[prev as usize].next = to,
        }
        match next {
            NIL => self.tail = to,
            next => self.map[next as usize].prev = to,
        }
        if self.boundary == from {
            self.boundary = to;
        }
    }

    /// Examines up to `budget` entries at the cursor and removes the expired
    /// ones. A removal moves the last entry into the hole, which is then
    /// examined in turn, so each step is O(1). Returns how many went.
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
                self.remove_index(self.cursor);
                removed += 1;
            } else {
                self.cursor += 1;
            }
        }
        removed
    }

    /// Removes every expired entry, then gives memory back when the table
    /// has become mostly empty (an eighth full or less: shrink to twice the
    /// live count, so a shard hovering around one size does not thrash).
    /// Returns about how many bytes that freed: the removed keys and values
    /// with their allocation overhead, and the table slots a shrink gave up.
    pub(super) fn sweep_all(&mut self, now: u64) -> Swept {
        let mut freed = 0;
        // Where each entry will be once the expired ones are gone (`NIL`:
        // removed). In bulk, rather than one `remove_index` each, so that
        // the hash index is rebuilt without the tombstones single removals
        // leave (they would also hide how empty the table is).
        let mut new_index = Vec::with_capacity(self.map.len());
        let mut kept = 0;
        for (key, entry) in &self.map {
            if entry.expires_at > now {
                new_index.push(kept);
                kept += 1;
            } else {
                new_index.push(NIL);
                freed += key.len() + entry.value.len() + ENTRY_ALLOCATION_OVERHEAD;
                self.bytes -= charge(key.len(), entry.value.len());
                self.protected_len -= usize::from(entry.is_protected());
            }
        }
        if kept as usize != self.map.len() {
            self.relink_survivors(&new_index);
            self.map.retain(|_, entry| entry.expires_at > now);
        }
        let capacity = self.map.capacity();
        let shrank = capacity > SHRINK_MIN_CAPACITY && self.map.len() <= capacity / SHRINK_BELOW;
        if shrank {
            // Keeps every entry at its index: the links stay valid.
            self.map.shrink_to(self.map.len() * 2);
            freed += capacity.saturating_sub(self.map.capacity()) * TABLE_BYTES_PER_SLOT;
        }
        if self.cursor >= self.map.len() {
            self.cursor = 0;
        }
        Swept { freed, shrank }
    }

    /// Links the entries that `new_index` keeps in their list order, by the
    /// indices they will have once the others are removed (`retain` keeps
    /// their order); the others are left out of the list.
    fn relink_survivors(&mut self, new_index: &[u32]) {
        let mut at = self.head;
        let (mut last_old, mut last_new) = (NIL, NIL);
        self.head = NIL;
        self.boundary = NIL;
        while at != NIL {
            let entry = &mut self.map[at as usize];
            let next = entry.next;
            let new = new_index[at as usize];
            if new != NIL {
                entry.prev = last_new;
                if entry.is_protected() && self.boundary == NIL {
                    self.boundary = new;
                }
                match last_old {
                    NIL => self.head = new,
                    last => self.map[last as usize].next = new,
                }
                (last_old, last_new) = (at, new);
            }
            at = next;
        }
        if last_old != NIL {
            self.map[last_old as usize].next = NIL;
        }
        self.tail = last_new;
    }

    /// Checks every invariant of the list and the counters; panics with
    /// what is wrong.
    #[cfg(test)]
    pub(super) fn check(&self) {
        let len = self.map.len();
        assert!(len <= self.capacity, "{len} entries over {}", self.capacity);
        let mut seen = 0;
        let mut prev = NIL;
        let mut at = self.head;
        let mut in_protected = false;
        let mut protected = 0;
        while at != NIL {
            let entry = &self.map[at as usize];
            assert_eq!(entry.prev, prev, "back link of {at}");
            if at == self.boundary {
                in_protected = true;
            }
            assert_eq!(entry.is_protected(), in_protected, "segment of {at}");
            protected += usize::from(in_protected);
            seen += 1;
            assert!(seen <= len, "the list has a cycle");
            prev = at;
            at = entry.next;
        }
        assert_eq!(self.tail, prev, "tail");
        assert_eq!(seen, len, "entries not in the list");
        assert!(
            self.boundary == NIL || in_protected,
            "boundary not in the list"
        );
        assert_eq!(protected, self.protected_len, "protected count");
        assert!(self.protected_len <= self.protected_capacity);
        let bytes: usize = self
            .map
            .iter()
            .map(|(k, e)| charge(k.len(), e.value.len()))
            .sum();
        assert_eq!(bytes, self.bytes, "byte count");
        assert!(self.bytes <= self.max_bytes, "over the byte budget");
    }
}
