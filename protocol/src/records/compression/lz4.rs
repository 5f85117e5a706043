//! LZ4 records sections: one LZ4 frame, read with Kafka's restrictions (`docs/formats.md` §7.8).
//!
//! Kafka (`Lz4BlockInputStream`) accepts only the standard frame magic, version 01, reserved
//! bits 0 (the dictionary-id bit counts as reserved), **independent blocks**, block size codes
//! 4–7, and requires the end mark; bytes after the end mark are never read. `lz4_flex` alone is
//! more lenient (legacy frames, linked blocks, several frames, a missing end mark reads as
//! EOF), so we first walk the frame's structure without decoding it, then hand exactly that
//! one frame to `lz4_flex::frame::FrameDecoder`, which verifies the header checksum (Kafka
//! does too, for magic ≥ 1) and any block checksums.
//!
//! One difference remains: Kafka reads but does not verify the optional content checksum;
//! `lz4_flex` verifies it, so a frame with a wrong content checksum is rejected here. Kafka's
//! writer never sets that flag.

use super::{read_capped, Compression, RecordsError, Result};
use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
use std::io::Write;

const CODEC: Compression = Compression::Lz4;
const MAGIC: u32 = 0x184D_2204;
/// Magic (4) + FLG + BD + HC.
const HEADER_LEN_MIN: usize = 7;

const FLG_VERSION_MASK: u8 = 0b1100_0000;
const FLG_VERSION_01: u8 = 0b0100_0000;
const FLG_INDEPENDENT_BLOCKS: u8 = 0b0010_0000;
const FLG_BLOCK_CHECKSUM: u8 = 0b0001_0000;
const FLG_CONTENT_SIZE: u8 = 0b0000_1000;
const FLG_CONTENT_CHECKSUM: u8 = 0b0000_0100;
/// Bit 1 is reserved; bit 0 (dictionary id) is reserved in Kafka's reader too.
const FLG_RESERVED: u8 = 0b0000_0011;
const BD_BLOCK_SIZE_MASK: u8 = 0b0111_0000;
const BLOCK_UNCOMPRESSED_BIT: u32 = 0x8000_0000;

fn corrupt(detail: &str) -> RecordsError {
    RecordsError::Decompress {
        codec: CODEC,
        detail: detail.to_owned(),
    }
}

/// Length of the single LZ4 frame at the start of `input`, after Kafka's checks on its
/// descriptor and block structure. Does not decode or checksum anything.
fn frame_len(input: &[u8]) -> Result<usize> {
    let truncated = || corrupt("lz4 frame ends early");
    let header = input.get(..HEADER_LEN_MIN).ok_or_else(truncated)?;
    if u32::from_le_bytes([header[0], header[1], header[2], header[3]]) != MAGIC {
        return Err(corrupt("not an lz4 frame (bad magic)"));
    }
    let (flg, bd) = (header[4], header[5]);
    if flg & FLG_VERSION_MASK != FLG_VERSION_01 {
        return Err(corrupt("unsupported lz4 frame version"));
    }
    if flg & FLG_RESERVED != 0 || bd & !BD_BLOCK_SIZE_MASK != 0 {
        return Err(corrupt("lz4 frame reserved bits set"));
    }
    if flg & FLG_INDEPENDENT_BLOCKS == 0 {
        return Err(corrupt(
            "lz4 linked blocks are not supported (Kafka requires independent)",
        ));
    }
    let max_block_len: usize = match (bd & BD_BLOCK_SIZE_MASK) >> 4 {
        4 => 64 << 10,
        5 => 256 << 10,
        6 => 1 << 20,
        7 => 4 << 20,
        _ => return Err(corrupt("unsupported lz4 block size")),
    };
    let block_checksum_len = if flg & FLG_BLOCK_CHECKSUM != 0 { 4 } else { 0 };
    let mut pos = HEADER_LEN_MIN + if flg & FLG_CONTENT_SIZE != 0 { 8 } else { 0 };
    if pos > input.len() {
        return Err(truncated());
    }
    loop {
        let size = input.get(pos..pos + 4).ok_or_else(truncated)?;
        let size = u32::from_le_bytes([size[0], size[1], size[2], size[3]]);
        pos += 4;
        if size == 0 {
            // End mark, then the content checksum if flagged.
            pos += if flg & FLG_CONTENT_CHECKSUM != 0 {
                4
            } else {
                0
            };
            return if pos <= input.len() {
                Ok(pos)
            } else {
                Err(truncated())
            };
        }
        let len = (size & !BLOCK_UNCOMPRESSED_BIT) as usize;
        if len > max_block_len {
            return Err(corrupt(
                "lz4 block larger than the frame's maximum block size",
            ));
        }
        pos += len + block_checksum_len;
        if pos > input.len() {
            return Err(truncated());
        }
    }
}

pub(super) fn decompress(input: &[u8], limit: usize) -> Result<Vec<u8>> {
    let frame = &input[..frame_len(input)?];
    read_capped(
        CODEC,
        lz4_flex::frame::FrameDecoder::new(frame),
        frame.len(),
        limit,
    )
}

/// Writes the frame Kafka's `Lz4BlockOutputStream` writes: FLG 0x60 (version 01, independent
/// blocks, no checksums, no content size), BD 0x40 (64 KiB blocks), then blocks and end mark.
pub(super) fn compress_into(input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let info = FrameInfo::new()
        .block_size(BlockSize::Max64KB)
        .block_mode(BlockMode::Independent);
    let mut encoder = FrameEncoder::with_frame_info(info, out);
    let error = |e: &dyn std::fmt::Display| RecordsError::Compress {
        codec: CODEC,
        detail: e.to_string(),
    };
    encoder.write_all(input).map_err(|e| error(&e))?;
    encoder.finish().map_err(|e| error(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packed(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        compress_into(input, &mut out).unwrap();
        out
    }

    #[test]
    fn writes_kafkas_frame_descriptor() {
        let out = packed(b"hello");
        // Magic, FLG 0x60, BD 0x40; HC = (xxh32(60 40) >> 8) & 0xff = 0x82.
        assert_eq!(&out[..7], &[0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82]);
        assert_eq!(&out[out.len() - 4..], &[0, 0, 0, 0], "end mark");
    }

    #[test]
    fn trailing_bytes_after_the_end_mark_are_ignored_like_kafka() {
        let mut out = packed(b"hello hello");
        out.extend_from_slice(b"junk");
        assert_eq!(decompress(&out, 100).unwrap(), b"hello hello");
    }

    #[test]
    fn kafka_restrictions_are_enforced() {
        let good = packed(b"hello");
        let mut linked = good.clone();
        linked[4] &= !FLG_INDEPENDENT_BLOCKS;
        assert!(decompress(&linked, 100).is_err());
        let mut dict = good.clone();
        dict[4] |= 0x01;
        assert!(decompress(&dict, 100).is_err());
        let mut bad_hc = good.clone();
        bad_hc[6] ^= 0xff;
        assert!(decompress(&bad_hc, 100).is_err());
        let no_end_mark = &good[..good.len() - 4];
        assert!(decompress(no_end_mark, 100).is_err());
        let legacy = [0x02, 0x21, 0x4c, 0x18, 0, 0, 0, 0];
        assert!(decompress(&legacy, 100).is_err());
    }

    #[test]
    fn every_prefix_fails_cleanly() {
        let good = packed(&vec![3u8; 200_000]);
        for cut in 0..good.len() {
            assert!(decompress(&good[..cut], 1 << 20).is_err(), "cut {cut}");
        }
    }
}
