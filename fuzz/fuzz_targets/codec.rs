//! The codec with payloads: bytes fed in random chunk splits decode to exactly the items
//! the whole input decodes to at once, and nothing panics.
//!
//! Input: the first byte seeds the chunk sizes, the rest is the stream.
#![no_main]

use bytes::BytesMut;
use labwire_protocol::{FrameError, LineCodec, Message};
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

/// Small limits, so that over-long lines and payloads are reached; at least 80 bytes of
/// line, so a too-long line's tag is read the same whatever the chunking.
const MAX_LINE: usize = 96;
const MAX_PAYLOAD: usize = 512;

type Item = Result<Message, FrameError>;

fn decode(stream: &[u8], mut next_chunk: impl FnMut() -> usize) -> Vec<Item> {
    let mut codec = LineCodec::new(MAX_LINE, MAX_PAYLOAD);
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let (chunk, after) = rest.split_at(next_chunk().min(rest.len()));
        rest = after;
        buf.extend_from_slice(chunk);
        while let Some(item) = codec.decode(&mut buf).expect("decode never fails") {
            items.push(item);
        }
    }
    while let Some(item) = codec.decode_eof(&mut buf).expect("decode_eof never fails") {
        items.push(item);
    }
    items
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };
    let whole = decode(stream, || usize::MAX);
    let mut state = u32::from(seed) | 1;
    let chunked = decode(stream, || {
        // xorshift: cheap, deterministic chunk sizes of 1 to 64 bytes.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state % 64) as usize + 1
    });
    assert_eq!(whole, chunked);
});
