//! Snappy records sections in both forms Kafka clients send (`docs/formats.md` §7.8).
//!
//! Java clients (snappy-java `SnappyOutputStream`) and kafka-python write the *xerial*
//! framing: a 16-byte header (`82 53 4E 41 50 50 59 00`, int32 version, int32 compatible
//! version) followed by chunks of `int32 BE length` + one raw snappy block. librdkafka writes
//! one raw snappy block with no framing. Like snappy-java's `SnappyInputStream`, we decode the
//! section as xerial when it starts with the 8-byte magic and as one raw block otherwise, and
//! accept a second xerial header where a chunk would start (concatenated streams).
//!
//! We *write* xerial with 32 KiB uncompressed chunks, as Kafka's Java client does, so every
//! reader that handles Java producers' batches handles ours.

use super::{decompress_error, Compression, RecordsError, Result};

const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const XERIAL_HEADER_LEN: usize = 16;
/// snappy-java's `SnappyCodec` writes version 1, compatible version 1; we do not check them
/// on read (decoders must not rely on header details, §7.8).
const XERIAL_VERSION: i32 = 1;
const XERIAL_COMPATIBLE_VERSION: i32 = 1;
/// snappy-java `SnappyOutputStream.DEFAULT_BLOCK_SIZE` (uncompressed bytes per chunk).
const XERIAL_CHUNK_LEN: usize = 32 * 1024;

const CODEC: Compression = Compression::Snappy;

fn corrupt(detail: &str) -> RecordsError {
    RecordsError::Decompress {
        codec: CODEC,
        detail: detail.to_owned(),
    }
}

pub(super) fn decompress(input: &[u8], limit: usize) -> Result<Vec<u8>> {
    // Newer snappy-java rejects an empty stream; Kafka never opens one for a 0-record batch.
    if input.is_empty() {
        return Err(corrupt("empty snappy section"));
    }
    // Sized as `read_capped` sizes its output (see there): the chunks' own lengths are
    // checked against `limit` one by one, as they come.
    let mut out = Vec::with_capacity(input.len().min(limit));
    if !input.starts_with(&XERIAL_MAGIC) {
        decode_block(input, limit, &mut out)?;
        return Ok(out);
    }
    let mut rest = input;
    while !rest.is_empty() {
        // A stream header: the first one, or a concatenated stream's. Its magic starts with
        // 0x82, so it cannot be mistaken for a chunk length (which would be negative).
        if rest.starts_with(&XERIAL_MAGIC) {
            rest = rest
                .get(XERIAL_HEADER_LEN..)
                .ok_or_else(|| corrupt("truncated xerial header"))?;
            continue;
        }
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            return Err(corrupt("truncated xerial chunk length"));
        };
        let len = usize::try_from(i32::from_be_bytes(*len))
            .map_err(|_| corrupt("negative xerial chunk length"))?;
        if len > tail.len() {
            return Err(corrupt("xerial chunk runs past the end of the section"));
        }
        let (block, tail) = tail.split_at(len);
        decode_block(block, limit, &mut out)?;
        rest = tail;
    }
    Ok(out)
}

/// Appends one raw snappy block to `out`, checking its announced size against `limit` before
/// reserving any memory for it.
fn decode_block(block: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<()> {
    let len = snap::raw::decompress_len(block).map_err(|e| decompress_error(CODEC, &e))?;
    if len > limit.saturating_sub(out.len()) {
        return Err(RecordsError::DecompressedTooLarge {
            codec: CODEC,
            limit,
        });
    }
    let start = out.len();
    out.resize(start + len, 0);
    let written = snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(|e| decompress_error(CODEC, &e))?;
    out.truncate(start + written);
    Ok(())
}

pub(super) fn compress_xerial_into(input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    out.extend_from_slice(&XERIAL_MAGIC);
    out.extend_from_slice(&XERIAL_VERSION.to_be_bytes());
    out.extend_from_slice(&XERIAL_COMPATIBLE_VERSION.to_be_bytes());
    let mut encoder = snap::raw::Encoder::new();
    for chunk in input.chunks(XERIAL_CHUNK_LEN) {
        let len_at = out.len();
        out.extend_from_slice(&[0; 4]);
        let start = out.len();
        out.resize(start + snap::raw::max_compress_len(chunk.len()), 0);
        let written =
            encoder
                .compress(chunk, &mut out[start..])
                .map_err(|e| RecordsError::Compress {
                    codec: CODEC,
                    detail: e.to_string(),
                })?;
        out.truncate(start + written);
        // A chunk compresses to at most ~38 KiB, far below i32::MAX.
        let written = i32::try_from(written).unwrap_or(i32::MAX);
        out[len_at..start].copy_from_slice(&written.to_be_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xerial(chunks: &[&[u8]]) -> Vec<u8> {
        let mut out = XERIAL_MAGIC.to_vec();
        out.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
        for chunk in chunks {
            let block = snap::raw::Encoder::new().compress_vec(chunk).unwrap();
            out.extend_from_slice(&(block.len() as i32).to_be_bytes());
            out.extend_from_slice(&block);
        }
        out
    }

    #[test]
    fn reads_raw_snappy_as_librdkafka_writes_it() {
        let raw = snap::raw::Encoder::new()
            .compress_vec(b"hello hello hello")
            .unwrap();
        assert_eq!(decompress(&raw, 100).unwrap(), b"hello hello hello");
    }

    #[test]
    fn reads_multi_chunk_and_concatenated_xerial() {
        let mut two = xerial(&[b"abc", b"defdefdef"]);
        assert_eq!(decompress(&two, 100).unwrap(), b"abcdefdefdef");
        two.extend_from_slice(&xerial(&[b"ghi"]));
        assert_eq!(decompress(&two, 100).unwrap(), b"abcdefdefdefghi");
    }

    #[test]
    fn our_encoding_is_xerial_with_32k_chunks() {
        let input = vec![7u8; 70_000];
        let mut out = Vec::new();
        compress_xerial_into(&input, &mut out).unwrap();
        assert_eq!(
            &out[..16],
            &[0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0, 0, 0, 0, 1, 0, 0, 0, 1]
        );
        assert_eq!(decompress(&out, 70_000).unwrap(), input);
        // Three chunks: 32 KiB + 32 KiB + 4464 bytes.
        let mut chunks = 0;
        let mut rest = &out[16..];
        while let Some((len, tail)) = rest.split_first_chunk::<4>() {
            let len = i32::from_be_bytes(*len) as usize;
            rest = &tail[len..];
            chunks += 1;
        }
        assert_eq!(chunks, 3);
    }

    #[test]
    fn broken_xerial_is_an_error_not_a_panic() {
        let good = xerial(&[b"abcabcabc"]);
        for cut in 1..good.len() {
            let _ = decompress(&good[..cut], 100); // must not panic
        }
        for cut in 8..16 {
            assert!(
                decompress(&good[..cut], 100).is_err(),
                "header cut at {cut}"
            );
        }
        assert!(decompress(&good[..18], 100).is_err(), "chunk length cut");
        let mut negative = good.clone();
        negative[16] = 0xff;
        assert!(decompress(&negative, 100).is_err());
        let mut huge = good.clone();
        huge[16..20].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(decompress(&huge, 100).is_err());
        assert!(decompress(&good, 8).is_err(), "limit applies across chunks");
    }

    #[test]
    fn announced_length_beyond_limit_is_refused_before_allocating() {
        // A raw block claiming 2^32-1 bytes of output.
        let bomb = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
        assert!(matches!(
            decompress(&bomb, 1 << 20),
            Err(RecordsError::DecompressedTooLarge { .. }) | Err(RecordsError::Decompress { .. })
        ));
    }
}
