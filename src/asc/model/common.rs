//! JSON:API envelopes, paging, errors and lenient-decoding helpers.

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::decode::{bounded_value, bounded_value_opt};

/// Deserializes `T | [T] | null` into a `Vec<T>` (API-NOTES §7.1, §7.2).
///
/// A visitor rather than an untagged enum: nothing is buffered, so the
/// value is decoded once, errors keep their JSON path and hostile nesting
/// cannot build an unbounded intermediate tree.
pub fn one_or_many<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    deserializer.deserialize_any(OneOrMany(std::marker::PhantomData))
}

struct OneOrMany<T>(std::marker::PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for OneOrMany<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a value or an array of values")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }

    fn visit_none<E: de::Error>(self) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }

    fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Vec<T>, D2::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Vec<T>, A::Error> {
        Vec::<T>::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(fit)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Vec<T>, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(|t| vec![t])
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<T>, E> {
        T::deserialize(de::value::StrDeserializer::<E>::new(v)).map(|t| vec![t])
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Vec<T>, E> {
        T::deserialize(de::value::StringDeserializer::<E>::new(v)).map(|t| vec![t])
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Vec<T>, E> {
        T::deserialize(de::value::BoolDeserializer::<E>::new(v)).map(|t| vec![t])
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Vec<T>, E> {
        T::deserialize(de::value::I64Deserializer::<E>::new(v)).map(|t| vec![t])
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Vec<T>, E> {
        T::deserialize(de::value::U64Deserializer::<E>::new(v)).map(|t| vec![t])
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Vec<T>, E> {
        T::deserialize(de::value::F64Deserializer::<E>::new(v)).map(|t| vec![t])
    }
}

/// Deserializes `null` or a missing value into `T::default()`.
pub fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Deserializes a list, `null` or a missing value (empty), shrunk to fit:
/// see [`shrunk`].
pub fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(fit(
        Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default()
    ))
}

/// Deserializes a list as serde does (missing is still an error when the
/// field has no `default`), then gives back the room it grew into. JSON
/// says nothing of a list's length up front, so a decoded `Vec` doubles as
/// it fills and ends with a quarter of its room unused on average: 9 of
/// the 40 MiB a 50-app snapshot took before the lists of the metrics and
/// logs documents were shrunk (`cargo bench --bench exporter`, "decoded
/// snapshot"), held for as long as the data is served.
pub fn shrunk<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Vec::<T>::deserialize(deserializer).map(fit)
}

fn fit<T>(mut v: Vec<T>) -> Vec<T> {
    v.shrink_to_fit();
    v
}

/// `PagedDocumentLinks`: `self` is required by the spec, `next` drives paging.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PagedDocumentLinks {
    #[serde(rename = "self", default)]
    pub self_: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// `ResourceLinks` / `RelationshipLinks` / `DocumentLinks`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Links {
    #[serde(rename = "self", default, skip_serializing_if = "Option::is_none")]
    pub self_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PagingInformation {
    #[serde(default)]
    pub paging: Paging,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Paging {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    #[serde(default)]
    pub limit: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A paged JSON:API collection document (`AppsResponse`, `BuildsResponse`,
/// `DiagnosticSignaturesResponse`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct Document<T> {
    #[serde(deserialize_with = "null_as_default")]
    pub data: Vec<T>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub included: Vec<Included>,
    #[serde(default)]
    pub links: PagedDocumentLinks,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<PagingInformation>,
}

/// A single-resource JSON:API document (`AppResponse`, `BuildResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SingleDocument<T> {
    pub data: T,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub included: Vec<Included>,
    #[serde(default)]
    pub links: Links,
}

/// An `included` resource: only `preReleaseVersions` is decoded, anything
/// else is kept as raw JSON (of bounded depth, see
/// [`super::decode::bounded_value`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Included {
    PreReleaseVersion(crate::asc::model::PrereleaseVersion),
    Other(serde_json::Value),
}

impl<'de> Deserialize<'de> for Included {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = bounded_value(d)?;
        Ok(
            match crate::asc::model::PrereleaseVersion::deserialize(&v) {
                Ok(p) => Included::PreReleaseVersion(p),
                Err(_) => Included::Other(v),
            },
        )
    }
}

/// A `{type, id}` resource linkage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceIdentifier {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub id: String,
}

/// A relationship: links plus optional linkage data (present when included).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Relationship {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<Links>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<ResourceIdentifier>,
}

/// `ErrorResponse`: `{ "errors": [ ... ] }`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorResponse {
    #[serde(default, deserialize_with = "null_as_default")]
    pub errors: Vec<ApiErrorItem>,
}

/// One `ResponseError`. `detail` is optional (API-NOTES §5).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApiErrorItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "status_string")]
    pub status: String,
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(
        default,
        deserialize_with = "bounded_value_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub source: Option<serde_json::Value>,
}

/// `status` is a string on the wire; accept a number too.
fn status_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match bounded_value(d)? {
        serde_json::Value::String(s) => s,
        serde_json::Value::Number(n) => n.to_string(),
        _ => String::new(),
    })
}

impl ApiErrorItem {
    pub fn new(status: u16, code: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            id: None,
            status: status.to_string(),
            code: code.to_string(),
            title: title.to_string(),
            detail: Some(detail.into()),
            source: None,
        }
    }
}
