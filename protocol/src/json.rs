//! Kafka's JSON form of generated messages: what its `*JsonConverter.write` classes produce,
//! and the two ways Jackson prints it (`toString` and `toPrettyString`).
//!
//! `build.rs` implements [`ToJson`] for the metadata records and the data schemas (control
//! records, snapshot header/footer, …): field names are the schema's, first letter lowered;
//! a field appears only in the versions that have it; a tagged field only when it differs
//! from its default. Users: `kraftbridge dump-log` and `kraftbridge metadata-shell`.

use std::fmt::Write as _;

use bytes::Bytes;

use crate::types::Uuid;

/// A JSON value with object keys in schema order (Jackson's `ObjectNode` keeps insertion order).
#[derive(Debug, Clone, PartialEq)]
pub enum JsonValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Array(Vec<JsonValue>),
    Object(Vec<(&'static str, JsonValue)>),
}

/// A message (or field value) that has Kafka's JSON form at a schema version.
pub trait ToJson {
    fn to_json(&self, version: i16) -> JsonValue;
}

macro_rules! int_json {
    ($($t:ty),*) => {$(
        impl ToJson for $t {
            fn to_json(&self, _version: i16) -> JsonValue {
                JsonValue::Int(i64::from(*self))
            }
        }
    )*};
}
int_json!(i8, i16, u16, i32, u32, i64);

impl ToJson for bool {
    fn to_json(&self, _version: i16) -> JsonValue {
        JsonValue::Bool(*self)
    }
}

impl ToJson for f64 {
    fn to_json(&self, _version: i16) -> JsonValue {
        JsonValue::Float(*self)
    }
}

impl ToJson for String {
    fn to_json(&self, _version: i16) -> JsonValue {
        JsonValue::Str(self.clone())
    }
}

impl ToJson for Uuid {
    fn to_json(&self, _version: i16) -> JsonValue {
        JsonValue::Str(self.to_string())
    }
}

/// Jackson writes a `BinaryNode` as standard base64 with padding.
impl ToJson for Bytes {
    fn to_json(&self, _version: i16) -> JsonValue {
        JsonValue::Str(base64(self))
    }
}

impl<T: ToJson> ToJson for Vec<T> {
    fn to_json(&self, version: i16) -> JsonValue {
        JsonValue::Array(self.iter().map(|v| v.to_json(version)).collect())
    }
}

impl<T: ToJson> ToJson for Option<T> {
    fn to_json(&self, version: i16) -> JsonValue {
        self.as_ref()
            .map_or(JsonValue::Null, |v| v.to_json(version))
    }
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl JsonValue {
    /// Jackson's `JsonNode.toString()`: no whitespace at all.
    pub fn to_compact(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, None);
        out
    }

    /// Jackson's `toPrettyString()` (its `DefaultPrettyPrinter`): two-space indents,
    /// `"key" : value`, arrays of scalars on one line as `[ 1, 2 ]`, empty ones as `[ ]`.
    pub fn to_pretty(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, Some(0));
        out
    }

    /// `indent` is `None` for compact output, else the current depth.
    fn write(&self, out: &mut String, indent: Option<usize>) {
        match self {
            JsonValue::Null => out.push_str("null"),
            JsonValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            JsonValue::Int(i) => {
                let _ = write!(out, "{i}");
            }
            JsonValue::Float(f) => out.push_str(&java_double(*f)),
            JsonValue::Str(s) => write_string(out, s),
            JsonValue::Array(items) => {
                let sep = if indent.is_some() { ", " } else { "," };
                out.push('[');
                if indent.is_some() && items.is_empty() {
                    out.push_str(" ]");
                    return;
                }
                if indent.is_some() {
                    out.push(' ');
                }
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(sep);
                    }
                    item.write(out, indent);
                }
                if indent.is_some() {
                    out.push(' ');
                }
                out.push(']');
            }
            JsonValue::Object(fields) => {
                let Some(depth) = indent else {
                    out.push('{');
                    for (i, (k, v)) in fields.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        write_string(out, k);
                        out.push(':');
                        v.write(out, None);
                    }
                    out.push('}');
                    return;
                };
                if fields.is_empty() {
                    out.push_str("{ }");
                    return;
                }
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    out.push_str(if i > 0 { ",\n" } else { "\n" });
                    push_indent(out, depth + 1);
                    write_string(out, k);
                    out.push_str(" : ");
                    v.write(out, Some(depth + 1));
                }
                out.push('\n');
                push_indent(out, depth);
                out.push('}');
            }
        }
    }
}

fn push_indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

/// A JSON string as Jackson escapes it: `"` and `\`, short forms for the usual control
/// characters, `\u00XX` for the others. Every JSON writer of the workspace uses this one.
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Java's `Double.toString`, which Jackson uses: `1.0`, `0.5`, and scientific notation
/// (`1.0E7`) outside [10⁻³, 10⁷).
fn java_double(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let abs = f.abs();
    if abs == 0.0 || (1e-3..1e7).contains(&abs) {
        let s = format!("{f}");
        return if s.contains('.') { s } else { format!("{s}.0") };
    }
    let s = format!("{f:E}");
    match s.split_once('E') {
        Some((mantissa, exp)) if !mantissa.contains('.') => format!("{mantissa}.0E{exp}"),
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> JsonValue {
        JsonValue::Object(vec![
            ("partitionId", JsonValue::Int(0)),
            (
                "replicas",
                JsonValue::Array(vec![JsonValue::Int(1), JsonValue::Int(2)]),
            ),
            ("adding", JsonValue::Array(vec![])),
            ("rack", JsonValue::Null),
            ("name", JsonValue::Str("a\"b\\c\n\u{1}".into())),
        ])
    }

    #[test]
    fn compact_is_jacksons_to_string() {
        assert_eq!(
            sample().to_compact(),
            r#"{"partitionId":0,"replicas":[1,2],"adding":[],"rack":null,"name":"a\"b\\c\n\u0001"}"#
        );
    }

    #[test]
    fn pretty_is_jacksons_default_pretty_printer() {
        let nested = JsonValue::Object(vec![("a", sample()), ("empty", JsonValue::Object(vec![]))]);
        assert_eq!(
            nested.to_pretty(),
            "{\n  \"a\" : {\n    \"partitionId\" : 0,\n    \"replicas\" : [ 1, 2 ],\n    \
             \"adding\" : [ ],\n    \"rack\" : null,\n    \"name\" : \"a\\\"b\\\\c\\n\\u0001\"\n  },\n  \
             \"empty\" : { }\n}"
        );
    }

    #[test]
    fn scalars_print_as_java_does() {
        assert_eq!(java_double(1024.0), "1024.0");
        assert_eq!(java_double(0.5), "0.5");
        assert_eq!(java_double(1e7), "1.0E7");
        assert_eq!(java_double(1.5e-5), "1.5E-5");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(base64(b"a"), "YQ==");
    }
}
