//! How a setting's type reads its value: one format whatever the source.
//!
//! The file, the environment and the flags all put their values into one
//! JSON tree: the file its YAML values as they are, the environment and the
//! flags plain strings. Each setting's Rust type then reads that tree with
//! [`Typed`], which accepts a native value *or* its text form, so
//! `refresh.interval: 90` in the file, `ASC_EXPORTER_REFRESH_INTERVAL=90` and
//! `--refresh.interval 1m30s` mean the same thing, and a format cannot differ
//! between sources. Durations are `30s`, `15m`, `1h 30m` or a bare number of
//! seconds; booleans `true/false`, `yes/no`, `on/off`, `1/0`; lists are YAML
//! sequences or comma-separated text; maps YAML mappings or `k=v,k2=v2`.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Unexpected, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

/// The shape of a setting's value: how it is written, documented and
/// sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Free text.
    Text,
    /// A file or directory path.
    Path,
    /// A whole number, 0 or more.
    Int,
    /// A decimal number.
    Float,
    /// `true`/`false` (also `yes/no`, `on/off`, `1/0`).
    Bool,
    /// `30s`, `15m`, `1h 30m` or a number of seconds.
    Duration,
    /// Several values: a YAML sequence, comma-separated text, or a repeated flag.
    List,
    /// `key=value` pairs: a YAML mapping or `k=v,k2=v2` text.
    Map,
    /// A YAML sequence of mappings (the file only).
    Table,
}

impl Kind {
    /// The placeholder shown in `--help` and the docs.
    pub fn value_name(self) -> &'static str {
        match self {
            Kind::Text => "TEXT",
            Kind::Path => "PATH",
            Kind::Int => "N",
            Kind::Float => "NUMBER",
            Kind::Bool => "BOOL",
            Kind::Duration => "DURATION",
            Kind::List => "LIST",
            Kind::Map => "K=V,...",
            Kind::Table => "LIST OF MAPPINGS",
        }
    }
}

/// A setting's Rust type: its [`Kind`] and its (de)serialization, which
/// takes a native value or its text form.
pub trait Typed: Sized {
    const KIND: Kind;
    fn serialize_setting<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error>;
    fn deserialize_setting<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error>;
}

/// `#[serde(with = "typed")]` for every setting field.
pub mod typed {
    use super::Typed;
    use serde::{Deserializer, Serializer};

    pub fn serialize<T: Typed, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        v.serialize_setting(s)
    }

    pub fn deserialize<'de, T: Typed, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
        T::deserialize_setting(d)
    }
}

/// Expected-text for durations, shared by every error about one.
pub const DURATION_EXPECTED: &str = "a duration such as 30s, 15m or 1h 30m, or a number of seconds";

/// Parses a duration: humantime (`30s`, `1h 30m`, `500ms`) or a bare,
/// non-negative number of seconds (`90`, `0.5`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err(format!("an empty value is not {DURATION_EXPECTED}"));
    }
    if t.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return t
            .parse::<f64>()
            .ok()
            .and_then(seconds)
            .ok_or_else(|| format!("'{t}' is not {DURATION_EXPECTED}"));
    }
    humantime::parse_duration(t).map_err(|e| match e {
        humantime::DurationError::NumberOverflow => format!("'{t}' is too long"),
        _ => format!("'{t}' is not {DURATION_EXPECTED}"),
    })
}

fn seconds(s: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(s).ok()
}

/// Parses a boolean in any of the accepted spellings.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Text and paths

struct TextVisitor;

impl Visitor<'_> for TextVisitor {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("text")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
    // `key_id: 1234567890` is text that YAML happened to read as a number.
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
}

impl Typed for String {
    const KIND: Kind = Kind::Text;
    fn serialize_setting<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self)
    }
    fn deserialize_setting<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor).map(|s| s.trim().to_string())
    }
}

impl Typed for Option<String> {
    const KIND: Kind = Kind::Text;
    fn serialize_setting<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.serialize(s)
    }
    fn deserialize_setting<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Empty text is "not set" (as an empty variable is).
        Ok(Option::<Wrap<String>>::deserialize(d)?
            .map(|w| w.0)
            .filter(|s| !s.is_empty()))
    }
}

impl Typed for PathBuf {
    const KIND: Kind = Kind::Path;
    fn serialize_setting<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.serialize(s)
    }
    fn deserialize_setting<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize_setting(d).map(PathBuf::from)
    }
}

impl Typed for Option<PathBuf> {
    const KIND: Kind = Kind::Path;
    fn serialize_setting<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.serialize(s)
    }
    fn deserialize_setting<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Option::<String>::deserialize_setting(d)?.map(PathBuf::from))
    }
}

/// Reads any [`Typed`] through plain serde (for `Option<T>` and sequences).
struct Wrap<T>(T);

impl<'de, T: Typed> Deserialize<'de> for Wrap<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize_setting(d).map(Wrap)
    }
}

// ---------------------------------------------------------------------------
// Booleans and numbers

struct BoolVisitor;

impl Visitor<'_> for BoolVisitor {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("true or false (also yes/no, on/off, 1/0)")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        Ok(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
        match v {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(E::invalid_value(Unexpected::Unsigned(v), &self)),
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        parse_bool(v).ok_or_else(|| E::invalid_value(Unexpected::Str(v), &self))
    }
}

impl Typed for bool {
    const KIND: Kind = Kind::Bool;
    fn serialize_setting<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bool(*self)
    }
    fn deserialize_setting<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(BoolVisitor)
    }
}

struct IntVisitor<T>(PhantomData<T>);

impl<T: TryFrom<u64>> Visitor<'_> for IntVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a whole number (0 or more)")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &"a smaller number"))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::invalid_value(Unexpected::Signed(v), &self)),
        }
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        Err(E::invalid_value(Unexpected::Float(v), &self))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        match v.trim().parse::<u64>() {
            Ok(n) => self.visit_u64(n),
            Err(_) => Err(E::invalid_value(Unexpected::Str(v), &self)),
        }
    }
}

macro_rules! int_typed {
    ($($t:ty),*) => {$(
        impl Typed for $t {
            const KIND: Kind = Kind::Int;
            fn serialize_setting<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                self.serialize(s)
            }
            fn deserialize_setting<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(IntVisitor::<$t>(PhantomData))
            }
        }
    )*};
}
int_typed!(u32, u64, usize);

struct FloatVisitor;

impl Visitor<'_> for FloatVisitor {
    type Value = f64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number such as 0.25")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        if v.is_finite() {
            Ok(v)
        } else {
            Err(E::invalid_value(Unexpected::Float(v), &self))
        }
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
        match v.trim().parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(n),
            _ => Err(E::invalid_value(Unexpected::Str(v), &self)),
        }
    }
}

impl Typed for f64 {
    const KIND: Kind = Kind::Float;
    fn serialize_setting<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(*self)
    }
    fn deserialize_setting<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FloatVisitor)
    }
}

// ---------------------------------------------------------------------------
// Durations

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(DURATION_EXPECTED)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        parse_duration(v).map_err(E::custom)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        Ok(Duration::from_secs(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        match u64::try_from(v) {
            Ok(v) => Ok(Duration::from_secs(v)),
            Err(_) => Err(E::invalid_value(Unexpected::Signed(v), &self)),
        }
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
        seconds(v).ok_or_else(|| E::invalid_value(Unexpected::Float(v), &self))
    }
}

/// Durations print as humantime (`1h`, `1m 30s`), which every source reads.
fn format_duration(d: &Duration) -> String {
    humantime::format_duration(*d).to_string()
}

impl Typed for Duration {
    const KIND: Kind = Kind::Duration;
    fn serialize_setting<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(self))
    }
    fn deserialize_setting<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DurationVisitor)
    }
}

impl Typed for Option<Duration> {
    const KIND: Kind = Kind::Duration;
    fn serialize_setting<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Some(d) => s.serialize_some(&format_duration(d)),
            None => s.serialize_none(),
        }
    }
    fn deserialize_setting<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Option::<Wrap<Duration>>::deserialize(d)?.map(|w| w.0))
    }
}

// ---------------------------------------------------------------------------
// Lists and maps

/// Why an entry of a list or map is refused: an empty entry never silently
/// means "all" or vanishes.
const EMPTY_ENTRY: &str = "an entry is empty (a stray comma or '' ?): give the values separated by commas, or leave the setting unset for all";

fn list_from_text<E: de::Error>(text: &str) -> Result<Vec<String>, E> {
    text.split(',').map(|s| entry(s.to_string())).collect()
}

fn entry<E: de::Error>(s: String) -> Result<String, E> {
    let s = s.trim();
    if s.is_empty() {
        Err(E::custom(EMPTY_ENTRY))
    } else {
        Ok(s.to_string())
    }
}

struct ListVisitor;

impl<'de> Visitor<'de> for ListVisitor {
    type Value = Vec<String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list: a YAML sequence or comma-separated text")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<String>, E> {
        list_from_text(v)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
        let mut out = Vec::new();
        while let Some(Wrap::<String>(s)) = seq.next_element()? {
            out.push(entry(s)?);
        }
        Ok(out)
    }
}

impl Typed for Vec<String> {
    const KIND: Kind = Kind::List;
    fn serialize_setting<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.serialize(s)
    }
    fn deserialize_setting<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ListVisitor)
    }
}

/// `k=v,k2=v2` as in `OTEL_EXPORTER_OTLP_HEADERS`: values may be
/// percent-encoded. Errors never echo the text: a header value is a secret.
fn map_from_text<E: de::Error>(text: &str) -> Result<BTreeMap<String, String>, E> {
    let mut map = BTreeMap::new();
    for pair in text.split(',') {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(E::custom(
                "expected comma-separated key=value pairs (an entry has no '=')",
            ));
        };
        let k = entry(k.to_string())?;
        let v = v.trim();
        let v = url::form_urlencoded::parse(format!("v={}", v.replace('+', "%2B")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| v.to_string());
        if map.insert(k, v).is_some() {
            return Err(E::custom("a key is given twice"));
        }
    }
    Ok(map)
}

struct MapVisitor;

impl<'de> Visitor<'de> for MapVisitor {
    type Value = BTreeMap<String, String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("key=value pairs: a YAML mapping or k=v,k2=v2 text")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        map_from_text(v)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = BTreeMap::new();
        while let Some((Wrap::<String>(k), Wrap::<String>(v))) = map.next_entry()? {
            out.insert(entry(k)?, v);
        }
        Ok(out)
    }
}

impl Typed for BTreeMap<String, String> {
    const KIND: Kind = Kind::Map;
    fn serialize_setting<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.serialize(s)
    }
    fn deserialize_setting<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(MapVisitor)
    }
}

impl Typed for Vec<super::AccountConfig> {
    const KIND: Kind = Kind::Table;
    fn serialize_setting<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.serialize(s)
    }
    fn deserialize_setting<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<super::AccountConfig>::deserialize(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read<T: Typed>(v: serde_json::Value) -> Result<T, String> {
        T::deserialize_setting(v).map_err(|e| e.to_string())
    }

    #[test]
    fn durations_are_one_format_everywhere() {
        for (v, secs) in [
            (json!("90"), 90.0),
            (json!(90), 90.0),
            (json!("1m 30s"), 90.0),
            (json!("1m30s"), 90.0),
            (json!("0.5"), 0.5),
            (json!(0.5), 0.5),
            (json!("500ms"), 0.5),
            (json!(" 9s "), 9.0),
        ] {
            assert_eq!(
                read::<Duration>(v.clone()).unwrap().as_secs_f64(),
                secs,
                "{v}"
            );
        }
        for bad in [
            json!("soon"),
            json!("-1"),
            json!(-1),
            json!(""),
            json!(true),
        ] {
            let e = read::<Duration>(bad.clone()).unwrap_err();
            assert!(e.contains("30s"), "{bad}: {e}");
        }
        assert!(
            read::<Duration>(json!("999999999999999999999h"))
                .unwrap_err()
                .contains("too long")
        );
        assert_eq!(
            serde_json::to_value(Wrapped(Duration::from_secs(90))).unwrap(),
            json!("1m 30s")
        );
    }

    #[derive(Serialize)]
    struct Wrapped(#[serde(with = "typed")] Duration);

    #[test]
    fn booleans_numbers_and_text() {
        for (v, b) in [
            (json!("yes"), true),
            (json!("OFF"), false),
            (json!(1), true),
            (json!(false), false),
        ] {
            assert_eq!(read::<bool>(v).unwrap(), b);
        }
        assert!(
            read::<bool>(json!("maybe"))
                .unwrap_err()
                .contains("true or false")
        );
        assert_eq!(read::<u32>(json!(" 7 ")).unwrap(), 7);
        assert!(
            read::<u32>(json!("many"))
                .unwrap_err()
                .contains("whole number")
        );
        assert!(read::<u32>(json!(-1)).unwrap_err().contains("whole number"));
        assert!(
            read::<u32>(json!(1.5))
                .unwrap_err()
                .contains("whole number")
        );
        assert!(
            read::<u32>(json!(u64::MAX))
                .unwrap_err()
                .contains("smaller")
        );
        assert_eq!(read::<f64>(json!("0.25")).unwrap(), 0.25);
        assert!(read::<f64>(json!("NaN")).unwrap_err().contains("number"));
        assert_eq!(read::<String>(json!(1234567890)).unwrap(), "1234567890");
        assert_eq!(read::<Option<String>>(json!("  ")).unwrap(), None);
        assert_eq!(
            read::<Option<PathBuf>>(json!("/x")).unwrap(),
            Some("/x".into())
        );
    }

    #[test]
    fn lists_refuse_empty_entries() {
        assert_eq!(read::<Vec<String>>(json!("a, b")).unwrap(), ["a", "b"]);
        assert_eq!(
            read::<Vec<String>>(json!(["a", " b "])).unwrap(),
            ["a", "b"]
        );
        for bad in [
            json!(""),
            json!("a,,b"),
            json!("a,"),
            json!([""]),
            json!(["a", " "]),
        ] {
            let e = read::<Vec<String>>(bad.clone()).unwrap_err();
            assert!(
                e.contains("empty") && e.contains("unset for all"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn maps_decode_and_never_echo() {
        let m = read::<BTreeMap<String, String>>(json!("x-api-key=a%3Db, other = c ")).unwrap();
        assert_eq!(m["x-api-key"], "a=b");
        assert_eq!(m["other"], "c");
        let e = read::<BTreeMap<String, String>>(json!("secret-without-equals")).unwrap_err();
        assert!(e.contains("key=value") && !e.contains("secret"), "{e}");
        let e = read::<BTreeMap<String, String>>(json!("=secret")).unwrap_err();
        assert!(!e.contains("secret"), "{e}");
        let m = read::<BTreeMap<String, String>>(json!({"a": "1", "b": 2})).unwrap();
        assert_eq!(m["b"], "2");
    }
}
