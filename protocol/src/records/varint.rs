//! Zig-zag varints and a bounds-checked byte reader for record bodies (`docs/formats.md` §1, §7.3).
//!
//! Decoding mirrors Kafka's `ByteUtils.readVarint`/`readVarlong`: at most 5 (10) bytes, a
//! continuation bit on the last allowed byte is an error, and bits beyond 32 (64) in that last
//! byte are dropped rather than rejected, so we accept exactly what Kafka accepts.

use super::{RecordsError, Result};

/// Reads bytes of a record from a slice; every read is bounds-checked and returns
/// [`RecordsError::InvalidRecord`] with `eof_reason` when the slice ends.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    eof_reason: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], eof_reason: &'static str) -> Self {
        Reader {
            buf,
            pos: 0,
            eof_reason,
        }
    }

    /// Bytes consumed so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn eof(&self) -> RecordsError {
        RecordsError::InvalidRecord {
            reason: self.eof_reason,
        }
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        let b = *self.buf.get(self.pos).ok_or_else(|| self.eof())?;
        self.pos += 1;
        Ok(b)
    }

    /// Takes the next `len` bytes.
    pub(crate) fn bytes(&mut self, len: usize) -> Result<&'a [u8]> {
        if len > self.remaining() {
            return Err(self.eof());
        }
        let out = &self.buf[self.pos..self.pos + len];
        self.pos += len;
        Ok(out)
    }

    /// A length-prefixed byte string; a negative length means null (Kafka reads any negative
    /// key or value length as null).
    pub(crate) fn nullable_bytes(&mut self) -> Result<Option<&'a [u8]>> {
        match usize::try_from(self.varint()?) {
            Ok(len) => self.bytes(len).map(Some),
            Err(_) => Ok(None),
        }
    }

    fn unsigned(&mut self, max_bytes: u32) -> Result<u64> {
        let mut value = 0u64;
        for i in 0..max_bytes {
            let b = self.u8()?;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(RecordsError::InvalidRecord {
            reason: "varint is too long",
        })
    }

    /// A zig-zag varint (int32).
    pub(crate) fn varint(&mut self) -> Result<i32> {
        // Truncation to 32 bits is Kafka's behaviour for an over-long fifth byte.
        let raw = self.unsigned(5)? as u32;
        Ok((raw >> 1) as i32 ^ -((raw & 1) as i32))
    }

    /// A zig-zag varlong (int64).
    pub(crate) fn varlong(&mut self) -> Result<i64> {
        // The tenth byte's bits above 64 fall off the shift, as in Kafka.
        let raw = self.unsigned(10)?;
        Ok((raw >> 1) as i64 ^ -((raw & 1) as i64))
    }
}

fn zigzag32(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

fn zigzag64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unsigned_len(mut v: u64) -> usize {
    let mut len = 1;
    while v >= 0x80 {
        v >>= 7;
        len += 1;
    }
    len
}

fn put_unsigned(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Encoded size of a zig-zag varint.
pub(crate) fn varint_len(v: i32) -> usize {
    unsigned_len(u64::from(zigzag32(v)))
}

/// Encoded size of a zig-zag varlong.
pub(crate) fn varlong_len(v: i64) -> usize {
    unsigned_len(zigzag64(v))
}

pub(crate) fn put_varint(out: &mut Vec<u8>, v: i32) {
    put_unsigned(out, u64::from(zigzag32(v)));
}

pub(crate) fn put_varlong(out: &mut Vec<u8>, v: i64) {
    put_unsigned(out, zigzag64(v));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc32(v: i32) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint(&mut out, v);
        out
    }

    #[test]
    fn zigzag_examples_from_the_format_doc() {
        // `docs/formats.md` §1: 0→00, −1→01, 1→02, 6→0c, 12→18.
        for (v, b) in [(0, 0x00), (-1, 0x01), (1, 0x02), (6, 0x0c), (12, 0x18)] {
            assert_eq!(enc32(v), vec![b]);
        }
        assert_eq!(enc32(i32::MIN), vec![0xff, 0xff, 0xff, 0xff, 0x0f]);
    }

    #[test]
    fn overlong_varints_are_rejected_and_eof_is_reported() {
        let six = [0x80, 0x80, 0x80, 0x80, 0x80, 0x00];
        assert!(Reader::new(&six, "eof").varint().is_err());
        let ten = [0xff; 11];
        assert!(Reader::new(&ten, "eof").varlong().is_err());
        assert_eq!(
            Reader::new(&[0x80], "eof").varint(),
            Err(RecordsError::InvalidRecord { reason: "eof" })
        );
    }

    #[test]
    fn fifth_byte_high_bits_are_dropped_like_kafka() {
        // 0x7f in the fifth byte: only its low 4 bits land in an int32.
        let mut r = Reader::new(&[0xfe, 0xff, 0xff, 0xff, 0x7f], "eof");
        assert_eq!(r.varint(), Ok(i32::MAX));
    }

    proptest! {
        #[test]
        fn varint_round_trip(v in any::<i32>()) {
            let out = enc32(v);
            prop_assert_eq!(out.len(), varint_len(v));
            let mut r = Reader::new(&out, "eof");
            prop_assert_eq!(r.varint(), Ok(v));
            prop_assert_eq!(r.remaining(), 0);
        }

        #[test]
        fn varlong_round_trip(v in any::<i64>()) {
            let mut out = Vec::new();
            put_varlong(&mut out, v);
            prop_assert_eq!(out.len(), varlong_len(v));
            let mut r = Reader::new(&out, "eof");
            prop_assert_eq!(r.varlong(), Ok(v));
            prop_assert_eq!(r.remaining(), 0);
        }
    }
}
