//! The async and blocking edges: sockets, the metadata thread, timers. Everything that
//! touches tokio lives here or in `server.rs`; the broker's logic and the cores do not.

pub(crate) mod client;
pub(crate) mod controller_client;
pub(crate) mod heap;
pub(crate) mod net;
pub(crate) mod quorum;
