//! Which pending transactions were seen recently, by hash: the first thing
//! the stream asks of every frame, hundreds of thousands of times a second.
//! Two generations bound the memory at any rate. Each is an open-addressing
//! set of 64-bit keys probed linearly, so a lookup is one cache line of
//! the table almost always; a general hash set reads a control byte and
//! then the entry, two misses in a table far larger than the cache.

use alloy::primitives::B256;

/// Slots of an empty generation's table (it doubles as it fills).
const SMALLEST_TABLE: usize = 1024;

/// What a hash is remembered by: its four 8-byte words folded into one by
/// a multiply and a turn after each. Hashes are keccak outputs, so two
/// pending transactions share a key by a 2^-64 accident (at a million
/// remembered, one in ten million million arrivals), and making one share
/// the key of a given transaction takes about 2^64 hashing; what that buys
/// is one sighting counted as a duplicate. The fold is not linear, so
/// made-up hashes (a counter in any word, a repeated byte) stay apart too,
/// where XORing the words would put whole families on one key.
fn key_of(hash: &B256) -> u64 {
    hash.0.chunks_exact(8).fold(0, |key: u64, word| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        (key ^ u64::from_be_bytes(bytes))
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29)
    })
}

/// A set of 64-bit keys: a power-of-two table at most half full, probed
/// linearly from the slot the key's multiplied high bits name. Zero marks
/// an empty slot, so the key zero is kept aside.
#[derive(Debug)]
struct KeySet {
    slots: Vec<u64>,
    /// Keys in `slots`.
    len: usize,
    /// The key zero is in the set.
    has_zero: bool,
    /// 64 minus log2 of the table size.
    shift: u32,
}

impl KeySet {
    /// A set that holds `keys` without growing.
    fn for_keys(keys: usize) -> Self {
        let size = (keys.saturating_mul(2))
            .next_power_of_two()
            .max(SMALLEST_TABLE);
        Self {
            slots: vec![0; size],
            len: 0,
            has_zero: false,
            shift: 64 - size.trailing_zeros(),
        }
    }

    fn len(&self) -> usize {
        self.len + usize::from(self.has_zero)
    }

    /// Where `key`'s probe starts: the high bits of a multiply, which
    /// spread counters and other made-up keys as well as keccak's.
    #[inline(always)]
    fn home(&self, key: u64) -> usize {
        (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift) as usize
    }

    fn contains(&self, key: u64) -> bool {
        if key == 0 {
            return self.has_zero;
        }
        let mask = self.slots.len() - 1;
        let mut at = self.home(key);
        loop {
            match self.slots.get(at).copied() {
                Some(slot) if slot == key => return true,
                Some(0) | None => return false,
                Some(_) => at = (at + 1) & mask,
            }
        }
    }

    /// The slot `key`'s probe starts at.
    #[inline(always)]
    fn first_slot(&self, key: u64) -> u64 {
        self.slots.get(self.home(key)).copied().unwrap_or_default()
    }

    /// Adds `key`; whether it was new.
    #[inline]
    fn insert(&mut self, key: u64) -> bool {
        if key == 0 {
            return !std::mem::replace(&mut self.has_zero, true);
        }
        let mask = self.slots.len() - 1;
        let mut at = self.home(key);
        loop {
            let Some(slot) = self.slots.get_mut(at) else {
                return false;
            };
            if *slot == key {
                return false;
            }
            if *slot == 0 {
                *slot = key;
                self.len += 1;
                if self.len * 2 > self.slots.len() {
                    self.grow();
                }
                return true;
            }
            at = (at + 1) & mask;
        }
    }

    /// Doubles the table and puts every key back.
    #[cold]
    fn grow(&mut self) {
        let mut bigger = Self::for_keys(self.slots.len());
        for &key in self.slots.iter().filter(|&&key| key != 0) {
            bigger.insert(key);
        }
        bigger.has_zero = self.has_zero;
        *self = bigger;
    }
}

/// Hashes seen recently, in two generations: a hash is remembered for
/// between one and two `ttl_us`, and a generation that reaches `capacity`
/// is retired early, so memory stays bounded under any arrival rate.
#[derive(Debug)]
pub struct Dedup {
    ttl_us: u64,
    capacity: usize,
    current: KeySet,
    previous: KeySet,
    started_us: u64,
}

impl Dedup {
    /// Remembers hashes for `ttl_us`, at most `capacity` per generation.
    pub fn new(ttl_us: u64, capacity: usize) -> Self {
        Self {
            ttl_us,
            capacity: capacity.max(1),
            current: KeySet::for_keys(0),
            previous: KeySet::for_keys(0),
            started_us: 0,
        }
    }

    /// Reads the slot each of `hashes` will be looked up at first, one
    /// read after another without waiting for any: a batch's lookups then
    /// find their slots in the cache, where one at a time each waits for
    /// memory (the table of a busy pool is megabytes, and a hash goes
    /// anywhere in it). It changes nothing; the lookups are
    /// [`Self::first_time`]'s.
    pub fn prepare<'h>(&self, hashes: impl Iterator<Item = &'h B256>) {
        let mut read = 0u64;
        for hash in hashes {
            let key = key_of(hash);
            read ^= self.current.first_slot(key);
            if self.previous.len() > 0 {
                read ^= self.previous.first_slot(key);
            }
        }
        // The reads are kept: without a use the compiler would drop them.
        std::hint::black_box(read);
    }

    /// Whether `hash` is new at `now_us` (and remembers it).
    pub fn first_time(&mut self, hash: B256, now_us: u64) -> bool {
        if now_us.saturating_sub(self.started_us) >= self.ttl_us
            || self.current.len() >= self.capacity
        {
            // The next generation starts at the size of the last one, so a
            // busy pool does not grow its way up again.
            let sized = KeySet::for_keys(self.current.len());
            self.previous = std::mem::replace(&mut self.current, sized);
            self.started_us = now_us;
        }
        let key = key_of(&hash);
        if self.previous.len() > 0 && self.previous.contains(key) {
            return false;
        }
        self.current.insert(key)
    }
}

#[cfg(test)]
#[path = "dedup_tests.rs"]
mod tests;
