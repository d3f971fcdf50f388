//! Decoding the node's WebSocket frames for the mempool stream: replies to
//! our `eth_subscribe` calls, and `eth_subscription` notifications that
//! carry either a whole pending transaction (full mode) or only its hash.
//! Only the fields the stats need are read, into alloy's primitive types;
//! everything else in the frame is skipped without being kept. The common
//! notification goes through a byte scanner ([`super::scan`]); whatever it
//! is not sure of, and every other message, through serde.

use std::fmt;

use alloy::primitives::{Address, B256, U256};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

/// The fields of a pending transaction the mempool stats use.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingTx {
    /// Its hash.
    pub hash: B256,
    /// The sender (nodes include it for pending transactions).
    #[serde(default)]
    pub from: Option<Address>,
    /// The recipient; none for contract creation.
    #[serde(default)]
    pub to: Option<Address>,
    /// The value transferred, in wei.
    #[serde(default)]
    pub value: U256,
    /// The legacy gas price (nodes also fill it for EIP-1559 transactions).
    #[serde(default)]
    pub gas_price: Option<U256>,
    /// The EIP-1559 fee cap.
    #[serde(default)]
    pub max_fee_per_gas: Option<U256>,
}

impl PendingTx {
    /// The most the transaction pays per gas, in wei: its fee cap, or its
    /// gas price for legacy transactions.
    pub fn fee_cap_wei(&self) -> Option<u128> {
        self.max_fee_per_gas
            .or(self.gas_price)
            .map(|fee| u128::try_from(fee).unwrap_or(u128::MAX))
    }

    /// The value in wei, saturating at `u128::MAX`.
    pub fn value_wei(&self) -> u128 {
        u128::try_from(self.value).unwrap_or(u128::MAX)
    }
}

/// One frame from the node, as the stream sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A reply to our request `id` with a subscription id.
    Subscribed {
        /// Our request's id.
        id: u64,
    },
    /// A reply to our request `id` with an error.
    Refused {
        /// Our request's id.
        id: u64,
        /// The node's message.
        message: String,
    },
    /// A pending transaction in full.
    Transaction(PendingTx),
    /// A pending transaction's hash only.
    Hash(B256),
    /// Anything else (replies to other requests, other notifications).
    Other,
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON, or not a JSON-RPC message.
    #[error("bad frame from the node: {0}")]
    Json(#[from] serde_json::Error),
    /// A pending-transaction notification whose result is neither a
    /// transaction nor a hash.
    #[error("bad pending transaction from the node: {0}")]
    Payload(String),
}

/// Decodes one text frame.
pub fn decode(text: &str) -> Result<Frame, DecodeError> {
    match super::scan::notification(text) {
        Some(frame) => Ok(frame),
        None => decode_with_serde(text),
    }
}

/// Decodes one text frame through serde alone: the final word on every
/// frame the scanner declines.
pub(super) fn decode_with_serde(text: &str) -> Result<Frame, DecodeError> {
    let envelope: Envelope = serde_json::from_str(text)?;
    if let Some(params) = envelope.params {
        if envelope.method.as_deref() != Some("eth_subscription") {
            return Ok(Frame::Other);
        }
        return match params.result {
            Payload::Transaction(tx) => Ok(Frame::Transaction(tx)),
            Payload::Hash(hash) => Ok(Frame::Hash(hash)),
            Payload::Malformed(why) => Err(DecodeError::Payload(why)),
        };
    }
    let Some(id) = envelope.id else {
        return Ok(Frame::Other);
    };
    if let Some(error) = envelope.error {
        return Ok(Frame::Refused {
            id,
            message: error.message,
        });
    }
    Ok(if envelope.result.is_some() {
        Frame::Subscribed { id }
    } else {
        Frame::Other
    })
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    id: Option<u64>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    params: Option<Params>,
    #[serde(default)]
    result: Option<de::IgnoredAny>,
    #[serde(default)]
    error: Option<RpcError>,
}

#[derive(Deserialize)]
struct RpcError {
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct Params {
    result: Payload,
}

/// A notification's result: a transaction object or a hash string, told
/// apart by its JSON type without buffering it. Anything else is kept as
/// malformed rather than failing the frame: only the method (which may come
/// after `params`) says whether it matters.
enum Payload {
    Transaction(PendingTx),
    Hash(B256),
    Malformed(String),
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PayloadVisitor;

        impl<'de> Visitor<'de> for PayloadVisitor {
            type Value = Payload;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a pending transaction object or its hash")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Payload, E> {
                Ok(value.parse().map(Payload::Hash).unwrap_or_else(|_| {
                    Payload::Malformed(format!("`{value}` is not a transaction hash"))
                }))
            }

            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Payload, E> {
                Ok(Payload::Malformed("a boolean result".into()))
            }

            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Payload, E> {
                Ok(Payload::Malformed("a number result".into()))
            }

            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Payload, E> {
                Ok(Payload::Malformed("a number result".into()))
            }

            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Payload, E> {
                Ok(Payload::Malformed("a number result".into()))
            }

            fn visit_unit<E: de::Error>(self) -> Result<Payload, E> {
                Ok(Payload::Malformed("a null result".into()))
            }

            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Payload, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(Payload::Malformed("an array result".into()))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Payload, A::Error> {
                PendingTx::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(Payload::Transaction)
            }
        }

        deserializer.deserialize_any(PayloadVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A notification as anvil sends it (EIP-1559 transfer of 2 ETH).
    const ANVIL_FULL: &str = r#"{"jsonrpc":"2.0","method":"eth_subscription","params":{"subscription":"0x4245","result":{"type":"0x2","chainId":"0x1","nonce":"0x0","gas":"0x5208","maxFeePerGas":"0x77359400","maxPriorityFeePerGas":"0x3b9aca00","to":"0x70997970c51812dc3a010c7d01b50e0d17dc79c8","value":"0x1bc16d674ec80000","accessList":[],"input":"0x","r":"0x16f29b40bdb3494c62e401d713de461fd0e18d99bc589e93d9ca14229e3362c7","s":"0x4019c9fadab16f9c5b9d4871015777724c4f76ba61815f6242c27b6d800e90f6","yParity":"0x1","v":"0x1","hash":"0xc0eebfcdaf60cf224091c8c7cf77316d198d86b0676b13841f3e76d57b9c231a","blockHash":null,"blockNumber":null,"transactionIndex":null,"from":"0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266","gasPrice":"0x77359400"}}}"#;

    #[test]
    fn a_full_notification_gives_the_fields_the_stats_use() {
        let Frame::Transaction(tx) = decode(ANVIL_FULL).expect("decodes") else {
            panic!("not a transaction");
        };
        assert_eq!(
            tx.hash.to_string(),
            "0xc0eebfcdaf60cf224091c8c7cf77316d198d86b0676b13841f3e76d57b9c231a"
        );
        assert_eq!(tx.value_wei(), 2_000_000_000_000_000_000);
        assert_eq!(tx.fee_cap_wei(), Some(2_000_000_000));
        assert_eq!(
            tx.from.map(|a| a.to_string().to_lowercase()),
            Some("0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266".into())
        );
    }

    #[test]
    fn the_lean_decoder_agrees_with_alloys_full_transaction() {
        let full: serde_json::Value = serde_json::from_str(ANVIL_FULL).expect("json");
        let tx: alloy::rpc::types::Transaction =
            serde_json::from_value(full["params"]["result"].clone()).expect("alloy decodes it");
        let Frame::Transaction(lean) = decode(ANVIL_FULL).expect("decodes") else {
            panic!("not a transaction");
        };
        use alloy::consensus::Transaction;
        use alloy::network::TransactionResponse;
        assert_eq!(lean.hash, TransactionResponse::tx_hash(&tx));
        assert_eq!(lean.value, Transaction::value(&tx));
        assert_eq!(lean.to, Transaction::to(&tx));
        assert_eq!(lean.from, Some(TransactionResponse::from(&tx)));
        assert_eq!(lean.fee_cap_wei(), Some(Transaction::max_fee_per_gas(&tx)));
    }

    #[test]
    fn frames_of_every_kind() {
        let hash = "0xc0eebfcdaf60cf224091c8c7cf77316d198d86b0676b13841f3e76d57b9c231a";
        let cases: Vec<(String, Frame)> = vec![
            (
                format!(
                    r#"{{"jsonrpc":"2.0","method":"eth_subscription","params":{{"subscription":"0x1","result":"{hash}"}}}}"#
                ),
                Frame::Hash(hash.parse().expect("hash")),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"result":"0xabc"}"#.into(),
                Frame::Subscribed { id: 1 },
            ),
            (
                r#"{"jsonrpc":"2.0","id":2,"error":{"code":-32602,"message":"invalid params"}}"#
                    .into(),
                Frame::Refused {
                    id: 2,
                    message: "invalid params".into(),
                },
            ),
            (
                r#"{"jsonrpc":"2.0","method":"other","params":{"result":"0x00"}}"#.into(),
                Frame::Other,
            ),
            (r#"{"jsonrpc":"2.0"}"#.into(), Frame::Other),
        ];
        for (text, expected) in cases {
            assert_eq!(decode(&text).expect(&text), expected, "{text}");
        }
    }

    #[test]
    fn bad_frames_are_errors_not_panics() {
        for text in [
            "",
            "not json",
            r#"{"jsonrpc":"2.0","method":"eth_subscription","params":{"result":"0x12"}}"#,
            r#"{"jsonrpc":"2.0","method":"eth_subscription","params":{"result":{"value":"0x1"}}}"#,
            r#"{"jsonrpc":"2.0","method":"eth_subscription","params":{"result":7}}"#,
            r#"{"id":"x","result":1}"#,
        ] {
            assert!(decode(text).is_err(), "{text}");
        }
    }
}
