//! kraftbridge's Kafka wire codec: generated messages, record batches as bytes, framing,
//! the API version table and Kafka's error codes. Sans-I/O: no sockets, files or clocks.

pub mod codec;
pub mod error;
pub mod ids;
pub mod json;
pub mod messages;
pub mod records;
pub mod sample;
pub mod send_builder;
pub mod splitmix;
pub mod types;

pub use error::{DecodeError, DecodeErrorKind};
pub use ids::{Epoch, Millis, NodeId, Offset};
pub use types::Uuid;
pub mod error_code;
pub mod header;
pub mod versions;

pub use error_code::ErrorCode;
pub mod request_fuzz;
