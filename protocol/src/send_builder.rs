//! An encoding [`Sink`] that does not copy large `bytes`/`records` values: the encoding comes
//! out as parts to write in order, the encoded bytes interleaved with those values' own
//! `Bytes`. A broker hands the records it read from the log to the socket this way, as Kafka's
//! `SendBuilder` turns a response's `records` fields into zero-copy sends.

use bytes::{Bytes, BytesMut};

use crate::codec::Sink;

/// Builds the parts of one encoding: values of at least `shared_min` bytes become parts of
/// their own (the very `Bytes`, shared, not copied); everything else, length prefixes
/// included, is encoded into the owned parts between them.
#[derive(Debug)]
pub struct SendBuilder {
    /// Encoded since the last shared value. Each owned part is split off this one allocation.
    buf: BytesMut,
    parts: Vec<Bytes>,
    shared_min: usize,
}

impl SendBuilder {
    /// A builder sharing values of at least `shared_min` bytes (an empty value is never a part:
    /// there is nothing to copy), whose owned buffer starts with `capacity` bytes.
    pub fn new(shared_min: usize, capacity: usize) -> Self {
        SendBuilder {
            buf: BytesMut::with_capacity(capacity),
            parts: Vec::new(),
            shared_min,
        }
    }

    /// The parts, in order; their concatenation is the plain encoding.
    pub fn into_parts(mut self) -> Vec<Bytes> {
        self.end_owned_part();
        self.parts
    }

    fn end_owned_part(&mut self) {
        if !self.buf.is_empty() {
            self.parts.push(self.buf.split().freeze());
        }
    }
}

impl Sink for SendBuilder {
    fn buf(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    fn put_shared(&mut self, value: &Bytes) {
        if value.is_empty() || value.len() < self.shared_min {
            self.buf.extend_from_slice(value);
        } else {
            self.end_owned_part();
            self.parts.push(value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::BufMut;

    use super::*;

    #[test]
    fn values_at_the_threshold_are_shared_and_smaller_ones_copied() {
        let big = Bytes::from(vec![7u8; 4]);
        let mut b = SendBuilder::new(4, 0);
        b.buf().put_u8(1);
        b.put_shared(&big);
        b.put_shared(&big);
        b.put_shared(&Bytes::from_static(b"abc"));
        b.put_shared(&Bytes::new());
        let parts = b.into_parts();
        assert_eq!(parts, vec![&[1u8][..], &big[..], &big[..], b"abc"]);
        // The shared parts are the caller's buffer, not copies.
        assert_eq!(parts[1].as_ptr(), big.as_ptr());
    }

    #[test]
    fn an_encoding_without_shared_values_is_one_part_and_an_empty_one_none() {
        let mut b = SendBuilder::new(8, 16);
        b.buf().put_slice(b"head");
        b.put_shared(&Bytes::from_static(b"tail"));
        assert_eq!(b.into_parts(), vec![Bytes::from_static(b"headtail")]);
        assert!(SendBuilder::new(8, 0).into_parts().is_empty());
    }
}
