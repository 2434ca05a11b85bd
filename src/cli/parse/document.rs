//! Reading saved documents for `parse`: the exporter's own decoder
//! ([`decode::json_reader`], streamed from the file, so `parse` accepts and
//! rejects exactly what the exporter does), and, when that fails, a shallow
//! [`Shape`] probe of the top level that names a wrong kind of document (an
//! apps list, an error response, a logs file given to `parse metrics`, ...)
//! without building the whole document.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context as _, anyhow};
use serde::de::{self, DeserializeOwned, IgnoredAny, Visitor};
use serde::{Deserialize, Deserializer};

use crate::asc::model::decode;

/// Which document a file must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    /// `xcodeMetrics` (perfPowerMetrics).
    Metrics,
    /// `diagnosticLogs`.
    DiagnosticLogs,
    /// `xcodeOverview` (API 4.5 performanceOverviews).
    Overview,
}

impl DocKind {
    fn name(self) -> &'static str {
        match self {
            DocKind::Metrics => "xcodeMetrics (perfPowerMetrics)",
            DocKind::DiagnosticLogs => "diagnosticLogs",
            DocKind::Overview => "xcodeOverview (performanceOverviews)",
        }
    }
}

/// The top level of a JSON document, read without building it: enough to
/// say which kind of document a file holds when it is not the expected
/// one. Every value it does not look at is skipped with serde's
/// `IgnoredAny` (serde_json skips iteratively, at any depth).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shape {
    /// `object`, `array`, `string`, `number`, `boolean` or `null`.
    pub top: &'static str,
    /// The top-level keys, in document order.
    pub keys: Vec<String>,
    /// `status` and `code` of the first entry of a top-level `errors`.
    pub first_error: Option<(String, String)>,
    /// `type` of `data` (or of its first entry).
    pub data_type: Option<String>,
    /// The keys seen in the object entries of a top-level `productData`.
    pub product_data_keys: BTreeSet<String>,
}

impl Shape {
    fn has(&self, key: &str) -> bool {
        self.keys.iter().any(|k| k == key)
    }

    fn keys_text(&self) -> String {
        if self.keys.is_empty() {
            return "none".into();
        }
        self.keys.join(", ")
    }
}

/// A visitor that accepts any JSON value, skipping what it does not want
/// and keeping `Default` for it.
macro_rules! lenient_scalars {
    ($t:ty) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<$t, E> {
            Ok(Default::default())
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<$t, E> {
            Ok(Default::default())
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<$t, E> {
            Ok(Default::default())
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<$t, E> {
            Ok(Default::default())
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<$t, E> {
            Ok(Default::default())
        }
        fn visit_unit<E: de::Error>(self) -> Result<$t, E> {
            Ok(Default::default())
        }
    };
}

fn drain_seq<'de, A: de::SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

fn drain_map<'de, A: de::MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Shape;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON document")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
                let mut shape = Shape {
                    top: "object",
                    ..Shape::default()
                };
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "errors" => {
                            shape.first_error = map.next_value::<FirstOf<ErrorProbe>>()?.0.0
                        }
                        "data" => shape.data_type = map.next_value::<TypeProbe>()?.0,
                        "productData" => {
                            shape
                                .product_data_keys
                                .extend(map.next_value::<EntryKeys>()?.0);
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                    shape.keys.push(key);
                }
                Ok(shape)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Shape, A::Error> {
                drain_seq(seq)?;
                Ok(Shape {
                    top: "array",
                    ..Shape::default()
                })
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Shape, E> {
                Ok(Shape {
                    top: "string",
                    ..Shape::default()
                })
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Shape, E> {
                Ok(Shape {
                    top: "boolean",
                    ..Shape::default()
                })
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Shape, E> {
                Ok(Shape {
                    top: "number",
                    ..Shape::default()
                })
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Shape, E> {
                Ok(Shape {
                    top: "number",
                    ..Shape::default()
                })
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Shape, E> {
                Ok(Shape {
                    top: "number",
                    ..Shape::default()
                })
            }
            fn visit_unit<E: de::Error>(self) -> Result<Shape, E> {
                Ok(Shape {
                    top: "null",
                    ..Shape::default()
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// A string or number as text; anything else is skipped.
#[derive(Default)]
struct Text(Option<String>);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(Some(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text(Some(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text(Some(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
                Ok(Text(Some(v.to_string())))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Text, E> {
                Ok(Text(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Text, E> {
                Ok(Text(None))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Text, A::Error> {
                drain_seq(seq).map(|_| Text(None))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Text, A::Error> {
                drain_map(map).map(|_| Text(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// `{status, code}` of an error entry.
#[derive(Default)]
struct ErrorProbe(Option<(String, String)>);

impl<'de> Deserialize<'de> for ErrorProbe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ErrorProbe;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an error object")
            }
            lenient_scalars!(ErrorProbe);
            fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<ErrorProbe, A::Error> {
                drain_seq(seq).map(|_| ErrorProbe(None))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<ErrorProbe, A::Error> {
                let (mut status, mut code) = (String::new(), String::new());
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "status" => status = map.next_value::<Text>()?.0.unwrap_or_default(),
                        "code" => code = map.next_value::<Text>()?.0.unwrap_or_default(),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(ErrorProbe(Some((status, code))))
            }
        }
        d.deserialize_any(V)
    }
}

/// The first entry of an array, or the value itself when not an array
/// (as `T`); `T::default()` for an empty array.
#[derive(Default)]
struct FirstOf<T>(T);

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for FirstOf<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Default> Visitor<'de> for V<T> {
            type Value = FirstOf<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any value")
            }
            lenient_scalars!(FirstOf<T>);
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<FirstOf<T>, A::Error> {
                let first = seq.next_element::<T>()?.unwrap_or_default();
                drain_seq(seq)?;
                Ok(FirstOf(first))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<FirstOf<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(FirstOf)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// `type` of a JSON:API resource or of the first one of a list.
#[derive(Default)]
struct TypeProbe(Option<String>);

impl<'de> Deserialize<'de> for TypeProbe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Default)]
        struct One(Option<String>);
        impl<'de> Deserialize<'de> for One {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = One;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("a resource")
                    }
                    lenient_scalars!(One);
                    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<One, A::Error> {
                        drain_seq(seq).map(|_| One(None))
                    }
                    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<One, A::Error> {
                        let mut kind = None;
                        while let Some(key) = map.next_key::<String>()? {
                            if key == "type" {
                                kind = map.next_value::<Text>()?.0;
                            } else {
                                map.next_value::<IgnoredAny>()?;
                            }
                        }
                        Ok(One(kind))
                    }
                }
                d.deserialize_any(V)
            }
        }
        Ok(TypeProbe(FirstOf::<One>::deserialize(d)?.0.0))
    }
}

/// The union of the keys of the object entries of an array.
#[derive(Default)]
struct EntryKeys(BTreeSet<String>);

impl<'de> Deserialize<'de> for EntryKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Default)]
        struct Keys(Vec<String>);
        impl<'de> Deserialize<'de> for Keys {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = Keys;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("an object")
                    }
                    lenient_scalars!(Keys);
                    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Keys, A::Error> {
                        drain_seq(seq).map(|_| Keys(Vec::new()))
                    }
                    fn visit_map<A: de::MapAccess<'de>>(
                        self,
                        mut map: A,
                    ) -> Result<Keys, A::Error> {
                        let mut keys = Vec::new();
                        while let Some(key) = map.next_key::<String>()? {
                            map.next_value::<IgnoredAny>()?;
                            keys.push(key);
                        }
                        Ok(Keys(keys))
                    }
                }
                d.deserialize_any(V)
            }
        }
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = EntryKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an array")
            }
            lenient_scalars!(EntryKeys);
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<EntryKeys, A::Error> {
                let mut all = BTreeSet::new();
                while let Some(k) = seq.next_element::<Keys>()? {
                    all.extend(k.0);
                }
                Ok(EntryKeys(all))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<EntryKeys, A::Error> {
                drain_map(map).map(|_| EntryKeys(BTreeSet::new()))
            }
        }
        d.deserialize_any(V)
    }
}

/// When a document did not decode as `kind`: the friendly explanation if
/// it is recognisably another kind of document (an apps list, an error
/// response, a logs file given to `parse metrics`, ...), else `None`.
pub fn wrong_kind(shape: &Shape, kind: DocKind) -> Option<String> {
    if shape.top != "object" {
        let article = if shape.top == "null" { "" } else { "a " };
        let article = if shape.top == "array" { "an " } else { article };
        return Some(format!(
            "not a {} document: the top level is {article}{}, expected an object",
            kind.name(),
            shape.top
        ));
    }
    if let Some((status, code)) = &shape.first_error {
        return Some(format!(
            "is an App Store Connect error response ({}), not a {} document",
            format!("{status} {code}").trim(),
            kind.name()
        ));
    }
    if shape.has("errors") {
        return Some(format!(
            "is an App Store Connect error response (), not a {} document",
            kind.name()
        ));
    }
    if shape.has("data") {
        let t = shape.data_type.as_deref().unwrap_or("resources");
        return Some(format!(
            "is a JSON:API document of {t}, not a {} document",
            kind.name()
        ));
    }
    let pd = |k: &str| shape.product_data_keys.contains(k);
    let logs = pd("signatureId") || pd("diagnosticLogs");
    // The overview's own keys (it has `insights` too, but no `productData`).
    let overview = !shape.has("productData")
        && (shape.has("categories") || shape.has("signatures") || shape.has("appMetadata"));
    match kind {
        DocKind::Metrics | DocKind::DiagnosticLogs if overview => Some(format!(
            "is an xcodeOverview (performanceOverviews) document, not {}; use `parse overview`",
            if kind == DocKind::Metrics {
                "xcodeMetrics"
            } else {
                "diagnosticLogs"
            }
        )),
        DocKind::Overview if logs => Some(
            "is a diagnosticLogs document, not xcodeOverview; use `parse diagnostics`".into(),
        ),
        DocKind::Overview if shape.has("productData") => Some(
            "is an xcodeMetrics (perfPowerMetrics) document, not xcodeOverview; use `parse metrics`"
                .into(),
        ),
        DocKind::Metrics if logs => Some(
            "is a diagnosticLogs document, not xcodeMetrics; use `parse diagnostics`".into(),
        ),
        DocKind::DiagnosticLogs if shape.has("insights") || pd("metricCategories") => Some(
            "is an xcodeMetrics (perfPowerMetrics) document, not diagnosticLogs; use `parse metrics`"
                .into(),
        ),
        _ => None,
    }
}

/// Reads and decodes a saved document with the exporter's decoder
/// ([`decode::json_reader`], streamed from the file): it accepts and
/// rejects what the exporter does, with the same JSON path. When decoding
/// fails, a shallow second read of the file tells a wrong kind of document
/// apart ([`wrong_kind`]). Errors name the file; syntax errors the line and
/// column.
pub fn load_document<T: DeserializeOwned>(path: &Path, kind: DocKind) -> anyhow::Result<T> {
    let open = || {
        std::fs::File::open(path)
            .map(|f| std::io::BufReader::with_capacity(256 * 1024, f))
            .with_context(|| format!("cannot read {}", path.display()))
    };
    let err = match decode::json_reader::<T, _>(open()?) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    if err.kind == decode::DecodeErrorKind::Io {
        return Err(anyhow!("cannot read {}: {}", path.display(), err.message));
    }
    if err.is_syntax() {
        return Err(anyhow!("{} is not valid JSON: {err}", path.display()));
    }
    let shape = decode::json_reader::<Shape, _>(open()?).ok();
    if let Some(m) = shape.as_ref().and_then(|s| wrong_kind(s, kind)) {
        return Err(anyhow!("{} {m}", path.display()));
    }
    let found = match &shape {
        Some(s) if err.path == "." => format!(" (top-level keys: {})", s.keys_text()),
        _ => String::new(),
    };
    Err(anyhow!(
        "{} is not a valid {} document: {err}{found}",
        path.display(),
        kind.name()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(v: serde_json::Value) -> Shape {
        decode::json(&serde_json::to_vec(&v).unwrap()).unwrap()
    }

    #[test]
    fn shapes_name_the_document() {
        let apps = shape(
            serde_json::json!({"data": [{"type": "apps", "id": "1"}], "links": {"self": ""}}),
        );
        assert_eq!(apps.keys, ["data", "links"]);
        assert!(
            wrong_kind(&apps, DocKind::Metrics)
                .unwrap()
                .contains("of apps")
        );
        let one = shape(serde_json::json!({"data": {"type": "builds", "id": "1"}}));
        assert!(
            wrong_kind(&one, DocKind::Metrics)
                .unwrap()
                .contains("of builds")
        );
        let err = shape(serde_json::json!({"errors": [{"status": "404", "code": "NOT_FOUND"}]}));
        assert!(
            wrong_kind(&err, DocKind::DiagnosticLogs)
                .unwrap()
                .contains("error response (404 NOT_FOUND)")
        );
        let logs =
            shape(serde_json::json!({"productData": [{"signatureId": "x", "diagnosticLogs": []}]}));
        assert!(
            wrong_kind(&logs, DocKind::Metrics)
                .unwrap()
                .contains("parse diagnostics")
        );
        assert_eq!(wrong_kind(&logs, DocKind::DiagnosticLogs), None);
        let metrics =
            shape(serde_json::json!({"productData": [{"metricCategories": []}], "insights": {}}));
        assert_eq!(wrong_kind(&metrics, DocKind::Metrics), None);
        assert!(
            wrong_kind(&metrics, DocKind::DiagnosticLogs)
                .unwrap()
                .contains("parse metrics")
        );
        assert!(
            wrong_kind(&shape(serde_json::json!([1])), DocKind::Metrics)
                .unwrap()
                .contains("the top level is an array")
        );
        assert!(
            wrong_kind(&shape(serde_json::json!(null)), DocKind::Metrics)
                .unwrap()
                .contains("the top level is null")
        );
    }

    #[test]
    fn the_probe_skips_deep_values() {
        let deep = format!(
            "{{\"productData\":[{{\"diagnosticLogs\":{}1{}}}],\"x\":{{}}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let s: Shape = decode::json(deep.as_bytes()).unwrap();
        assert_eq!(s.keys, ["productData", "x"]);
        assert!(s.product_data_keys.contains("diagnosticLogs"));
    }
}
