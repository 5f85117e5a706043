//! Reserved log directory ids (KIP-858, Kafka's `DirectoryId`): the first 100 UUIDs (most
//! significant half zero, least significant half below 100 as a signed long, exactly as Java
//! compares it) are never real directories.

use protocol::Uuid;

/// The replica's directory is unknown because the broker has not reported it yet (also what
/// records written before KIP-858 read as).
pub const MIGRATING: Uuid = Uuid([0; 16]);
/// The replica has no directory assigned.
pub const UNASSIGNED: Uuid = Uuid([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
/// The replica's directory is offline.
pub const LOST: Uuid = Uuid([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);

/// True for the 100 reserved ids, which a broker may not register as a directory.
pub fn is_reserved(id: &Uuid) -> bool {
    let (msb, lsb) = id.0.split_at(8);
    let lsb = i64::from_be_bytes(lsb.try_into().unwrap_or([0x7f; 8]));
    msb.iter().all(|x| *x == 0) && lsb < 100
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_ids() {
        assert!(is_reserved(&MIGRATING) && is_reserved(&UNASSIGNED) && is_reserved(&LOST));
        assert!(!is_reserved(&Uuid([
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0
        ])));
        assert!(!is_reserved(&Uuid([
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100
        ])));
    }
}
