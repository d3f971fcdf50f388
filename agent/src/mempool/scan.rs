//! The fast path of [`super::decode`]: a byte scanner for the one frame that
//! arrives hundreds of thousands of times a second, an `eth_subscription`
//! notification carrying a pending transaction or its hash. It reads the
//! fields the stats use straight into alloy's primitive types and steps over
//! everything else by its JSON grammar, building nothing.
//!
//! It only answers when it is sure: anything unusual (another message, an
//! escape in a key or a kept string, a `\u` escape anywhere, a repeated
//! field, a quantity that is not plain hex, deep nesting) makes it decline,
//! and the serde decoder then has the final word. So whatever the scanner
//! accepts, serde accepts with the same result, and the tests hold it to
//! that over every truncation and many corruptions of real frames.

use alloy::primitives::{hex, Address, FixedBytes, B256, U256};

use super::decode::{Frame, PendingTx};

/// Nesting the scanner follows before it leaves a frame to serde.
const MAX_DEPTH: usize = 64;

/// The frame, when it is a pending-transaction notification the scanner is
/// sure of; `None` leaves it to the serde decoder.
pub(super) fn notification(text: &str) -> Option<Frame> {
    let mut cursor = Cursor { text, at: 0 };
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

/// Where the first quote, backslash or control character of `bytes` is:
/// the end of a string's plain run. Eight bytes at a time: most strings
/// here are hashes and addresses, too short for a vector search to pay.
fn special(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // The high bit of each byte of `v` that is zero (exact for the lowest).
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let v = u64::from_le_bytes(word);
        let found = zero(v ^ (ONES * u64::from(b'"')))
            | zero(v ^ (ONES * u64::from(b'\\')))
            | (v.wrapping_sub(ONES * 0x20) & !v & HIGHS);
        if found != 0 {
            return Some(at + found.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    let rest = chunks.remainder();
    rest.iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .map(|i| at + i)
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
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.at += 1;
        }
    }

    /// The top level: `jsonrpc`, `method` and `params`, in any order.
    fn envelope(&mut self) -> Option<Frame> {
        let mut method = None;
        let mut payload = None;
        self.object(|cursor, key| match key {
            "jsonrpc" => cursor.skip(1),
            "method" => once(&mut method, cursor.plain_string()?),
            "params" => once(&mut payload, cursor.params()?),
            // `id`, `result`, `error`: a reply, which serde reads.
            _ => None,
        })?;
        if method? != "eth_subscription" {
            return None;
        }
        payload
    }

    /// `params`: its `result` kept, anything else stepped over.
    fn params(&mut self) -> Option<Frame> {
        let mut payload = None;
        self.object(|cursor, key| match key {
            "result" => once(&mut payload, cursor.payload()?),
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
            "hash" => once(&mut hash, cursor.fixed::<32>()?),
            "from" => once(&mut from, cursor.nullable(Self::address)?),
            "to" => once(&mut to, cursor.nullable(Self::address)?),
            "value" => once(&mut value, cursor.quantity()?),
            "gasPrice" => once(&mut gas_price, cursor.nullable(Self::quantity)?),
            "maxFeePerGas" => once(&mut max_fee_per_gas, cursor.nullable(Self::quantity)?),
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
    fn object(&mut self, mut field: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
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
            let key = self.plain_string()?;
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

    /// A string without escapes or control characters, borrowed.
    fn plain_string(&mut self) -> Option<&'a str> {
        let bytes = self.text.as_bytes();
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.at + 1;
        let end = start + special(bytes.get(start..)?)?;
        if bytes[end] != b'"' {
            return None;
        }
        self.at = end + 1;
        self.text.get(start..end)
    }

    /// `0x` and exactly `2 * N` hex digits.
    fn fixed<const N: usize>(&mut self) -> Option<FixedBytes<N>> {
        let digits = self.plain_string()?.strip_prefix("0x")?;
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
        let digits = self.plain_string()?.strip_prefix("0x")?;
        match digits.len() {
            // Fees and values fit in 128 bits: read them without ruint.
            1..=32 => digits
                .bytes()
                .try_fold(0u128, |sum, digit| Some(sum << 4 | hex_digit(digit)?))
                .map(U256::from),
            33..=64 => U256::from_str_radix(digits, 16).ok(),
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
    fn skip(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.skip_string(),
            b'{' => self.object(|cursor, _| cursor.skip(depth + 1)),
            b'[' => self.skip_array(depth),
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            b'-' | b'0'..=b'9' => self.skip_number(),
            _ => None,
        }
    }

    /// A string with the simple escapes at most (`\u` is left to serde).
    fn skip_string(&mut self) -> Option<()> {
        let bytes = self.text.as_bytes();
        let mut at = self.at + 1;
        loop {
            at += special(bytes.get(at..)?)?;
            match bytes[at] {
                b'"' => {
                    self.at = at + 1;
                    return Some(());
                }
                b'\\'
                    if matches!(
                        bytes.get(at + 1),
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't')
                    ) =>
                {
                    at += 2
                }
                _ => return None,
            }
        }
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
