//! Frame encoding round trips, and the decoder under hostile input.

use proptest::prelude::*;
use serde::{Deserialize, Serialize};

use tokio::io::AsyncWriteExt;

use super::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Sample {
    Ping,
    Note { text: String, values: Vec<u64> },
}

fn payload_of(frame: &[u8]) -> &[u8] {
    &frame[LENGTH_BYTES..]
}

#[test]
fn a_message_round_trips() {
    let message = Sample::Note {
        text: "héllo".into(),
        values: vec![1, u64::MAX],
    };
    let frame = encode_frame(&message, DEFAULT_MAX_FRAME).expect("encodes");
    let decoded: Sample = decode_payload(payload_of(&frame)).expect("decodes");
    assert_eq!(decoded, message);
}

#[test]
fn another_version_is_refused_with_its_number() {
    let mut frame = encode_frame(&Sample::Ping, DEFAULT_MAX_FRAME).expect("encodes");
    frame[LENGTH_BYTES..LENGTH_BYTES + 2].copy_from_slice(&7u16.to_be_bytes());
    let err = decode_payload::<Sample>(payload_of(&frame)).expect_err("wrong version");
    assert!(matches!(err, FrameError::WrongVersion { got: 7 }));
    assert_eq!(err.code(), ErrorCode::WRONG_VERSION);
}

#[test]
fn trailing_bytes_are_malformed() {
    let mut frame = encode_frame(&Sample::Ping, DEFAULT_MAX_FRAME).expect("encodes");
    frame.push(0);
    let err = decode_payload::<Sample>(payload_of(&frame)).expect_err("trailing");
    assert_eq!(err.code(), ErrorCode::MALFORMED);
}

#[test]
fn a_huge_declared_collection_is_malformed_not_an_allocation() {
    // Version 1, variant 1 (Note), a string of declared length 2^60.
    let mut payload = PROTOCOL_VERSION.to_be_bytes().to_vec();
    payload.push(1);
    payload.push(253); // varint marker: a u64 follows
    payload.extend_from_slice(&(1u64 << 60).to_le_bytes());
    let err = decode_payload::<Sample>(&payload).expect_err("limit");
    assert_eq!(err.code(), ErrorCode::MALFORMED);
}

#[test]
fn encoding_over_the_limit_fails() {
    let big = Sample::Note {
        text: "x".repeat(100),
        values: vec![],
    };
    assert!(encode_frame(&big, 50).is_err());
}

#[tokio::test]
async fn reads_frames_back_to_back_then_a_clean_end() {
    let mut bytes = encode_frame(&Sample::Ping, DEFAULT_MAX_FRAME).expect("encodes");
    bytes.extend(encode_frame(&Sample::Ping, DEFAULT_MAX_FRAME).expect("encodes"));
    let mut reader = bytes.as_slice();
    for _ in 0..2 {
        let payload = read_frame(&mut reader, DEFAULT_MAX_FRAME)
            .await
            .expect("reads")
            .expect("a frame");
        assert_eq!(
            decode_payload::<Sample>(&payload).expect("decodes"),
            Sample::Ping
        );
    }
    assert!(read_frame(&mut reader, DEFAULT_MAX_FRAME)
        .await
        .expect("clean end")
        .is_none());
}

#[tokio::test]
async fn an_oversize_length_fails_before_reading_the_body() {
    let bytes = u32::MAX.to_be_bytes();
    let err = read_frame(&mut bytes.as_slice(), DEFAULT_MAX_FRAME)
        .await
        .expect_err("too large");
    assert!(matches!(err, FrameError::TooLarge { size, .. } if size == u32::MAX as usize));
}

#[tokio::test]
async fn a_cut_frame_is_truncated() {
    let frame = encode_frame(&Sample::Ping, DEFAULT_MAX_FRAME).expect("encodes");
    for cut in [1, LENGTH_BYTES + 1] {
        let err = read_frame(&mut &frame[..cut], DEFAULT_MAX_FRAME)
            .await
            .expect_err("truncated");
        assert!(matches!(err, FrameError::Truncated), "cut at {cut}: {err}");
    }
}

#[tokio::test]
async fn an_end_that_came_with_the_frame_is_taken_without_waiting() {
    let frame = encode_frame(&Sample::Ping, DEFAULT_MAX_FRAME).expect("encodes");

    // --- the end right after the frame: read, and said so
    let mut reader = frame.as_slice();
    read_frame(&mut reader, DEFAULT_MAX_FRAME)
        .await
        .expect("reads")
        .expect("one frame");
    assert!(take_end_if_arrived(&mut reader).expect("at the end"));

    // --- the end not here yet: no wait, and nothing lost
    let (mut near, mut far) = tokio::io::duplex(1024);
    far.write_all(&frame).await.expect("writes");
    read_frame(&mut near, DEFAULT_MAX_FRAME)
        .await
        .expect("reads")
        .expect("one frame");
    assert!(!take_end_if_arrived(&mut near).expect("still open"));
    drop(far);
    assert!(take_end_if_arrived(&mut near).expect("ended now"));
}

#[tokio::test]
async fn bytes_after_the_one_frame_are_refused() {
    let mut stream = encode_frame(&Sample::Ping, DEFAULT_MAX_FRAME).expect("encodes");
    stream.extend(encode_frame(&Sample::Ping, DEFAULT_MAX_FRAME).expect("encodes"));
    let mut reader = stream.as_slice();
    read_frame(&mut reader, DEFAULT_MAX_FRAME)
        .await
        .expect("reads")
        .expect("one frame");
    let err = take_end_if_arrived(&mut reader).expect_err("a second frame");
    assert!(err.to_string().contains("carries one frame"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_payloads_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_payload::<Sample>(&bytes);
        let _ = decode_payload::<crate::wire::admin::AdminRequest>(&bytes);
        let _ = decode_payload::<crate::wire::agent::AgentRequest>(&bytes);
        let _ = decode_payload::<crate::wire::Reply<crate::wire::admin::AdminResponse>>(&bytes);
    }

    #[test]
    fn random_streams_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        runtime.block_on(async {
            let mut reader = bytes.as_slice();
            while let Ok(Some(payload)) = read_frame(&mut reader, 256).await {
                prop_assert!(payload.len() <= 256);
                let _ = decode_payload::<Sample>(&payload);
            }
            Ok(())
        })?;
    }

    #[test]
    fn valid_versioned_payloads_with_random_bodies_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..256)
    ) {
        let mut payload = PROTOCOL_VERSION.to_be_bytes().to_vec();
        payload.extend(body);
        let _ = decode_payload::<Sample>(&payload);
        let _ = decode_payload::<crate::wire::agent::AgentRequest>(&payload);
    }
}
