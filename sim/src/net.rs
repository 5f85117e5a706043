//! What the simulated network does to each message.

/// Fault rates and delays; reordering comes from the random delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetConfig {
    pub loss_percent: u32,
    pub duplicate_percent: u32,
    pub delay_min_ms: i64,
    pub delay_max_ms: i64,
}

impl NetConfig {
    /// A network that delivers everything once, in 1–5 ms.
    pub const RELIABLE: NetConfig = NetConfig {
        loss_percent: 0,
        duplicate_percent: 0,
        delay_min_ms: 1,
        delay_max_ms: 5,
    };
}
