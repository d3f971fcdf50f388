//! The fast path of [`super::decode`]: a byte scanner for the one frame that
//! arrives hundreds of thousands of times a second, an `eth_subscription`
//! notification carrying a pending transaction or its hash. It reads the
//! fields the stats use straight into alloy's primitive types and steps over
//! everything else by its JSON grammar, building nothing.
//!
//! Strings are most of a frame's bytes (hashes, signatures, calldata), so
//! the scanner never walks them byte by byte. It loads the frame 64 bytes
//! at a time and, with vector compares, checks each block for backslashes
//! and control characters; where there are none, every quote opens or
//! closes a string, and the block's quotes become a bit mask ([`Quotes`]).
//! A string is then the next two bits of that mask, whatever its length.
//!
//! It only answers when it is sure: anything unusual (another message, any
//! backslash or control character in the frame, a repeated field, a
//! quantity that is not plain hex, deep nesting) makes it decline, and the
//! serde decoder then has the final word. So whatever the scanner accepts,
//! serde accepts with the same result, and the tests hold it to that over
//! every truncation and many corruptions of real frames.

use alloy::primitives::{hex, Address, FixedBytes, B256, U256};
use wide::u8x64;

use super::decode::{Frame, PendingTx};

/// Nesting the scanner follows before it leaves a frame to serde.
const MAX_DEPTH: usize = 64;

/// The frame, when it is a pending-transaction notification the scanner is
/// sure of; `None` leaves it to the serde decoder.
pub(super) fn notification(text: &str) -> Option<Frame> {
    let mut cursor = Cursor {
        text,
        at: 0,
        quotes: Quotes::new(text.as_bytes()),
    };
    let frame = cursor.envelope()?;
    cursor.whitespace();
    (cursor.at == text.len()).then_some(frame)
}

/// Sets a field read once; a second time declines the frame (serde reports
/// the repetition).
fn once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value);
    Some(())
}

/// The 64 bytes of `bytes` from `start`, the tail padded with spaces
/// (neither a quote, a backslash nor a control character).
#[inline(always)]
fn block_at(bytes: &[u8], start: usize) -> u8x64 {
    let chunk = bytes
        .get(start..bytes.len().min(start + 64))
        .unwrap_or_default();
    match <[u8; 64]>::try_from(chunk) {
        Ok(whole) => u8x64::from(whole),
        Err(_) => {
            let mut padded = [b' '; 64];
            padded[..chunk.len()].copy_from_slice(chunk);
            u8x64::from(padded)
        }
    }
}

/// The quotes of a frame, in order, found 64 bytes at a time as a bit mask
/// (bit `i` of a block's mask is byte `start + i`). The cursor reads
/// strings in the order they come and no other token holds a quote, so the
/// quote it needs next is always the first one not taken yet.
///
/// A block with a backslash or a control character (JSON's whitespace but
/// the space) ends the scan: a string there may hold an escape, and a quote
/// may then not start or end one. Every byte of every string is in a block
/// loaded to find its quotes, and bytes between strings are read by the
/// grammar, which takes only spaces, so nothing unusual goes unseen.
struct Quotes<'a> {
    bytes: &'a [u8],
    /// Where the loaded block starts.
    start: usize,
    /// The loaded block's quotes not taken yet.
    left: u64,
    /// Where the block after it starts.
    next: usize,
}

impl<'a> Quotes<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            start: 0,
            left: 0,
            next: 0,
        }
    }

    /// The next quote not taken yet; `None` past the last one, or at a
    /// block that is not plain.
    #[inline(always)]
    fn take(&mut self) -> Option<usize> {
        while self.left == 0 {
            self.load()?;
        }
        let at = self.start + self.left.trailing_zeros() as usize;
        self.left &= self.left - 1;
        Some(at)
    }

    /// Loads the next block's quotes.
    #[inline(never)]
    fn load(&mut self) -> Option<()> {
        if self.next >= self.bytes.len() {
            return None;
        }
        let block = block_at(self.bytes, self.next);
        let odd = block.min(u8x64::splat(0x1f)).simd_eq(block) | block.simd_eq(u8x64::splat(b'\\'));
        if odd.any() {
            return None;
        }
        self.start = self.next;
        self.left = block.simd_eq(u8x64::splat(b'"')).to_bitmask();
        self.next += 64;
        Some(())
    }
}

fn hex_digit(digit: u8) -> Option<u128> {
    let value = match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        b'A'..=b'F' => digit - b'A' + 10,
        _ => return None,
    };
    Some(u128::from(value))
}

struct Cursor<'a> {
    text: &'a str,
    at: usize,
    quotes: Quotes<'a>,
}

impl<'a> Cursor<'a> {
    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    /// Spaces: the only whitespace the scanner takes (at a tab or a line
    /// break the next token is not what it expects, and serde decides).
    #[inline(always)]
    fn whitespace(&mut self) {
        while self.peek() == Some(b' ') {
            self.at += 1;
        }
    }

    /// The top level: `jsonrpc`, `method` and `params`, in any order.
    fn envelope(&mut self) -> Option<Frame> {
        let mut method = None;
        let mut payload = None;
        self.object(|cursor, key| match key {
            b"jsonrpc" => cursor.skip(1),
            b"method" => once(&mut method, cursor.string_bytes()?),
            b"params" => once(&mut payload, cursor.params()?),
            // `id`, `result`, `error`: a reply, which serde reads.
            _ => None,
        })?;
        if method? != b"eth_subscription" {
            return None;
        }
        payload
    }

    /// `params`: its `result` kept, anything else stepped over.
    fn params(&mut self) -> Option<Frame> {
        let mut payload = None;
        self.object(|cursor, key| match key {
            b"result" => once(&mut payload, cursor.payload()?),
            _ => cursor.skip(2),
        })?;
        payload
    }

    /// A whole transaction, or a hash.
    fn payload(&mut self) -> Option<Frame> {
        match self.peek()? {
            b'{' => self.transaction().map(Frame::Transaction),
            b'"' => self.fixed().map(Frame::Hash),
            _ => None,
        }
    }

    fn transaction(&mut self) -> Option<PendingTx> {
        let mut hash = None;
        let mut from = None;
        let mut to = None;
        let mut value = None;
        let mut gas_price = None;
        let mut max_fee_per_gas = None;
        self.object(|cursor, key| match key {
            b"hash" => once(&mut hash, cursor.fixed::<32>()?),
            b"from" => once(&mut from, cursor.nullable(Self::address)?),
            b"to" => once(&mut to, cursor.nullable(Self::address)?),
            b"value" => once(&mut value, cursor.quantity()?),
            b"gasPrice" => once(&mut gas_price, cursor.nullable(Self::quantity)?),
            b"maxFeePerGas" => once(&mut max_fee_per_gas, cursor.nullable(Self::quantity)?),
            _ => cursor.skip(3),
        })?;
        Some(PendingTx {
            hash: B256::from(hash?),
            from: from.flatten(),
            to: to.flatten(),
            value: value.unwrap_or_default(),
            gas_price: gas_price.flatten(),
            max_fee_per_gas: max_fee_per_gas.flatten(),
        })
    }

    /// An object, calling `field` with each key and the cursor on its value.
    fn object(&mut self, mut field: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        self.whitespace();
        if self.peek()? != b'{' {
            return None;
        }
        self.at += 1;
        self.whitespace();
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        loop {
            self.whitespace();
            let key = self.string_bytes()?;
            self.whitespace();
            if self.peek()? != b':' {
                return None;
            }
            self.at += 1;
            self.whitespace();
            field(self, key)?;
            self.whitespace();
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A string's bytes between its quotes (the frame has no escapes: it
    /// ends at the next quote).
    #[inline(always)]
    fn string_bytes(&mut self) -> Option<&'a [u8]> {
        let bytes = self.text.as_bytes();
        // The opening quote is the next one, here; anything else means the
        // frame is not what the scanner thinks, and serde decides.
        if self.quotes.take()? != self.at {
            return None;
        }
        let start = self.at + 1;
        let end = self.quotes.take()?;
        self.at = end + 1;
        bytes.get(start..end)
    }

    /// `0x` and exactly `2 * N` hex digits.
    fn fixed<const N: usize>(&mut self) -> Option<FixedBytes<N>> {
        let digits = self.string_bytes()?.strip_prefix(b"0x")?;
        let mut out = [0u8; N];
        if digits.len() != 2 * N {
            return None;
        }
        hex::decode_to_slice(digits, &mut out).ok()?;
        Some(FixedBytes(out))
    }

    fn address(&mut self) -> Option<Address> {
        self.fixed::<20>().map(Address::from)
    }

    /// `0x` and one to 64 hex digits.
    fn quantity(&mut self) -> Option<U256> {
        let digits = self.string_bytes()?.strip_prefix(b"0x")?;
        match digits.len() {
            // Fees and values fit in 128 bits: read them without ruint.
            1..=32 => digits
                .iter()
                .try_fold(0u128, |sum, &digit| Some(sum << 4 | hex_digit(digit)?))
                .map(U256::from),
            33..=64 => U256::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok(),
            _ => None,
        }
    }

    /// `null`, or what `read` reads.
    fn nullable<T>(&mut self, read: fn(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.peek()? == b'n' {
            return self.literal("null").map(|()| None);
        }
        read(self).map(Some)
    }

    /// Steps over any JSON value at nesting `depth`.
    #[inline(always)]
    fn skip(&mut self, depth: usize) -> Option<()> {
        // Most values are strings: no call for them.
        if self.peek()? == b'"' {
            return self.skip_string();
        }
        self.skip_other(depth)
    }

    /// Steps over a value that is not a string.
    fn skip_other(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'{' => self.object(|cursor, _| cursor.skip(depth + 1)),
            b'[' => self.skip_array(depth),
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            b'-' | b'0'..=b'9' => self.skip_number(),
            _ => None,
        }
    }

    /// A string, whatever its length, by its two quotes.
    #[inline]
    fn skip_string(&mut self) -> Option<()> {
        self.string_bytes().map(|_| ())
    }

    fn skip_array(&mut self, depth: usize) -> Option<()> {
        self.at += 1;
        self.whitespace();
        if self.peek()? == b']' {
            self.at += 1;
            return Some(());
        }
        loop {
            self.whitespace();
            self.skip(depth + 1)?;
            self.whitespace();
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        let end = self.at + word.len();
        if self.text.as_bytes().get(self.at..end)? != word.as_bytes() {
            return None;
        }
        self.at = end;
        Some(())
    }

    /// `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn skip_number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.at_least_one_digit()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            self.at_least_one_digit()?;
        }
        Some(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
    }

    fn at_least_one_digit(&mut self) -> Option<()> {
        let start = self.at;
        self.digits();
        (self.at > start).then_some(())
    }
}

#[cfg(test)]
#[path = "scan_tests.rs"]
mod tests;
