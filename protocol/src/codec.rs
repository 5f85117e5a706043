//! Runtime of the generated codec: how each Kafka wire type is read, written and sized.
//!
//! The generated message code (`build.rs` → `messages`) calls only the [`Wire`] trait and the
//! helpers here. Decoding reads from a `Bytes` so that `bytes` and `records` fields are
//! zero-copy slices of the request frame. Every length read from the wire is checked against
//! the bytes that remain *before* anything is reserved, so a hostile count can never make us
//! allocate more than the input holds.
//!
//! Encoding goes to a [`Sink`]: a plain `BytesMut`, or a [`crate::send_builder::SendBuilder`]
//! that keeps large `bytes`/`records` values out of the encoded bytes.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, DecodeErrorKind as Kind};
use crate::types::Uuid;

/// Result of a decode step.
pub type DecodeResult<T> = Result<T, DecodeError>;

/// Where values are encoded to. Everything but the content of `bytes`/`records` values goes to
/// [`Sink::buf`]; that content goes to [`Sink::put_shared`], after its length prefix, so a sink
/// may keep a reference to the value instead of copying it (Kafka's `Writable.writeRecords`).
pub trait Sink {
    /// The buffer that takes the encoding.
    fn buf(&mut self) -> &mut BytesMut;
    /// Appends the content of a `bytes` or `records` value.
    fn put_shared(&mut self, value: &Bytes);
}

/// The plain sink: everything is copied into the one buffer.
impl Sink for BytesMut {
    fn buf(&mut self) -> &mut BytesMut {
        self
    }
    fn put_shared(&mut self, value: &Bytes) {
        self.extend_from_slice(value);
    }
}

/// A value with a Kafka wire encoding. `flex` selects the compact (flexible-version) forms of
/// lengths; `version` is the message version, which nested structs need.
pub trait Wire: Sized {
    /// Reads one value, advancing `buf`.
    fn read(buf: &mut Bytes, flex: bool, version: i16) -> DecodeResult<Self>;
    /// Appends the encoding of `self`.
    fn write<S: Sink>(&self, buf: &mut S, flex: bool, version: i16);
    /// Exactly the number of bytes `write` appends.
    fn size(&self, flex: bool, version: i16) -> usize;
}

/// Types that have a null encoding of their own (strings, bytes, arrays, structs). `Option<T>`
/// is `Wire` for these.
pub trait Nullable: Wire {
    /// Reads either null or a value.
    fn read_nullable(buf: &mut Bytes, flex: bool, version: i16) -> DecodeResult<Option<Self>>;
    /// Appends the null marker.
    fn write_null(buf: &mut BytesMut, flex: bool);
    /// Size of the null marker.
    fn null_size(flex: bool) -> usize;
}

impl<T: Nullable> Wire for Option<T> {
    fn read(buf: &mut Bytes, flex: bool, version: i16) -> DecodeResult<Self> {
        T::read_nullable(buf, flex, version)
    }
    fn write<S: Sink>(&self, buf: &mut S, flex: bool, version: i16) {
        match self {
            Some(v) => v.write(buf, flex, version),
            None => T::write_null(buf.buf(), flex),
        }
    }
    fn size(&self, flex: bool, version: i16) -> usize {
        match self {
            Some(v) => v.size(flex, version),
            None => T::null_size(flex),
        }
    }
}

fn need(buf: &Bytes, n: usize) -> DecodeResult<()> {
    if buf.remaining() < n {
        return Err(DecodeError::new(Kind::Truncated {
            needed: n,
            remaining: buf.remaining(),
        }));
    }
    Ok(())
}

macro_rules! fixed_int {
    ($t:ty, $get:ident, $put:ident) => {
        impl Wire for $t {
            fn read(buf: &mut Bytes, _flex: bool, _version: i16) -> DecodeResult<Self> {
                need(buf, std::mem::size_of::<$t>())?;
                Ok(buf.$get())
            }
            fn write<S: Sink>(&self, buf: &mut S, _flex: bool, _version: i16) {
                buf.buf().$put(*self);
            }
            fn size(&self, _flex: bool, _version: i16) -> usize {
                std::mem::size_of::<$t>()
            }
        }
    };
}
fixed_int!(i8, get_i8, put_i8);
fixed_int!(i16, get_i16, put_i16);
fixed_int!(u16, get_u16, put_u16);
fixed_int!(i32, get_i32, put_i32);
fixed_int!(u32, get_u32, put_u32);
fixed_int!(i64, get_i64, put_i64);
fixed_int!(f64, get_f64, put_f64);

impl Wire for bool {
    fn read(buf: &mut Bytes, _flex: bool, _version: i16) -> DecodeResult<Self> {
        need(buf, 1)?;
        Ok(buf.get_u8() != 0)
    }
    fn write<S: Sink>(&self, buf: &mut S, _flex: bool, _version: i16) {
        buf.buf().put_u8(u8::from(*self));
    }
    fn size(&self, _flex: bool, _version: i16) -> usize {
        1
    }
}

impl Wire for Uuid {
    fn read(buf: &mut Bytes, _flex: bool, _version: i16) -> DecodeResult<Self> {
        need(buf, 16)?;
        let mut b = [0u8; 16];
        buf.copy_to_slice(&mut b);
        Ok(Uuid(b))
    }
    fn write<S: Sink>(&self, buf: &mut S, _flex: bool, _version: i16) {
        buf.buf().put_slice(&self.0);
    }
    fn size(&self, _flex: bool, _version: i16) -> usize {
        16
    }
}

/// Reads an unsigned LEB128 varint of at most 5 bytes (a u32).
pub fn read_uvarint(buf: &mut Bytes) -> DecodeResult<u32> {
    let mut value: u32 = 0;
    for i in 0..5 {
        need(buf, 1)?;
        let b = buf.get_u8();
        if i == 4 && b > 0x0f {
            return Err(DecodeError::new(Kind::VarintTooLong));
        }
        value |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(DecodeError::new(Kind::VarintTooLong))
}

/// Appends an unsigned varint.
pub fn write_uvarint(buf: &mut BytesMut, mut v: u32) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

/// Bytes taken by an unsigned varint.
pub fn uvarint_size(v: u32) -> usize {
    match v {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        0x20_0000..=0xfff_ffff => 4,
        _ => 5,
    }
}

/// Reads a length prefix: int16/int32 in classic versions, uvarint(n+1) in flexible ones.
/// Returns `None` for null (-1), an error for other negative lengths and for lengths larger
/// than what remains in `buf` (checked here, before the caller allocates anything).
fn read_len(buf: &mut Bytes, flex: bool, short: bool) -> DecodeResult<Option<usize>> {
    let n: i64 = if flex {
        i64::from(read_uvarint(buf)?) - 1
    } else if short {
        i64::from(i16::read(buf, false, 0)?)
    } else {
        i64::from(i32::read(buf, false, 0)?)
    };
    if n == -1 {
        return Ok(None);
    }
    if n < 0 {
        return Err(DecodeError::new(Kind::NegativeLength(n)));
    }
    let n = n as usize;
    if n > buf.remaining() {
        return Err(DecodeError::new(Kind::LengthExceedsInput {
            len: n,
            remaining: buf.remaining(),
        }));
    }
    Ok(Some(n))
}

fn write_len(buf: &mut BytesMut, flex: bool, short: bool, len: Option<usize>) {
    match (flex, len) {
        (true, None) => buf.put_u8(0),
        (true, Some(n)) => write_uvarint(buf, n as u32 + 1),
        (false, None) if short => buf.put_i16(-1),
        (false, None) => buf.put_i32(-1),
        (false, Some(n)) if short => buf.put_i16(n as i16),
        (false, Some(n)) => buf.put_i32(n as i32),
    }
}

fn len_size(flex: bool, short: bool, len: Option<usize>) -> usize {
    match (flex, len) {
        (true, None) => 1,
        (true, Some(n)) => uvarint_size(n as u32 + 1),
        (false, _) if short => 2,
        (false, _) => 4,
    }
}

fn null_not_allowed<T>() -> DecodeResult<T> {
    Err(DecodeError::new(Kind::NullNotAllowed))
}

impl Wire for String {
    fn read(buf: &mut Bytes, flex: bool, version: i16) -> DecodeResult<Self> {
        Self::read_nullable(buf, flex, version)?.map_or_else(null_not_allowed, Ok)
    }
    fn write<S: Sink>(&self, buf: &mut S, flex: bool, _version: i16) {
        let buf = buf.buf();
        write_len(buf, flex, true, Some(self.len()));
        buf.put_slice(self.as_bytes());
    }
    fn size(&self, flex: bool, _version: i16) -> usize {
        len_size(flex, true, Some(self.len())) + self.len()
    }
}

impl Nullable for String {
    fn read_nullable(buf: &mut Bytes, flex: bool, _version: i16) -> DecodeResult<Option<Self>> {
        let Some(n) = read_len(buf, flex, true)? else {
            return Ok(None);
        };
        let raw = buf.split_to(n);
        match std::str::from_utf8(&raw) {
            Ok(s) => Ok(Some(s.to_owned())),
            Err(_) => Err(DecodeError::new(Kind::InvalidUtf8)),
        }
    }
    fn write_null(buf: &mut BytesMut, flex: bool) {
        write_len(buf, flex, true, None);
    }
    fn null_size(flex: bool) -> usize {
        len_size(flex, true, None)
    }
}

impl Wire for Bytes {
    fn read(buf: &mut Bytes, flex: bool, version: i16) -> DecodeResult<Self> {
        Self::read_nullable(buf, flex, version)?.map_or_else(null_not_allowed, Ok)
    }
    fn write<S: Sink>(&self, buf: &mut S, flex: bool, _version: i16) {
        write_len(buf.buf(), flex, false, Some(self.len()));
        buf.put_shared(self);
    }
    fn size(&self, flex: bool, _version: i16) -> usize {
        len_size(flex, false, Some(self.len())) + self.len()
    }
}

impl Nullable for Bytes {
    fn read_nullable(buf: &mut Bytes, flex: bool, _version: i16) -> DecodeResult<Option<Self>> {
        let Some(n) = read_len(buf, flex, false)? else {
            return Ok(None);
        };
        Ok(Some(buf.split_to(n)))
    }
    fn write_null(buf: &mut BytesMut, flex: bool) {
        write_len(buf, flex, false, None);
    }
    fn null_size(flex: bool) -> usize {
        len_size(flex, false, None)
    }
}

impl<T: Wire> Wire for Vec<T> {
    fn read(buf: &mut Bytes, flex: bool, version: i16) -> DecodeResult<Self> {
        Self::read_nullable(buf, flex, version)?.map_or_else(null_not_allowed, Ok)
    }
    fn write<S: Sink>(&self, buf: &mut S, flex: bool, version: i16) {
        write_len(buf.buf(), flex, false, Some(self.len()));
        for item in self {
            item.write(buf, flex, version);
        }
    }
    fn size(&self, flex: bool, version: i16) -> usize {
        len_size(flex, false, Some(self.len()))
            + self
                .iter()
                .map(|item| item.size(flex, version))
                .sum::<usize>()
    }
}

impl<T: Wire> Nullable for Vec<T> {
    fn read_nullable(buf: &mut Bytes, flex: bool, version: i16) -> DecodeResult<Option<Self>> {
        // Every element takes at least one byte on the wire, so `read_len` bounding the count
        // by the remaining bytes bounds the element count too. Reserve no more memory than
        // the remaining input could fill, whatever the element's in-memory size.
        let Some(count) = read_len(buf, flex, false)? else {
            return Ok(None);
        };
        let per_item = std::mem::size_of::<T>().max(1);
        let mut items = Vec::with_capacity(count.min(buf.remaining() / per_item));
        for _ in 0..count {
            items.push(T::read(buf, flex, version)?);
        }
        Ok(Some(items))
    }
    fn write_null(buf: &mut BytesMut, flex: bool) {
        write_len(buf, flex, false, None);
    }
    fn null_size(flex: bool) -> usize {
        len_size(flex, false, None)
    }
}

/// Reads a nullable struct's marker byte (-1 null, 1 present).
pub fn read_struct_marker(buf: &mut Bytes) -> DecodeResult<bool> {
    match i8::read(buf, false, 0)? {
        -1 => Ok(false),
        1 => Ok(true),
        other => Err(DecodeError::new(Kind::NegativeLength(i64::from(other)))),
    }
}

/// Upper bound on the tagged fields of one struct, so that a hostile count cannot spin.
pub const TAGGED_FIELDS_MAX: u32 = 1024;

/// Reads a tagged-field section, handing each `(tag, value bytes)` to `known`, which returns
/// `Ok(false)` for tags it does not know: those are skipped (KIP-482).
pub fn read_tagged_fields(
    buf: &mut Bytes,
    mut known: impl FnMut(u32, &mut Bytes) -> DecodeResult<bool>,
) -> DecodeResult<()> {
    let count = read_uvarint(buf)?;
    if count > TAGGED_FIELDS_MAX || count as usize > buf.remaining() {
        return Err(DecodeError::new(Kind::TooManyTaggedFields(count)));
    }
    for _ in 0..count {
        let tag = read_uvarint(buf)?;
        let len = read_uvarint(buf)? as usize;
        if len > buf.remaining() {
            return Err(DecodeError::new(Kind::LengthExceedsInput {
                len,
                remaining: buf.remaining(),
            }));
        }
        let mut value = buf.split_to(len);
        known(tag, &mut value)?;
    }
    Ok(())
}

/// Writes one tagged field: tag, size, value (always in the flexible encoding).
pub fn write_tagged<T: Wire, S: Sink>(buf: &mut S, tag: u32, value: &T, version: i16) {
    write_uvarint(buf.buf(), tag);
    write_uvarint(buf.buf(), value.size(true, version) as u32);
    value.write(buf, true, version);
}

/// Size of one tagged field as `write_tagged` writes it.
pub fn tagged_size<T: Wire>(tag: u32, value: &T, version: i16) -> usize {
    let n = value.size(true, version);
    uvarint_size(tag) + uvarint_size(n as u32) + n
}
