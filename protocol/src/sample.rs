//! Deterministic sample values for every wire type, used by tests (round trips, differential
//! tests against an independent codec, fuzz seeds). A sample of a message at a version only
//! sets fields that version carries, and null only where that version allows it.

use bytes::Bytes;

use crate::splitmix::SplitMix64;
use crate::types::Uuid;

/// A tiny seeded generator ([`SplitMix64`]): tests print the seed, and the same seed gives
/// the same message.
#[derive(Debug, Clone)]
pub struct SampleRng(SplitMix64);

impl SampleRng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        SampleRng(SplitMix64::new(seed))
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    /// True with probability 1/n.
    pub fn chance(&mut self, n: u64) -> bool {
        self.next_u64() % n == 0
    }
    fn len(&mut self) -> usize {
        (self.next_u64() % 4) as usize
    }
}

/// A value that tests can generate for a given message version.
pub trait Sample {
    /// A sample valid at `version` (`flex` = the version is flexible).
    fn sample(rng: &mut SampleRng, flex: bool, version: i16) -> Self;
}

macro_rules! sample_int {
    ($($t:ty),*) => {$(
        impl Sample for $t {
            fn sample(rng: &mut SampleRng, _flex: bool, _version: i16) -> Self {
                rng.next_u64() as $t
            }
        }
    )*};
}
sample_int!(i8, i16, u16, i32, u32, i64);

impl Sample for bool {
    fn sample(rng: &mut SampleRng, _flex: bool, _version: i16) -> Self {
        rng.chance(2)
    }
}

impl Sample for f64 {
    fn sample(rng: &mut SampleRng, _flex: bool, _version: i16) -> Self {
        (rng.next_u64() % 1_000_000) as f64 / 8.0
    }
}

impl Sample for Uuid {
    fn sample(rng: &mut SampleRng, _flex: bool, _version: i16) -> Self {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&rng.next_u64().to_be_bytes());
        b[8..].copy_from_slice(&rng.next_u64().to_be_bytes());
        Uuid(b)
    }
}

impl Sample for String {
    fn sample(rng: &mut SampleRng, _flex: bool, _version: i16) -> Self {
        const WORDS: &[&str] = &["", "a", "topic-1", "ü", "group.x"];
        WORDS[(rng.next_u64() % WORDS.len() as u64) as usize].to_string()
    }
}

impl Sample for Bytes {
    fn sample(rng: &mut SampleRng, _flex: bool, _version: i16) -> Self {
        let n = rng.len() * 3;
        Bytes::from((0..n).map(|_| rng.next_u64() as u8).collect::<Vec<u8>>())
    }
}

impl<T: Sample> Sample for Vec<T> {
    fn sample(rng: &mut SampleRng, flex: bool, version: i16) -> Self {
        let n = rng.len();
        (0..n).map(|_| T::sample(rng, flex, version)).collect()
    }
}
