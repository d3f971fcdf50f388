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
        tx: TxFields::default(),
    };
    let payload = cursor.envelope()?;
    cursor.whitespace();
    if cursor.at != text.len() {
        return None;
    }
    // The frame is built once, here: a pending transaction is a few hundred
    // bytes, and handing it up through every level of the grammar cost more
    // in copies than reading it.
    Some(match payload {
        Payload::Hash(hash) => Frame::Hash(hash),
        Payload::Transaction => Frame::Transaction(cursor.tx.pending()?),
    })
}

/// What a notification's `result` holds.
enum Payload {
    /// A transaction, its fields in [`Cursor::tx`].
    Transaction,
    /// A hash.
    Hash(B256),
}

/// The fields of the transaction read so far, each set once; a field that
/// is there as `null` is `Some(None)`.
#[derive(Default)]
struct TxFields {
    hash: Option<B256>,
    from: Option<Option<Address>>,
    to: Option<Option<Address>>,
    value: Option<U256>,
    gas_price: Option<Option<U256>>,
    max_fee_per_gas: Option<Option<U256>>,
}

impl TxFields {
    /// The transaction, as serde reads it: the hash required, the rest
    /// defaulted.
    fn pending(self) -> Option<PendingTx> {
        Some(PendingTx {
            hash: self.hash?,
            from: self.from.flatten(),
            to: self.to.flatten(),
            value: self.value.unwrap_or_default(),
            gas_price: self.gas_price.flatten(),
            max_fee_per_gas: self.max_fee_per_gas.flatten(),
        })
    }
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

    /// The next two quotes not taken yet: a string's opening and closing
    /// ones, from one mask when both are in the block.
    #[inline(always)]
    fn take_pair(&mut self) -> Option<(usize, usize)> {
        let rest = self.left & self.left.wrapping_sub(1);
        if rest == 0 {
            return Some((self.take()?, self.take()?));
        }
        let open = self.start + self.left.trailing_zeros() as usize;
        let close = self.start + rest.trailing_zeros() as usize;
        self.left = rest & (rest - 1);
        Some((open, close))
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

/// The value of each byte as a hex digit; [`NOT_HEX`] for the rest.
const HEX_VALUE: [u8; 256] = {
    let mut table = [NOT_HEX; 256];
    let mut digit = 0;
    while digit < 10 {
        table[b'0' as usize + digit] = digit as u8;
        digit += 1;
    }
    let mut letter = 0;
    while letter < 6 {
        table[b'a' as usize + letter] = 10 + letter as u8;
        table[b'A' as usize + letter] = 10 + letter as u8;
        letter += 1;
    }
    table
};

/// [`HEX_VALUE`] of a byte that is not a hex digit: the high bit of a
/// folded OR of the values says whether any was.
const NOT_HEX: u8 = 0x80;

/// Up to 32 hex digits as a number, by table: one lookup and one shift a
/// digit, and one check at the end. Fees and most values fit in 16 digits,
/// summed in one register.
#[inline(always)]
fn hex_u128(digits: &[u8]) -> Option<u128> {
    let mut seen = 0u8;
    let mut fold = |sum: u64, digit: &u8| {
        let value = HEX_VALUE[usize::from(*digit)];
        seen |= value;
        sum << 4 | u64::from(value)
    };
    let (high, low) = digits.split_at(digits.len().saturating_sub(16));
    let high = high.iter().fold(0, &mut fold);
    let low = low.iter().fold(0, &mut fold);
    (seen & NOT_HEX == 0).then_some(u128::from(high) << 64 | u128::from(low))
}

struct Cursor<'a> {
    text: &'a str,
    at: usize,
    quotes: Quotes<'a>,
    tx: TxFields,
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
    fn envelope(&mut self) -> Option<Payload> {
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
    fn params(&mut self) -> Option<Payload> {
        let mut payload = None;
        self.object(|cursor, key| match key {
            b"result" => once(&mut payload, cursor.payload()?),
            _ => cursor.skip(2),
        })?;
        payload
    }

    /// A whole transaction, or a hash.
    fn payload(&mut self) -> Option<Payload> {
        match self.peek()? {
            b'{' => self.transaction().map(|()| Payload::Transaction),
            b'"' => self.fixed().map(Payload::Hash),
            _ => None,
        }
    }

    /// A transaction's fields, into [`Self::tx`].
    fn transaction(&mut self) -> Option<()> {
        self.object(|cursor, key| match key {
            b"hash" => {
                let hash = cursor.fixed::<32>()?;
                once(&mut cursor.tx.hash, hash)
            }
            b"from" => {
                let from = cursor.nullable(Self::address)?;
                once(&mut cursor.tx.from, from)
            }
            b"to" => {
                let to = cursor.nullable(Self::address)?;
                once(&mut cursor.tx.to, to)
            }
            b"value" => {
                let value = cursor.quantity()?;
                once(&mut cursor.tx.value, value)
            }
            b"gasPrice" => {
                let fee = cursor.nullable(Self::quantity)?;
                once(&mut cursor.tx.gas_price, fee)
            }
            b"maxFeePerGas" => {
                let fee = cursor.nullable(Self::quantity)?;
                once(&mut cursor.tx.max_fee_per_gas, fee)
            }
            _ => cursor.skip(3),
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
            let key = self.string_bytes()?;
            self.mark(b':')?;
            self.whitespace();
            field(self, key)?;
            match self.next_mark()? {
                b',' => {}
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }

    /// Steps over `mark`, after any spaces.
    #[inline(always)]
    fn mark(&mut self, mark: u8) -> Option<()> {
        if self.peek() != Some(mark) {
            self.whitespace();
            if self.peek()? != mark {
                return None;
            }
        }
        self.at += 1;
        Some(())
    }

    /// The next byte that is not a space, stepped over.
    #[inline(always)]
    fn next_mark(&mut self) -> Option<u8> {
        let mut byte = self.peek()?;
        if byte == b' ' {
            self.whitespace();
            byte = self.peek()?;
        }
        self.at += 1;
        Some(byte)
    }

    /// A string's bytes between its quotes, after any spaces (the frame has
    /// no escapes: it ends at the next quote).
    #[inline(always)]
    fn string_bytes(&mut self) -> Option<&'a [u8]> {
        // The opening quote is the next one, here; anything else means the
        // frame is not what the scanner thinks, and serde decides.
        let (open, end) = self.quotes.take_pair()?;
        if open != self.at {
            self.whitespace();
            if open != self.at {
                return None;
            }
        }
        self.at = end + 1;
        self.text.as_bytes().get(open + 1..end)
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
            1..=32 => hex_u128(digits).map(U256::from),
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
