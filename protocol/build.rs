//! Generates the message codec from the `.kdef` definitions in `schema/`.
//!
//! Each `.kdef` message becomes a Rust module with one struct per (nested) struct of the
//! message, a `Default` with Kafka's defaults, and a `Wire` impl whose read/write/size follow
//! the field's version ranges, nullable versions and tagged fields. The output goes to
//! `$OUT_DIR/messages.rs`, included by `src/messages.rs`. The format is described in
//! `schema/transcribe.py`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

#[derive(Clone, Copy, Debug)]
struct Range {
    lo: i16,
    hi: i16,
}

impl Range {
    fn parse(s: &str) -> Range {
        let s = s.strip_prefix('v').unwrap_or(s);
        if s == "none" {
            return Range { lo: 1, hi: 0 };
        }
        if let Some(lo) = s.strip_suffix('+') {
            return Range {
                lo: lo.parse().expect("range"),
                hi: i16::MAX,
            };
        }
        if let Some((a, b)) = s.split_once('-') {
            return Range {
                lo: a.parse().expect("range"),
                hi: b.parse().expect("range"),
            };
        }
        let v = s.parse().expect("range");
        Range { lo: v, hi: v }
    }
    fn is_empty(&self) -> bool {
        self.lo > self.hi
    }
    /// A Rust condition on `version` that is true inside this range, simplified against the
    /// versions the message has at all.
    fn cond(&self, within: Range) -> String {
        if self.is_empty() {
            return "false".into();
        }
        let lo = self.lo.max(within.lo);
        let hi = self.hi.min(within.hi);
        if lo > hi {
            return "false".into();
        }
        match (lo <= within.lo, hi >= within.hi) {
            (true, true) => "true".into(),
            (true, false) => format!("version <= {hi}"),
            (false, true) => format!("version >= {lo}"),
            (false, false) if lo == hi => format!("version == {lo}"),
            (false, false) => format!("version >= {lo} && version <= {hi}"),
        }
    }
}

#[derive(Debug)]
struct Field {
    name: String,
    ty: String,
    versions: Range,
    nullable: Option<Range>,
    tag: Option<(u32, Range)>,
    default: Option<String>,
    ignorable: bool,
    children: Vec<Field>,
}

#[derive(Debug)]
struct Message {
    kind: String,
    name: String,
    key: Option<i16>,
    versions: Range,
    flex: Range,
    fields: Vec<Field>,
    commons: Vec<(String, Vec<Field>)>,
}

fn parse_fields(lines: &[(usize, Vec<String>)], pos: &mut usize, depth: usize) -> Vec<Field> {
    let mut out = Vec::new();
    while *pos < lines.len() && lines[*pos].0 == depth {
        let toks = &lines[*pos].1;
        *pos += 1;
        let mut f = Field {
            name: toks[0].clone(),
            ty: toks[1].clone(),
            versions: Range::parse(&toks[2]),
            nullable: None,
            tag: None,
            default: None,
            ignorable: false,
            children: Vec::new(),
        };
        let mut tag = None;
        let mut tagged = None;
        for t in &toks[3..] {
            if let Some(v) = t.strip_prefix("null=") {
                f.nullable = Some(Range::parse(v));
            } else if let Some(v) = t.strip_prefix("tag=") {
                tag = Some(v.parse::<u32>().expect("tag"));
            } else if let Some(v) = t.strip_prefix("tagged=") {
                tagged = Some(Range::parse(v));
            } else if let Some(v) = t.strip_prefix("default=") {
                f.default = Some(v.to_string());
            } else if t == "ignorable" {
                f.ignorable = true;
            } else {
                panic!("unknown option {t} on field {}", f.name);
            }
        }
        if let Some(tag) = tag {
            f.tag = Some((tag, tagged.expect("tag without tagged=")));
        }
        f.children = parse_fields(lines, pos, depth + 1);
        out.push(f);
    }
    out
}

fn parse_file(text: &str) -> Vec<Message> {
    let lines: Vec<(usize, Vec<String>)> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|l| {
            let indent = l.len() - l.trim_start().len();
            assert!(indent % 2 == 0, "odd indentation: {l}");
            (
                indent / 2,
                l.split_whitespace().map(str::to_string).collect(),
            )
        })
        .collect();
    let mut msgs: Vec<Message> = Vec::new();
    let mut pos = 0;
    while pos < lines.len() {
        let (depth, toks) = &lines[pos];
        assert_eq!(*depth, 0, "expected a message line: {toks:?}");
        pos += 1;
        if toks[0] == "common" {
            let fields = parse_fields(&lines, &mut pos, 1);
            msgs.last_mut()
                .expect("common before message")
                .commons
                .push((toks[1].clone(), fields));
            continue;
        }
        let mut m = Message {
            kind: toks[0].clone(),
            name: toks[1].clone(),
            key: None,
            versions: Range { lo: 0, hi: 0 },
            flex: Range { lo: 1, hi: 0 },
            fields: Vec::new(),
            commons: Vec::new(),
        };
        for t in &toks[2..] {
            if let Some(v) = t.strip_prefix("key=") {
                m.key = Some(v.parse().expect("key"));
            } else if let Some(v) = t.strip_prefix("flex=") {
                m.flex = Range::parse(v);
            } else {
                m.versions = Range::parse(t);
            }
        }
        m.fields = parse_fields(&lines, &mut pos, 1);
        msgs.push(m);
    }
    msgs
}

fn snake(name: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = i + 1 < chars.len() && chars[i + 1].is_lowercase();
            if i > 0 && (prev_lower || (next_lower && chars[i - 1].is_uppercase())) {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    match out.as_str() {
        "type" | "match" | "ref" | "mod" | "self" | "struct" => format!("r#{out}"),
        _ => out,
    }
}

fn primitive(ty: &str) -> Option<&'static str> {
    Some(match ty {
        "bool" => "bool",
        "int8" => "i8",
        "int16" => "i16",
        "uint16" => "u16",
        "int32" => "i32",
        "uint32" => "u32",
        "int64" => "i64",
        "float64" => "f64",
        "uuid" => "Uuid",
        "string" => "String",
        "bytes" | "records" => "Bytes",
        _ => return None,
    })
}

struct Gen<'a> {
    msg: &'a Message,
    out: String,
    /// Structs already emitted in this message's module (Kafka reuses names).
    done: BTreeMap<String, ()>,
}

impl Gen<'_> {
    fn rust_type(&self, f: &Field) -> String {
        let (is_array, base) = match f.ty.strip_prefix("[]") {
            Some(b) => (true, b),
            None => (false, f.ty.as_str()),
        };
        let inner = primitive(base)
            .map(str::to_string)
            .unwrap_or_else(|| base.to_string());
        let t = if is_array {
            format!("Vec<{inner}>")
        } else {
            inner
        };
        if f.nullable.is_some() {
            format!("Option<{t}>")
        } else {
            t
        }
    }

    fn default_expr(&self, f: &Field) -> String {
        let base = f.ty.trim_start_matches("[]");
        let is_array = f.ty.starts_with("[]");
        let d = f.default.as_deref();
        if f.nullable.is_some() && (d == Some("null") || f.ty == "records") {
            return "None".into();
        }
        let inner = if is_array {
            let elem = primitive(base).unwrap_or(base);
            format!("Vec::<{elem}>::new()")
        } else {
            match (base, d) {
                ("bool", Some(v)) => v.to_string(),
                ("string", _) => "String::new()".into(),
                ("bytes" | "records", _) => "Bytes::new()".into(),
                ("uuid", _) => "Uuid::ZERO".into(),
                ("float64", Some(v)) => format!("{v}_f64"),
                (_, Some(v)) if primitive(base).is_some() => {
                    let t = primitive(base).unwrap_or_default();
                    if let Some(hex) = v.strip_prefix("0x") {
                        format!("0x{hex}_{t}")
                    } else {
                        format!("{v}_{t}")
                    }
                }
                (_, None) if primitive(base).is_some() => "Default::default()".into(),
                _ => format!("{base}::default()"),
            }
        };
        if f.nullable.is_some() {
            format!("Some({inner})")
        } else {
            inner
        }
    }

    fn emit_struct(&mut self, name: &str, fields: &[Field], top: bool) {
        if self.done.insert(name.to_string(), ()).is_some() {
            return;
        }
        // Nested structs first.
        for f in fields {
            if !f.children.is_empty() {
                let base = f.ty.trim_start_matches("[]").to_string();
                self.emit_struct(&base, &f.children, false);
            }
        }
        let m = self.msg;
        let all = m.versions;
        let o = &mut String::new();
        let derive_eq = !contains_float(fields);
        writeln!(
            o,
            "/// {} (Kafka `{}`{}).",
            name,
            m.name,
            if top { "" } else { " nested struct" }
        )
        .ok();
        writeln!(
            o,
            "#[derive(Debug, Clone, PartialEq{})]",
            if derive_eq { ", Eq" } else { "" }
        )
        .ok();
        writeln!(o, "pub struct {name} {{").ok();
        for f in fields {
            writeln!(
                o,
                "    /// `{}`: versions {}.",
                f.name,
                fmt_range(f.versions)
            )
            .ok();
            writeln!(o, "    pub {}: {},", snake(&f.name), self.rust_type(f)).ok();
        }
        writeln!(o, "}}\n").ok();
        writeln!(
            o,
            "impl Default for {name} {{\n    fn default() -> Self {{\n        Self {{"
        )
        .ok();
        for f in fields {
            writeln!(
                o,
                "            {}: {},",
                snake(&f.name),
                self.default_expr(f)
            )
            .ok();
        }
        writeln!(o, "        }}\n    }}\n}}\n").ok();

        let regular: Vec<&Field> = fields.iter().filter(|f| f.tag.is_none()).collect();
        let mut tagged: Vec<&Field> = fields.iter().filter(|f| f.tag.is_some()).collect();
        tagged.sort_by_key(|f| f.tag.map(|t| t.0));
        let msg_name = &m.name;

        // read
        writeln!(o, "impl Wire for {name} {{").ok();
        writeln!(
            o,
            "    fn read(buf: &mut Bytes, flex: bool, version: i16) -> DecodeResult<Self> {{"
        )
        .ok();
        writeln!(o, "        let _ = (&buf, flex, version);").ok();
        writeln!(
            o,
            "        #[allow(unused_mut)]\n        let mut this = Self::default();"
        )
        .ok();
        for f in &regular {
            let c = f.versions.cond(all);
            if c == "false" {
                continue;
            }
            let fname = snake(&f.name);
            let field_ctx = format!(
                ".map_err(|e| e.within(\"{msg_name}\", version, \"{}\"))?",
                f.name
            );
            writeln!(o, "        if {c} {{").ok();
            writeln!(
                o,
                "            this.{fname} = Wire::read(buf, flex, version){field_ctx};"
            )
            .ok();
            if let Some(n) = f.nullable {
                let nc = n.cond(all);
                if nc != "true" {
                    writeln!(
                        o,
                        "            if this.{fname}.is_none() && !({nc}) {{ return Err(DecodeError::new(DecodeErrorKind::NullNotAllowed).within(\"{msg_name}\", version, \"{}\")); }}",
                        f.name
                    )
                    .ok();
                }
            }
            writeln!(o, "        }}").ok();
        }
        let flex_cond = m.flex.cond(all);
        if flex_cond != "false" {
            writeln!(o, "        if flex {{").ok();
            writeln!(o, "            read_tagged_fields(buf, |tag, value| {{").ok();
            if !tagged.is_empty() {
                writeln!(o, "                match tag {{").ok();
                for f in &tagged {
                    let (t, tv) = f.tag.expect("tagged");
                    let c = tv.cond(all);
                    writeln!(
                        o,
                        "                    {t} if {c} => {{ this.{} = Wire::read(value, true, version).map_err(|e| e.within(\"{msg_name}\", version, \"{}\"))?; Ok(true) }}",
                        snake(&f.name),
                        f.name
                    )
                    .ok();
                }
                writeln!(o, "                    _ => Ok(false),\n                }}").ok();
            } else {
                writeln!(
                    o,
                    "                let _ = (tag, value);\n                Ok(false)"
                )
                .ok();
            }
            writeln!(o, "            }}).map_err(|e| e.within(\"{msg_name}\", version, \"_tagged_fields\"))?;").ok();
            writeln!(o, "        }}").ok();
        }
        writeln!(o, "        Ok(this)\n    }}\n").ok();

        // write + size share the same shape.
        for which in ["write", "size"] {
            if which == "write" {
                writeln!(
                    o,
                    "    fn write<S: Sink>(&self, buf: &mut S, flex: bool, version: i16) {{"
                )
                .ok();
                writeln!(o, "        let _ = (&buf, flex, version);").ok();
            } else {
                writeln!(
                    o,
                    "    fn size(&self, flex: bool, version: i16) -> usize {{"
                )
                .ok();
                writeln!(o, "        let _ = (flex, version);").ok();
                writeln!(
                    o,
                    "        #[allow(unused_mut)]\n        let mut n = 0usize;"
                )
                .ok();
            }
            for f in fields {
                let fname = snake(&f.name);
                let c = if f.tag.is_some() {
                    "false".to_string()
                } else {
                    f.versions.cond(all)
                };
                if which == "write" && c != "true" && !f.ignorable {
                    // A value the negotiated version cannot carry is a bug in our code: tests
                    // (debug builds) catch it; release builds still answer the client.
                    let present = match f.tag {
                        Some((_, tv)) => format!("(({}) && flex)", tv.cond(all)),
                        None => format!("({c})"),
                    };
                    writeln!(
                        o,
                        "        debug_assert!({present} || self.{fname} == {}, \"{msg_name} v{{version}} cannot carry a non-default {}\");",
                        self.default_expr(f),
                        f.name
                    )
                    .ok();
                }
                if c == "false" {
                    continue;
                }
                if let (Some(nr), "write") = (f.nullable, which) {
                    let nc = nr.cond(all);
                    if nc != "true" {
                        writeln!(o, "        debug_assert!({nc} || self.{fname}.is_some() || !({c}), \"{msg_name} v{{version}}: {} cannot be null\");", f.name).ok();
                    }
                }
                if which == "write" {
                    writeln!(
                        o,
                        "        if {c} {{ self.{fname}.write(buf, flex, version); }}"
                    )
                    .ok();
                } else {
                    writeln!(
                        o,
                        "        if {c} {{ n += self.{fname}.size(flex, version); }}"
                    )
                    .ok();
                }
            }
            if flex_cond != "false" {
                writeln!(o, "        if flex {{").ok();
                writeln!(
                    o,
                    "            #[allow(unused_mut)]\n            let mut count = 0u32;"
                )
                .ok();
                for f in &tagged {
                    let (_, tv) = f.tag.expect("tagged");
                    let c = tv.cond(all);
                    writeln!(
                        o,
                        "            if {c} && self.{} != {} {{ count += 1; }}",
                        snake(&f.name),
                        self.default_expr(f)
                    )
                    .ok();
                }
                if which == "write" {
                    writeln!(o, "            write_uvarint(buf.buf(), count);").ok();
                } else {
                    writeln!(o, "            n += uvarint_size(count);").ok();
                }
                for f in &tagged {
                    let (t, tv) = f.tag.expect("tagged");
                    let c = tv.cond(all);
                    let fname = snake(&f.name);
                    let action = if which == "write" {
                        format!("write_tagged(buf, {t}, &self.{fname}, version);")
                    } else {
                        format!("n += tagged_size({t}, &self.{fname}, version);")
                    };
                    writeln!(
                        o,
                        "            if {c} && self.{fname} != {} {{ {action} }}",
                        self.default_expr(f)
                    )
                    .ok();
                }
                writeln!(o, "        }}").ok();
            }
            if which == "size" {
                writeln!(o, "        n").ok();
            }
            writeln!(o, "    }}\n").ok();
        }
        writeln!(o, "}}\n").ok();
        writeln!(
            o,
            "impl Nullable for {name} {{
    fn read_nullable(buf: &mut Bytes, flex: bool, version: i16) -> DecodeResult<Option<Self>> {{
        if read_struct_marker(buf)? {{ Ok(Some(Self::read(buf, flex, version)?)) }} else {{ Ok(None) }}
    }}
    fn write_null(buf: &mut BytesMut, _flex: bool) {{ buf.put_i8(-1); }}
    fn null_size(_flex: bool) -> usize {{ 1 }}
}}\n"
        )
        .ok();
        writeln!(o, "impl Sample for {name} {{\n    fn sample(rng: &mut SampleRng, flex: bool, version: i16) -> Self {{").ok();
        writeln!(o, "        let _ = (&rng, flex, version);\n        #[allow(unused_mut)]\n        let mut this = Self::default();").ok();
        for f in fields {
            let present = match f.tag {
                Some((_, tv)) => format!("({}) && flex", tv.cond(all)),
                None => f.versions.cond(all),
            };
            if present == "false" {
                continue;
            }
            let fname = snake(&f.name);
            let null_ok = f
                .nullable
                .map(|n| n.cond(all))
                .unwrap_or_else(|| "false".into());
            let value = if f.nullable.is_some() {
                format!("if ({null_ok}) && rng.chance(4) {{ None }} else {{ Some(Sample::sample(rng, flex, version)) }}")
            } else {
                "Sample::sample(rng, flex, version)".to_string()
            };
            writeln!(o, "        if {present} {{ this.{fname} = {value}; }}").ok();
        }
        writeln!(o, "        this\n    }}\n}}\n").ok();
        if has_json(m) {
            self.emit_json(o, name, fields);
        }
        self.out.push_str(o);
    }

    /// `impl ToJson`, as Kafka's generated `*JsonConverter.write`: schema field names with the
    /// first letter lowered, only the fields `version` has, tagged fields only when set.
    fn emit_json(&self, o: &mut String, name: &str, fields: &[Field]) {
        let all = self.msg.versions;
        writeln!(
            o,
            "impl ToJson for {name} {{\n    fn to_json(&self, version: i16) -> JsonValue {{"
        )
        .ok();
        writeln!(o, "        let _ = version;\n        #[allow(unused_mut)]\n        let mut fields: Vec<(&'static str, JsonValue)> = Vec::new();").ok();
        for f in fields {
            let present = f.versions.cond(all);
            if present == "false" {
                continue;
            }
            let fname = snake(&f.name);
            let key = camel(&f.name);
            let cond = match f.tag {
                Some((_, tv)) => format!(
                    "({present}) && (!({}) || self.{fname} != {})",
                    tv.cond(all),
                    self.default_expr(f)
                ),
                None => present,
            };
            writeln!(
                o,
                "        if {cond} {{ fields.push((\"{key}\", self.{fname}.to_json(version))); }}"
            )
            .ok();
        }
        writeln!(o, "        JsonValue::Object(fields)\n    }}\n}}\n").ok();
    }
}

/// Messages that get a JSON form: metadata records and data schemas (control records,
/// snapshot header/footer, group and offset records), which the tools print.
fn has_json(m: &Message) -> bool {
    m.kind == "metadata" || m.kind == "data"
}

/// Kafka's `camelCaseName`: the schema name with its first letter lowered.
fn camel(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn contains_float(fields: &[Field]) -> bool {
    fields
        .iter()
        .any(|f| f.ty.ends_with("float64") || contains_float(&f.children))
}

fn fmt_range(r: Range) -> String {
    if r.is_empty() {
        "none".into()
    } else if r.hi == i16::MAX {
        format!("{}+", r.lo)
    } else if r.lo == r.hi {
        format!("{}", r.lo)
    } else {
        format!("{}-{}", r.lo, r.hi)
    }
}

fn main() {
    let schema = Path::new("schema");
    println!("cargo:rerun-if-changed=schema");
    let mut files: Vec<_> = Vec::new();
    for dir in ["api", "records"] {
        let d = schema.join(dir);
        println!("cargo:rerun-if-changed={}", d.display());
        for e in fs::read_dir(&d).expect("schema dir") {
            let p = e.expect("entry").path();
            if p.extension().is_some_and(|x| x == "kdef") {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut msgs = Vec::new();
    for p in &files {
        let text = fs::read_to_string(p).expect("read kdef");
        msgs.extend(parse_file(&text));
    }

    let mut out = String::new();
    out.push_str(
        "// Generated by protocol/build.rs from protocol/schema/**/*.kdef. Do not edit.\n\n",
    );
    for m in &msgs {
        let modname = snake(&m.name);
        let mut g = Gen {
            msg: m,
            out: String::new(),
            done: BTreeMap::new(),
        };
        // Common structs may be referenced before they are defined.
        for (name, fields) in &m.commons {
            g.emit_struct(name, fields, false);
        }
        g.emit_struct(&m.name, &m.fields, true);
        writeln!(
            out,
            "/// Kafka `{}` ({}, versions {}).",
            m.name,
            m.kind,
            fmt_range(m.versions)
        )
        .ok();
        writeln!(
            out,
            "pub mod {modname} {{\n    #![allow(clippy::all, unused_imports)]\n    use super::*;\n"
        )
        .ok();
        out.push_str(&g.out);
        let key = m.key.unwrap_or(-1);
        writeln!(
            out,
            "impl Message for {} {{
    const NAME: &'static str = \"{}\";
    const KEY: i16 = {key};
    const VERSIONS: (i16, i16) = ({}, {});
    const FLEXIBLE_MIN: i16 = {};
}}",
            m.name,
            m.name,
            m.versions.lo,
            m.versions.hi,
            if m.flex.is_empty() {
                i16::MAX
            } else {
                m.flex.lo
            },
        )
        .ok();
        writeln!(out, "}}\npub use {modname}::{};\n", m.name).ok();
    }

    writeln!(out, "/// Calls `$m!(Type)` for every generated top-level message (tests use it to cover all).\n#[macro_export]\nmacro_rules! for_each_message {{\n    ($m:ident) => {{").ok();
    for m in &msgs {
        writeln!(out, "        $m!({});", m.name).ok();
    }
    writeln!(out, "    }};\n}}\n").ok();

    // The API table: one entry per request kind.
    let requests: Vec<&Message> = msgs.iter().filter(|m| m.kind == "request").collect();
    writeln!(
        out,
        "/// Every Kafka API the codec knows (not necessarily served: see `versions`)."
    )
    .ok();
    writeln!(out, "#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]\n#[repr(i16)]\npub enum ApiKey {{").ok();
    for m in &requests {
        writeln!(
            out,
            "    {} = {},",
            m.name.trim_end_matches("Request"),
            m.key.expect("key")
        )
        .ok();
    }
    writeln!(out, "}}\n\nimpl ApiKey {{\n    /// Every API, in key order.\n    pub const ALL: &'static [ApiKey] = &[").ok();
    let mut sorted = requests.clone();
    sorted.sort_by_key(|m| m.key);
    for m in &sorted {
        writeln!(
            out,
            "        ApiKey::{},",
            m.name.trim_end_matches("Request")
        )
        .ok();
    }
    writeln!(out, "    ];\n\n    /// The API for a wire key.\n    pub fn from_i16(key: i16) -> Option<ApiKey> {{\n        match key {{").ok();
    for m in &requests {
        writeln!(
            out,
            "            {} => Some(ApiKey::{}),",
            m.key.expect("key"),
            m.name.trim_end_matches("Request")
        )
        .ok();
    }
    writeln!(out, "            _ => None,\n        }}\n    }}\n").ok();
    writeln!(out, "    /// Kafka's name of the API.\n    pub fn name(self) -> &'static str {{\n        match self {{").ok();
    for m in &requests {
        let n = m.name.trim_end_matches("Request");
        writeln!(out, "            ApiKey::{n} => \"{n}\",").ok();
    }
    writeln!(out, "        }}\n    }}\n").ok();
    writeln!(out, "    /// Versions of the request schema (what the codec can decode).\n    pub fn schema_versions(self) -> (i16, i16) {{\n        match self {{").ok();
    for m in &requests {
        writeln!(
            out,
            "            ApiKey::{} => {}::VERSIONS,",
            m.name.trim_end_matches("Request"),
            m.name
        )
        .ok();
    }
    writeln!(out, "        }}\n    }}\n").ok();
    writeln!(out, "    /// First flexible version of the request (`i16::MAX` if none).\n    pub fn flexible_min(self) -> i16 {{\n        match self {{").ok();
    for m in &requests {
        writeln!(
            out,
            "            ApiKey::{} => {}::FLEXIBLE_MIN,",
            m.name.trim_end_matches("Request"),
            m.name
        )
        .ok();
    }
    writeln!(out, "        }}\n    }}\n}}\n").ok();

    writeln!(out, "/// A decoded request body of any API.\n#[derive(Debug, Clone, PartialEq)]\npub enum RequestBody {{").ok();
    for m in &requests {
        writeln!(
            out,
            "    {}({}),",
            m.name.trim_end_matches("Request"),
            m.name
        )
        .ok();
    }
    writeln!(out, "}}\n\nimpl RequestBody {{\n    /// Decodes the body of `api` at `version` (which the caller has checked).\n    pub fn decode(api: ApiKey, version: i16, buf: &mut Bytes) -> DecodeResult<RequestBody> {{\n        Ok(match api {{").ok();
    for m in &requests {
        let n = m.name.trim_end_matches("Request");
        writeln!(
            out,
            "            ApiKey::{n} => RequestBody::{n}({}::decode(buf, version)?),",
            m.name
        )
        .ok();
    }
    writeln!(out, "        }})\n    }}\n}}\n").ok();

    // Metadata records: `type` → struct.
    let records: Vec<&Message> = msgs.iter().filter(|m| m.kind == "metadata").collect();
    writeln!(out, "/// A KRaft metadata record body (`__cluster_metadata`), by record type.\n#[derive(Debug, Clone, PartialEq)]\npub enum MetadataRecordBody {{").ok();
    for m in &records {
        writeln!(
            out,
            "    {}({}),",
            m.name.trim_end_matches("Record"),
            m.name
        )
        .ok();
    }
    writeln!(out, "}}\n\nimpl MetadataRecordBody {{\n    /// Decodes a record body of `record_type` at `version`; `None` for an unknown type.\n    pub fn decode(record_type: i16, version: i16, buf: &mut Bytes) -> Option<DecodeResult<MetadataRecordBody>> {{\n        Some(match record_type {{").ok();
    for m in &records {
        let n = m.name.trim_end_matches("Record");
        writeln!(
            out,
            "            {} => {}::decode(buf, version).map(MetadataRecordBody::{n}),",
            m.key.expect("key"),
            m.name
        )
        .ok();
    }
    writeln!(out, "            _ => return None,\n        }})\n    }}\n\n    /// The record type (Kafka's `apiKey` of the record schema).\n    pub fn record_type(&self) -> i16 {{\n        match self {{").ok();
    for m in &records {
        writeln!(
            out,
            "            MetadataRecordBody::{}(_) => {}::KEY,",
            m.name.trim_end_matches("Record"),
            m.name
        )
        .ok();
    }
    writeln!(out, "        }}\n    }}\n").ok();
    writeln!(out, "    /// Kafka's `MetadataRecordType` name, e.g. `REGISTER_BROKER_RECORD`.\n    pub fn type_name(&self) -> &'static str {{\n        match self {{").ok();
    for m in &records {
        writeln!(
            out,
            "            MetadataRecordBody::{}(_) => \"{}\",",
            m.name.trim_end_matches("Record"),
            snake(&m.name).to_uppercase()
        )
        .ok();
    }
    writeln!(out, "        }}\n    }}\n").ok();
    writeln!(out, "    /// The record's JSON at `version`, as Kafka's `MetadataJsonConverters.writeJson`.\n    pub fn to_json(&self, version: i16) -> JsonValue {{\n        match self {{").ok();
    for m in &records {
        writeln!(
            out,
            "            MetadataRecordBody::{}(r) => r.to_json(version),",
            m.name.trim_end_matches("Record"),
        )
        .ok();
    }
    writeln!(out, "        }}\n    }}\n}}").ok();

    let dest = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("messages.rs");
    fs::write(dest, out).expect("write messages.rs");
}
