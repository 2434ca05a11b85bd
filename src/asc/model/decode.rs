//! The one JSON decoder of the model: the exporter's client, `parse` and the
//! state file all decode through [`json`] / [`json_reader`], so they accept
//! and reject exactly the same documents with the same message.
//!
//! - **Any real depth.** serde_json's recursion limit (128 levels, about 58
//!   call-stack frames since `subFrames` nest two JSON levels per frame) is
//!   lifted, and `serde_stacker` grows the stack as the decoder descends, so
//!   a deep document is safe on a 2 MiB tokio thread. Depth stays bounded
//!   where it would otherwise be up to the sender: call stacks keep at most
//!   [`MAX_CALL_STACK_DEPTH`] frames (deeper frames become one
//!   [`TRUNCATED_FRAME`] marker, never an error), and untyped JSON kept as
//!   [`serde_json::Value`] may nest at most [`MAX_VALUE_DEPTH`] levels (see
//!   [`bounded_value`]). Values that are skipped (unknown fields) go through
//!   serde_json's `ignore_value`, which is iterative and has no depth limit.
//! - **One verdict.** The model's `Deserialize` impls hold the rules (which
//!   keys must be present); this module only runs them and reports where a
//!   document broke them: [`DecodeError`] carries the JSON path
//!   (`serde_path_to_error`) and the line and column.

use std::cell::Cell;
use std::fmt;

use serde::Deserialize as _;
use serde::de::{DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// Deepest call-stack frame kept: a frame this deep that has sub-frames
/// gets one [`TRUNCATED_FRAME`] marker as its only sub-frame instead.
/// Real hang and launch stacks are a few hundred frames at most.
pub const MAX_CALL_STACK_DEPTH: usize = 4096;

/// `rawFrame` of the marker frame that replaces frames deeper than
/// [`MAX_CALL_STACK_DEPTH`].
pub const TRUNCATED_FRAME: &str = "… deeper frames truncated (call stack deeper than 4096 frames)";

/// Deepest nesting of untyped JSON kept as a [`serde_json::Value`]
/// (`relationships`, `included`, error `source`); deeper is an error.
pub const MAX_VALUE_DEPTH: usize = 128;

/// Free stack below which a recursive step moves to a fresh stack segment
/// (debug builds use several KiB per nesting level).
pub(crate) const RED_ZONE: usize = 256 * 1024;
/// Size of each fresh stack segment.
pub(crate) const STACK_SEGMENT: usize = 4 * 1024 * 1024;

/// Runs `f`, first moving to a fresh stack segment if little stack is
/// left: for the recursive impls of call-stack trees (Clone, Serialize, …).
pub(crate) fn grow<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(RED_ZONE, STACK_SEGMENT, f)
}

/// What kind of problem a [`DecodeError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// Not JSON at all (a syntax error or trailing characters).
    Syntax,
    /// The document ended in the middle of a value.
    Eof,
    /// Valid JSON that is not the document expected: a key that carries
    /// data is missing, `null` or of another type.
    Data,
    /// Reading the input failed.
    Io,
}

/// Why a document could not be decoded, and where.
///
/// Displays as ``at JSON path `productData[0].metricCategories[1]`: missing
/// field `metrics` at line 1 column 80``.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// The JSON path where decoding stopped (`.` for the top level); long
    /// runs of `subFrames[0]` are written once with a count.
    pub path: String,
    /// What was wrong, without the position.
    pub message: String,
    /// 1-based line of the error, 0 when unknown.
    pub line: usize,
    /// 1-based column of the error, 0 when unknown.
    pub column: usize,
    pub kind: DecodeErrorKind,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at JSON path `{}`: {}", self.path, self.message)?;
        if self.line > 0 {
            write!(f, " at line {} column {}", self.line, self.column)?;
        }
        Ok(())
    }
}

impl std::error::Error for DecodeError {}

impl DecodeError {
    fn new(path: &serde_path_to_error::Path, e: serde_json::Error) -> Self {
        let kind = match e.classify() {
            serde_json::error::Category::Io => DecodeErrorKind::Io,
            serde_json::error::Category::Syntax => DecodeErrorKind::Syntax,
            serde_json::error::Category::Data => DecodeErrorKind::Data,
            serde_json::error::Category::Eof => DecodeErrorKind::Eof,
        };
        let (line, column) = (e.line(), e.column());
        let mut message = e.to_string();
        let position = format!(" at line {line} column {column}");
        if line > 0 && message.ends_with(&position) {
            message.truncate(message.len() - position.len());
        }
        DecodeError {
            path: compact_path(path),
            message,
            line,
            column,
            kind,
        }
    }

    /// Whether the input was not JSON at all (rather than the wrong JSON).
    pub fn is_syntax(&self) -> bool {
        matches!(self.kind, DecodeErrorKind::Syntax | DecodeErrorKind::Eof)
    }
}

/// The path as serde_path_to_error writes it, with three or more equal
/// consecutive `key[i]` steps (call-stack `subFrames`) written once with a
/// count: `callStackRootFrames[0](.subFrames[0])×4000.rawFrame`.
fn compact_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    // Steps: a key with the indexes that follow it (`subFrames[0]`).
    let mut steps: Vec<String> = Vec::new();
    for segment in path {
        match segment {
            Segment::Seq { index } => match steps.last_mut() {
                Some(last) => last.push_str(&format!("[{index}]")),
                None => steps.push(format!("[{index}]")),
            },
            other => steps.push(other.to_string()),
        }
    }
    if steps.is_empty() {
        return ".".into();
    }
    let mut out = String::new();
    let mut i = 0;
    while i < steps.len() {
        let mut run = 1;
        while i + run < steps.len() && steps[i + run] == steps[i] {
            run += 1;
        }
        let sep = if out.is_empty() { "" } else { "." };
        if run >= 3 {
            out.push_str(&format!("({sep}{})×{run}", steps[i]));
        } else {
            for _ in 0..run {
                let sep = if out.is_empty() { "" } else { "." };
                out.push_str(sep);
                out.push_str(&steps[i]);
            }
        }
        i += run;
    }
    out
}

/// Decodes a whole JSON document held in memory (a response body).
pub fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, DecodeError> {
    run(serde_json::Deserializer::from_slice(body))
}

/// Decodes a whole JSON document from a reader (a file), without holding
/// the input in memory. Wrap files in a `BufReader`.
pub fn json_reader<T: DeserializeOwned, R: std::io::Read>(reader: R) -> Result<T, DecodeError> {
    run(serde_json::Deserializer::from_reader(reader))
}

fn run<'de, R: serde_json::de::Read<'de>, T: serde::Deserialize<'de>>(
    mut de: serde_json::Deserializer<R>,
) -> Result<T, DecodeError> {
    de.disable_recursion_limit();
    let result = {
        let stacked = serde_stacker::Deserializer {
            de: &mut de,
            red_zone: RED_ZONE,
            stack_size: STACK_SEGMENT,
        };
        let mut track = serde_path_to_error::Track::new();
        let value = T::deserialize(serde_path_to_error::Deserializer::new(stacked, &mut track));
        value.map_err(|e| DecodeError::new(&track.path(), e))
    };
    let value = result?;
    de.end()
        .map_err(|e| DecodeError::new(&serde_path_to_error::Track::new().path(), e))?;
    Ok(value)
}

// ---------------------------------------------------------------------------
// Call-stack depth.

thread_local! {
    /// How many `subFrames` lists enclose the one being decoded.
    static SUB_FRAMES_DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Leaves one `subFrames` level when dropped (also on errors).
struct DepthGuard;

impl DepthGuard {
    fn enter() -> (DepthGuard, usize) {
        let outer = SUB_FRAMES_DEPTH.with(|d| {
            let v = d.get();
            d.set(v + 1);
            v
        });
        (DepthGuard, outer)
    }
}

impl Drop for DepthGuard {
    fn drop(&mut self) {
        SUB_FRAMES_DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// `deserialize_with` of `CallStackNode::sub_frames`: `null` or missing is
/// a leaf; children deeper than [`MAX_CALL_STACK_DEPTH`] are skipped (with
/// serde's iterative `IgnoredAny`) and replaced by one marker frame.
pub(crate) fn sub_frames<'de, D>(d: D) -> Result<Vec<super::CallStackNode>, D::Error>
where
    D: Deserializer<'de>,
{
    let (_guard, outer) = DepthGuard::enter();
    // Frames in `callStackRootFrames` are at depth 1; the children decoded
    // here are at depth `outer + 2`.
    if outer + 2 > MAX_CALL_STACK_DEPTH {
        let any = d.deserialize_any(SkipFrames)?;
        return Ok(if any {
            vec![super::CallStackNode::truncation_marker()]
        } else {
            Vec::new()
        });
    }
    let mut frames =
        grow(|| Option::<Vec<super::CallStackNode>>::deserialize(d))?.unwrap_or_default();
    // Most frames have one sub-frame, and a Vec grown by pushing holds room
    // for four: without this a decoded stack takes 2.5x the memory.
    frames.shrink_to_fit();
    Ok(frames)
}

/// Consumes a `subFrames` value without building it; `true` when it held
/// at least one frame.
struct SkipFrames;

impl<'de> Visitor<'de> for SkipFrames {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence of call-stack frames")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let any = seq.next_element::<serde::de::IgnoredAny>()?.is_some();
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(any)
    }
}

// ---------------------------------------------------------------------------
// Untyped JSON of bounded depth.

/// `deserialize_with` for a [`serde_json::Value`] field: like
/// `Value::deserialize`, but nesting deeper than [`MAX_VALUE_DEPTH`] is an
/// error instead of a tree whose recursive `Drop` could overflow the stack.
pub fn bounded_value<'de, D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
    BoundedValue { depth: 0 }.deserialize(d)
}

/// [`bounded_value`] for an `Option<Value>` field (`null` is `None`).
pub fn bounded_value_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Ok(match bounded_value(d)? {
        Value::Null => None,
        v => Some(v),
    })
}

/// [`bounded_value`] for an optional JSON object field.
pub fn bounded_object_opt<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<serde_json::Map<String, Value>>, D::Error> {
    match bounded_value(d)? {
        Value::Null => Ok(None),
        Value::Object(m) => Ok(Some(m)),
        other => Err(serde::de::Error::invalid_type(
            unexpected(&other),
            &"an object",
        )),
    }
}

fn unexpected(v: &Value) -> serde::de::Unexpected<'_> {
    use serde::de::Unexpected;
    match v {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(_) => Unexpected::Other("a number"),
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

#[derive(Clone, Copy)]
struct BoundedValue {
    depth: usize,
}

impl BoundedValue {
    fn nested<E: serde::de::Error>(self) -> Result<BoundedValue, E> {
        if self.depth >= MAX_VALUE_DEPTH {
            return Err(E::custom(format_args!(
                "JSON nested deeper than {MAX_VALUE_DEPTH} levels"
            )));
        }
        Ok(BoundedValue {
            depth: self.depth + 1,
        })
    }
}

impl<'de> DeserializeSeed<'de> for BoundedValue {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for BoundedValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.nested()?;
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(inner)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let inner = self.nested()?;
        let mut out = serde_json::Map::new();
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value_seed(inner)?;
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asc::model::{DiagnosticLogs, XcodeMetrics};

    #[test]
    fn marker_names_the_bound() {
        assert!(TRUNCATED_FRAME.contains(&MAX_CALL_STACK_DEPTH.to_string()));
    }

    #[test]
    fn errors_carry_path_and_position() {
        let e =
            json::<XcodeMetrics>(br#"{"productData":[{"metricCategories":[{"metrics":[]},{}]}]}"#)
                .unwrap_err();
        assert_eq!(e.path, "productData[0].metricCategories[1]");
        assert_eq!(e.kind, DecodeErrorKind::Data);
        assert!(e.message.starts_with("missing field `metrics`"), "{e}");
        assert_eq!(e.line, 1);
        assert!(
            e.to_string().starts_with(
                "at JSON path `productData[0].metricCategories[1]`: missing field `metrics` at line 1 column"
            ),
            "{e}"
        );
        let e = json::<XcodeMetrics>(b"{\"productData\": []} x").unwrap_err();
        assert_eq!((e.path.as_str(), e.kind), (".", DecodeErrorKind::Syntax));
        let e = json::<XcodeMetrics>(b"{\"productData\": [").unwrap_err();
        assert!(e.is_syntax(), "{e:?}");
    }

    #[test]
    fn long_sub_frame_runs_are_counted() {
        let mut doc = String::from(
            "{\"productData\":[{\"diagnosticLogs\":[{\"callStackTree\":[{\"callStacks\":[{\"callStackRootFrames\":[",
        );
        for _ in 0..100 {
            doc.push_str("{\"subFrames\":[");
        }
        doc.push_str("{\"sampleCount\":\"x\"}");
        doc.push_str(&"]}".repeat(100));
        doc.push_str("]}]}]}]}]}");
        let e = json::<DiagnosticLogs>(doc.as_bytes()).unwrap_err();
        assert_eq!(
            e.path,
            "productData[0].diagnosticLogs[0].callStackTree[0].callStacks[0].callStackRootFrames[0](.subFrames[0])×100.sampleCount"
        );
    }

    #[test]
    fn untyped_values_are_depth_bounded() {
        #[derive(serde::Deserialize)]
        struct Holder {
            #[serde(deserialize_with = "bounded_value")]
            v: Value,
        }
        let ok = format!("{{\"v\":{}1{}}}", "[".repeat(100), "]".repeat(100));
        assert!(json::<Holder>(ok.as_bytes()).unwrap().v.is_array());
        let deep = format!("{{\"v\":{}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
        let e = json::<Holder>(deep.as_bytes()).err().unwrap();
        assert!(e.message.contains("deeper than 128"), "{e}");
        // Skipped (unknown) values may nest without limit.
        let skipped = format!(
            "{{\"productData\":[],\"x\":{}1{}}}",
            "[".repeat(200_000),
            "]".repeat(200_000)
        );
        assert!(json::<XcodeMetrics>(skipped.as_bytes()).is_ok());
    }
}
