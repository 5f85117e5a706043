//! Codecs of a batch's records section (`docs/formats.md` §7.2 bits 0–2, framing in §7.8).
//!
//! The compressed bytes come from clients, replicas and log files, so every decoder writes at
//! most a caller-given `limit` of output (decompression-bomb protection) and fails with an
//! error, never a panic, on garbage. Encoders write what Kafka's Java client writes, so a batch
//! we build reads like one from a Java producer:
//!
//! | codec  | we write                                   | we read                            |
//! |--------|--------------------------------------------|------------------------------------|
//! | gzip   | one gzip member, default level (flate2)    | one or more members                |
//! | snappy | xerial framing, 32 KiB chunks (snappy-java)| xerial (multi-chunk) or one raw block (librdkafka) |
//! | lz4    | LZ4 frame, FLG 0x60, BD 0x40 (64 KiB)      | LZ4 frame with Kafka's restrictions |
//! | zstd   | one zstd frame, level 3 (Kafka's default)  | one or more zstd frames            |
//!
//! Known differences from Kafka's readers, all on inputs no real client writes: bytes after
//! the last gzip member are an error (the JDK ignores them); an LZ4 content checksum is
//! verified (Kafka skips it); the xerial header's version fields are not checked.

mod lz4;
mod snappy;

use std::fmt;
use std::io::{Read, Write};

use super::{attributes, RecordsError, Result};

/// Kafka's default `compression.gzip.level` (-1) is zlib's default, level 6.
const GZIP_LEVEL: u32 = 6;
/// Kafka's default `compression.zstd.level`.
const ZSTD_LEVEL: i32 = 3;
/// Largest zstd window we decode: 2^27 = 128 MiB, zstd's `ZSTD_WINDOWLOG_LIMIT_DEFAULT` and
/// so what Kafka's zstd-jni accepts (levels 20–22 write windows that large). The decoder
/// reserves the window a frame announces, but pages are only touched as output is produced,
/// and output is capped by `limit`.
const ZSTD_WINDOW_LOG_MAX: u32 = 27;

/// The codec of a records section, from attributes bits 0–2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    /// Every codec, in id order.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// The codec with Kafka id `id` (0–4).
    pub fn from_id(id: u8) -> Result<Compression> {
        match id {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            _ => Err(RecordsError::UnsupportedCompression { id }),
        }
    }

    /// The codec named by bits 0–2 of a batch's attributes.
    pub fn from_attributes(attrs: i16) -> Result<Compression> {
        Compression::from_id((attrs & attributes::COMPRESSION_MASK) as u8)
    }

    /// Kafka's id, as stored in attributes bits 0–2.
    pub fn id(self) -> u8 {
        self as u8
    }

    /// Kafka's name, as in the `compression.type` config.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Decompresses a whole records section, failing with
/// [`RecordsError::DecompressedTooLarge`] as soon as the output would exceed `limit` bytes.
///
/// Memory stays within about `limit` plus the codec's bounded working set: output is read
/// through a `limit + 1` cap, and sizes announced by the input (snappy lengths) are checked
/// against `limit` before anything is reserved. LZ4 blocks are at most 4 MiB, and the zstd
/// window is capped at 2^27 bytes as in Kafka.
pub fn decompress(codec: Compression, input: &[u8], limit: usize) -> Result<Vec<u8>> {
    match codec {
        Compression::None => {
            if input.len() > limit {
                return Err(RecordsError::DecompressedTooLarge { codec, limit });
            }
            Ok(input.to_vec())
        }
        // JDK GZIPInputStream reads concatenated members, so does MultiGzDecoder.
        Compression::Gzip => read_capped(
            codec,
            flate2::read::MultiGzDecoder::new(input),
            input.len(),
            limit,
        ),
        Compression::Snappy => snappy::decompress(input, limit),
        Compression::Lz4 => lz4::decompress(input, limit),
        Compression::Zstd => {
            let mut decoder = zstd::stream::read::Decoder::with_buffer(input)
                .map_err(|e| decompress_error(codec, &e))?;
            decoder
                .window_log_max(ZSTD_WINDOW_LOG_MAX)
                .map_err(|e| decompress_error(codec, &e))?;
            read_capped(codec, decoder, input.len(), limit)
        }
    }
}

/// Compresses `input` into a new buffer, framed as Kafka's Java client frames it.
pub fn compress(codec: Compression, input: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    compress_into(codec, input, &mut out)?;
    Ok(out)
}

/// Appends the compressed form of `input` to `out` (used by the builder to write the records
/// section right after the header without another copy).
pub fn compress_into(codec: Compression, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    match codec {
        Compression::None => {
            out.extend_from_slice(input);
            Ok(())
        }
        Compression::Gzip => {
            let mut encoder =
                flate2::write::GzEncoder::new(out, flate2::Compression::new(GZIP_LEVEL));
            encoder
                .write_all(input)
                .map_err(|e| compress_error(codec, &e))?;
            encoder.finish().map_err(|e| compress_error(codec, &e))?;
            Ok(())
        }
        Compression::Snappy => snappy::compress_xerial_into(input, out),
        Compression::Lz4 => lz4::compress_into(input, out),
        Compression::Zstd => {
            let mut encoder = zstd::stream::write::Encoder::new(out, ZSTD_LEVEL)
                .map_err(|e| compress_error(codec, &e))?;
            encoder
                .write_all(input)
                .map_err(|e| compress_error(codec, &e))?;
            encoder.finish().map_err(|e| compress_error(codec, &e))?;
            Ok(())
        }
    }
}

/// Reads a decoder of `compressed_len` input bytes to its end, but never more than `limit`
/// bytes of output.
///
/// The output buffer starts at the compressed size: from there it doubles about
/// log2(compression ratio) times, the same for a batch of 100 records as for one of 10,000,
/// where from empty it would double about log2(output size) times (issue 14: no allocation
/// count that grows with the batch). The input is bytes really received, so this reserves
/// nothing a sender merely claims.
fn read_capped(
    codec: Compression,
    reader: impl Read,
    compressed_len: usize,
    limit: usize,
) -> Result<Vec<u8>> {
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::with_capacity(compressed_len.min(limit));
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| decompress_error(codec, &e))?;
    if out.len() > limit {
        return Err(RecordsError::DecompressedTooLarge { codec, limit });
    }
    Ok(out)
}

fn decompress_error(codec: Compression, e: &dyn fmt::Display) -> RecordsError {
    RecordsError::Decompress {
        codec,
        detail: e.to_string(),
    }
}

fn compress_error(codec: Compression, e: &dyn fmt::Display) -> RecordsError {
    RecordsError::Compress {
        codec,
        detail: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i % 251) as u8 ^ (i / 1000) as u8)
            .collect()
    }

    #[test]
    fn every_codec_round_trips() {
        for codec in Compression::ALL {
            for len in [0, 1, 100, 70_000, 300_000] {
                let input = sample(len);
                let packed = compress(codec, &input).unwrap();
                assert_eq!(
                    decompress(codec, &packed, len).unwrap(),
                    input,
                    "{codec} {len}"
                );
            }
        }
    }

    #[test]
    fn output_beyond_the_limit_is_an_error() {
        let input = vec![0u8; 1 << 20];
        for codec in Compression::ALL {
            let packed = compress(codec, &input).unwrap();
            assert_eq!(
                decompress(codec, &packed, (1 << 20) - 1),
                Err(RecordsError::DecompressedTooLarge {
                    codec,
                    limit: (1 << 20) - 1
                }),
                "{codec}"
            );
        }
    }

    #[test]
    fn ids_and_names_follow_kafka() {
        for (id, codec) in Compression::ALL.into_iter().enumerate() {
            assert_eq!(Compression::from_id(id as u8), Ok(codec));
            assert_eq!(codec.id() as usize, id);
        }
        assert_eq!(Compression::from_attributes(0x0034), Ok(Compression::Zstd));
        assert_eq!(
            Compression::from_attributes(0x0005),
            Err(RecordsError::UnsupportedCompression { id: 5 })
        );
        assert_eq!(Compression::Lz4.to_string(), "lz4");
    }

    #[test]
    fn garbage_is_an_error_for_every_codec() {
        for codec in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            for garbage in [
                &b""[..],
                b"\x00",
                b"hello world, not compressed",
                &[0xff; 64],
            ] {
                // An empty gzip stream decodes to nothing; `00` is a valid empty raw snappy block.
                if (codec == Compression::Gzip && garbage.is_empty())
                    || (codec == Compression::Snappy && garbage == b"\x00")
                {
                    continue;
                }
                assert!(
                    decompress(codec, garbage, 1 << 20).is_err(),
                    "{codec} {garbage:?}"
                );
            }
        }
    }

    #[test]
    fn truncated_streams_are_errors() {
        let input = sample(10_000);
        for codec in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let packed = compress(codec, &input).unwrap();
            for cut in [1, 5, packed.len() / 2, packed.len() - 1] {
                assert!(
                    decompress(codec, &packed[..cut], 1 << 20).is_err(),
                    "{codec} cut {cut}"
                );
            }
        }
    }
}
