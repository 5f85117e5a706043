//! Newtypes for the ids and units every layer passes around (`docs/architecture.md` §7.13): a
//! node id, a Raft or leader epoch, a log offset and a time in milliseconds. Each wraps the integer the
//! Kafka wire format carries, so converting at the codec is `.0` / `T(x)`, and swapping two
//! of them in a call stops compiling.

use std::fmt;

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident($inner:ty)) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub $inner);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl From<$inner> for $name {
            fn from(v: $inner) -> $name {
                $name(v)
            }
        }

        impl From<$name> for $inner {
            fn from(v: $name) -> $inner {
                v.0
            }
        }
    };
}

id_newtype!(
    /// A broker or controller id (`node.id`). Kafka's "no node" is -1 on the wire; in our
    /// types it is `Option<NodeId>`.
    NodeId(i32)
);
id_newtype!(
    /// A Raft epoch (term) or partition leader epoch.
    Epoch(i32)
);
id_newtype!(
    /// An offset in a partition log.
    Offset(i64)
);
id_newtype!(
    /// Milliseconds on some clock, given to a core as input (cores never read a clock).
    Millis(i64)
);

impl Epoch {
    /// The epoch after this one; saturates instead of wrapping (an epoch never goes back).
    pub fn next(self) -> Epoch {
        Epoch(self.0.saturating_add(1))
    }
}

impl Offset {
    /// `self + n`, for `n` records or batches further on.
    pub fn plus(self, n: i64) -> Offset {
        Offset(self.0 + n)
    }

    /// How many offsets lie from `earlier` up to `self` (negative when `earlier` is later).
    pub fn since(self, earlier: Offset) -> i64 {
        self.0 - earlier.0
    }
}

impl Millis {
    /// The earliest and latest representable times: "due now" and "never".
    pub const MIN: Millis = Millis(i64::MIN);
    pub const MAX: Millis = Millis(i64::MAX);

    /// `self + ms`, saturating at [`Millis::MAX`] ("never").
    pub fn plus(self, ms: i64) -> Millis {
        Millis(self.0.saturating_add(ms))
    }

    /// Milliseconds from `earlier` to `self`.
    pub fn since(self, earlier: Millis) -> i64 {
        self.0.saturating_sub(earlier.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newtypes_order_print_and_step_like_their_integers() {
        assert!(Epoch(2) < Epoch(3));
        assert_eq!(Epoch(i32::MAX).next(), Epoch(i32::MAX));
        assert_eq!(Offset(10).plus(5), Offset(15));
        assert_eq!(Offset(15).since(Offset(10)), 5);
        assert_eq!(Millis::MAX.plus(1), Millis::MAX);
        assert_eq!(Millis(7).since(Millis(2)), 5);
        assert_eq!(NodeId(3).to_string(), "3");
        assert_eq!(i64::from(Offset(4)), 4);
    }
}
