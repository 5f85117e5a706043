//! Errors of the codec. A decode error names the message, its version and the field, so a
//! log line about a bad request says exactly what was wrong with it.

use std::fmt;

/// What went wrong while decoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeErrorKind {
    #[error("input ends early: needed {needed} more bytes, {remaining} remain")]
    Truncated { needed: usize, remaining: usize },
    #[error("negative length {0}")]
    NegativeLength(i64),
    #[error("length {len} exceeds the {remaining} bytes that remain")]
    LengthExceedsInput { len: usize, remaining: usize },
    #[error("varint longer than its type allows")]
    VarintTooLong,
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    #[error("null is not allowed in this version")]
    NullNotAllowed,
    #[error("{0} tagged fields is more than allowed")]
    TooManyTaggedFields(u32),
    #[error("unsupported version")]
    UnsupportedVersion,
    #[error("unknown api key {0}")]
    UnknownApiKey(i16),
    #[error("{0} bytes left over after the message")]
    TrailingBytes(usize),
}

/// A decode error with where it happened: message, version, field (innermost known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub kind: DecodeErrorKind,
    pub message: &'static str,
    pub version: i16,
    pub field: &'static str,
}

impl DecodeError {
    /// An error without location; the generated code adds it on the way out.
    pub fn new(kind: DecodeErrorKind) -> Self {
        Self {
            kind,
            message: "",
            version: -1,
            field: "",
        }
    }

    /// Adds the location unless an inner struct already did (innermost wins).
    pub fn within(mut self, message: &'static str, version: i16, field: &'static str) -> Self {
        if self.message.is_empty() {
            self.message = message;
            self.version = version;
            self.field = field;
        }
        self
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", self.kind)
        } else if self.field.is_empty() {
            write!(f, "{} v{}: {}", self.message, self.version, self.kind)
        } else {
            write!(
                f,
                "{} v{} field {}: {}",
                self.message, self.version, self.field, self.kind
            )
        }
    }
}

impl std::error::Error for DecodeError {}
