//! A response frame given as parts (`Outcome::RespondParts`) read as one [`Buf`], so that the
//! connection writes it with vectored writes: the size prefix, the encoded fields and the
//! shared records of a Fetch response leave in one `writev` rather than one write (and, with
//! `TCP_NODELAY`, one small segment) per part.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes};

/// The parts still to write, none of them empty, and their total length.
#[derive(Debug)]
pub(super) struct Parts {
    parts: VecDeque<Bytes>,
    remaining: usize,
}

impl Parts {
    pub(super) fn new(parts: Vec<Bytes>) -> Self {
        // `Buf::chunk` may be empty only at the end, so empty parts are dropped here.
        let parts: VecDeque<Bytes> = parts.into_iter().filter(|p| !p.is_empty()).collect();
        let remaining = parts.iter().map(Bytes::len).sum();
        Parts { parts, remaining }
    }
}

impl Buf for Parts {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.parts.front().map_or(&[], |p| p)
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(
            cnt <= self.remaining,
            "advance past the end: {cnt} > {}",
            self.remaining
        );
        self.remaining -= cnt;
        while let Some(front) = self.parts.front_mut() {
            if cnt < front.len() {
                front.advance(cnt);
                return;
            }
            cnt -= front.len();
            self.parts.pop_front();
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, part) in dst.iter_mut().zip(&self.parts) {
            *slot = IoSlice::new(part);
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_parts_in_order_across_partial_advances() {
        let mut parts = Parts::new(vec![
            Bytes::from_static(b"ab"),
            Bytes::new(),
            Bytes::from_static(b"cde"),
            Bytes::from_static(b"f"),
        ]);
        assert_eq!(parts.remaining(), 6);
        assert_eq!(slice_count(&parts), 3, "the empty part is skipped");
        parts.advance(3); // "ab" and the first byte of "cde"
        assert_eq!(parts.chunk(), b"de");
        assert_eq!(parts.copy_to_bytes(3), Bytes::from_static(b"def"));
        assert_eq!(parts.remaining(), 0);
        assert!(parts.chunk().is_empty());
        assert_eq!(slice_count(&parts), 0);
    }

    fn slice_count(parts: &Parts) -> usize {
        parts.chunks_vectored(&mut [IoSlice::new(&[]); 8])
    }

    #[test]
    fn fills_no_more_slices_than_given() {
        let parts = Parts::new(vec![Bytes::from_static(b"x"); 5]);
        let mut slices = [IoSlice::new(&[]); 2];
        assert_eq!(parts.chunks_vectored(&mut slices), 2);
        assert_eq!(&*slices[1], b"x");
    }
}
