//! Small value types shared by every crate: Kafka UUIDs and id/unit newtypes.

use std::fmt;

/// A Kafka UUID (topic ids, cluster ids, directory ids): 16 bytes, shown as 22 characters of
/// URL-safe base64 without padding, as Kafka's `Uuid.toString()` does.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Uuid(pub [u8; 16]);

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

impl Uuid {
    /// The all-zero UUID: "no topic id" on the wire.
    pub const ZERO: Uuid = Uuid([0; 16]);

    /// Parses the 22-character base64url form. `None` if it is not exactly that.
    pub fn parse(s: &str) -> Option<Uuid> {
        let s = s.as_bytes();
        if s.len() != 22 {
            return None;
        }
        let mut bits: u32 = 0;
        let mut nbits = 0;
        let mut out = [0u8; 16];
        let mut i = 0;
        for &c in s {
            let v = B64.iter().position(|&b| b == c)? as u32;
            bits = (bits << 6) | v;
            nbits += 6;
            if nbits >= 8 {
                nbits -= 8;
                if i == 16 {
                    return None;
                }
                out[i] = (bits >> nbits) as u8;
                i += 1;
                bits &= (1 << nbits) - 1;
            }
        }
        // 22 chars carry 132 bits: the 4 spare bits must be zero for a canonical encoding.
        if i != 16 || bits != 0 {
            return None;
        }
        Some(Uuid(out))
    }

    /// True for the all-zero UUID.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 16]
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = [0u8; 22];
        let mut bits: u32 = 0;
        let mut nbits = 0;
        let mut i = 0;
        for &b in &self.0 {
            bits = (bits << 8) | u32::from(b);
            nbits += 8;
            while nbits >= 6 {
                nbits -= 6;
                out[i] = B64[((bits >> nbits) & 63) as usize];
                i += 1;
            }
            bits &= (1 << nbits) - 1;
        }
        out[i] = B64[((bits << (6 - nbits)) & 63) as usize];
        f.write_str(std::str::from_utf8(&out).unwrap_or_default())
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uuid({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip() {
        // From Kafka's UuidTest: this id prints as "H3KKO4NTRPaCWtEmm3vW7A".
        let u = Uuid::parse("H3KKO4NTRPaCWtEmm3vW7A").unwrap();
        assert_eq!(u.to_string(), "H3KKO4NTRPaCWtEmm3vW7A");
        assert_eq!(Uuid::ZERO.to_string(), "AAAAAAAAAAAAAAAAAAAAAA");
        for b in 0..=255u8 {
            let u = Uuid([b; 16]);
            assert_eq!(Uuid::parse(&u.to_string()), Some(u));
        }
        assert_eq!(Uuid::parse("short"), None);
        assert_eq!(Uuid::parse("H3KKO4NTRPaCWtEmm3vW7B"), None);
    }
}
