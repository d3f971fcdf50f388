//! The scanner against serde: it takes the frames nodes send, declines the
//! rest, and never answers differently from serde on anything it accepts.

use super::notification;
use crate::mempool::decode::{decode, decode_with_serde, Frame};

/// A notification as anvil sends it (EIP-1559 transfer of 2 ETH).
const ANVIL_FULL: &str = r#"{"jsonrpc":"2.0","method":"eth_subscription","params":{"subscription":"0x4245","result":{"type":"0x2","chainId":"0x1","nonce":"0x0","gas":"0x5208","maxFeePerGas":"0x77359400","maxPriorityFeePerGas":"0x3b9aca00","to":"0x70997970c51812dc3a010c7d01b50e0d17dc79c8","value":"0x1bc16d674ec80000","accessList":[],"input":"0x","r":"0x16f29b40bdb3494c62e401d713de461fd0e18d99bc589e93d9ca14229e3362c7","s":"0x4019c9fadab16f9c5b9d4871015777724c4f76ba61815f6242c27b6d800e90f6","yParity":"0x1","v":"0x1","hash":"0xc0eebfcdaf60cf224091c8c7cf77316d198d86b0676b13841f3e76d57b9c231a","blockHash":null,"blockNumber":null,"transactionIndex":null,"from":"0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266","gasPrice":"0x77359400"}}}"#;

const HASH: &str = "0xc0eebfcdaf60cf224091c8c7cf77316d198d86b0676b13841f3e76d57b9c231a";

/// Asserts the scanner takes `text` and agrees with serde on it.
fn taken(text: &str) -> Frame {
    let fast = notification(text).unwrap_or_else(|| panic!("the scanner declined {text}"));
    assert_eq!(
        decode_with_serde(text).ok().as_ref(),
        Some(&fast),
        "serde disagrees on {text}"
    );
    fast
}

#[test]
fn the_scanner_takes_the_frames_nodes_send() {
    let Frame::Transaction(tx) = taken(ANVIL_FULL) else {
        panic!("not a transaction");
    };
    assert_eq!(tx.hash.to_string(), HASH);
    assert_eq!(tx.value_wei(), 2_000_000_000_000_000_000);

    let hash_only = format!(
        r#"{{"jsonrpc":"2.0","method":"eth_subscription","params":{{"subscription":"0x1","result":"{HASH}"}}}}"#
    );
    assert_eq!(taken(&hash_only), Frame::Hash(HASH.parse().expect("hash")));

    // Contract creation, legacy fields, keys in another order, the method
    // last, spaces everywhere, numbers and nesting in skipped fields, and a
    // long string across several 64-byte blocks.
    let creation = format!(
        "{{ \"params\" : {{ \"result\" : {{ \"to\" : null , \"hash\":\"{HASH}\", \"value\":\"0x0\", \
         \"gasPrice\":\"0x01\", \"maxFeePerGas\": null, \"input\":\"0x{}\", \
         \"nested\":[1,-2.5e+3,true,false,null,{{\"a\":[[]]}}], \"from\":\"0xF39Fd6e51aad88F6F4ce6aB8827279cffFb92266\" }}, \
         \"subscription\":7 }}, \"jsonrpc\":\"2.0\", \"method\":\"eth_subscription\" }} ",
        "60".repeat(300)
    );
    let Frame::Transaction(tx) = taken(&creation) else {
        panic!("not a transaction");
    };
    assert_eq!(tx.to, None);
    assert_eq!(tx.fee_cap_wei(), Some(1));
    assert!(tx.from.is_some());
}

#[test]
fn escapes_and_control_whitespace_are_left_to_serde_which_reads_them() {
    let cases = [
        ANVIL_FULL.replace(r#""input":"0x""#, r#""input":"0x60\n\"x\"""#),
        ANVIL_FULL.replace(r#""input":"0x""#, r#""input":"\/""#),
        ANVIL_FULL.replace(r#","hash":"#, ",\n\t\"hash\":"),
        format!("{ANVIL_FULL}\r\n"),
    ];
    for text in &cases {
        assert_eq!(notification(text), None, "{text}");
        let Ok(Frame::Transaction(tx)) = decode(text) else {
            panic!("serde did not read {text}");
        };
        assert_eq!(tx.hash.to_string(), HASH);
    }
}

#[test]
fn the_scanner_declines_what_it_is_not_sure_of_and_serde_decides() {
    let deep = format!(
        r#"{{"jsonrpc":"2.0","method":"eth_subscription","params":{{"result":{{"hash":"{HASH}","x":{}0{}}}}}}}"#,
        "[".repeat(100),
        "]".repeat(100)
    );
    let escaped_key = ANVIL_FULL.replace(r#""hash":"#, r#""ha\u0073h":"#);
    let duplicate = ANVIL_FULL.replace(r#""gas":"0x5208""#, &format!(r#""hash":"{HASH}""#));
    let cases = [
        r#"{"jsonrpc":"2.0","id":1,"result":"0xabc"}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":2,"error":{"code":-32602,"message":"invalid params"}}"#.into(),
        r#"{"jsonrpc":"2.0","method":"other","params":{"result":"0x00"}}"#.into(),
        ANVIL_FULL.replace(r#""value":"0x1bc16d674ec80000""#, r#""value":7"#),
        ANVIL_FULL.replace(r#""input":"0x""#, r#""input":"\u0030""#),
        ANVIL_FULL.replace(r#""value":"0x1bc16d674ec80000""#, r#""value":"0x""#),
        escaped_key,
        duplicate,
        deep.clone(),
    ];
    for text in &cases {
        assert_eq!(notification(text), None, "{text}");
        assert_eq!(
            decode(text).ok(),
            decode_with_serde(text).ok(),
            "decode is not serde's answer on {text}"
        );
    }
    // What the scanner leaves is still read: serde goes 128 levels deep.
    assert!(matches!(decode(&deep), Ok(Frame::Transaction(_))));
    // And what neither reads is an error.
    let bad_value = ANVIL_FULL.replace(r#""value":"0x1bc16d674ec80000""#, r#""value":"0xzz""#);
    assert!(decode(&bad_value).is_err());
}

/// Every byte a corruption puts in: JSON's structure, digits, hex, escapes,
/// control characters.
const CORRUPTIONS: &[u8] = b"\"\\{}[],: \n\t0x9gn-.eE+t\x01";

#[test]
fn every_truncation_and_corruption_agrees_with_serde() {
    let mut accepted = 0;
    let mut check = |text: &str| {
        if let Some(fast) = notification(text) {
            accepted += 1;
            assert_eq!(
                decode_with_serde(text).ok().as_ref(),
                Some(&fast),
                "the scanner accepted what serde reads otherwise: {text}"
            );
        }
    };
    for end in 0..ANVIL_FULL.len() {
        check(&ANVIL_FULL[..end]);
    }
    let mut bytes = ANVIL_FULL.as_bytes().to_vec();
    for at in 0..bytes.len() {
        let original = bytes[at];
        for &corruption in CORRUPTIONS {
            bytes[at] = corruption;
            if let Ok(text) = std::str::from_utf8(&bytes) {
                check(text);
            }
        }
        bytes[at] = original;
    }
    // Corrupting a hex digit of a skipped field, or adding whitespace
    // between tokens, still gives a frame: the comparison above did run.
    assert!(accepted > 1_000, "only {accepted} corruptions were taken");
}

#[test]
fn quantities_of_every_length_agree_with_serde() {
    let with_value = |digits: &str| {
        ANVIL_FULL.replace(
            r#""value":"0x1bc16d674ec80000""#,
            &format!(r#""value":"0x{digits}""#),
        )
    };
    let digits = "fedcba9876543210".repeat(4);
    for len in 1..=64 {
        let Frame::Transaction(tx) = taken(&with_value(&digits[..len])) else {
            panic!("not a transaction");
        };
        let expected = alloy::primitives::U256::from_str_radix(&digits[..len], 16).expect("hex");
        assert_eq!(tx.value, expected, "{len} digits");
    }
    // Past 16 digits the number is summed in two halves: a bad digit in
    // either is still caught.
    for at in 0..32 {
        let mut bad = digits[..32].to_owned();
        bad.replace_range(at..=at, "g");
        let text = with_value(&bad);
        assert_eq!(notification(&text), None, "a bad digit at {at}");
        assert!(decode(&text).is_err(), "serde refuses it too");
    }
}
