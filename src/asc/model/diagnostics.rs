//! Diagnostic signatures (JSON:API) and diagnostic logs (vendor JSON).

use serde::{Deserialize, Serialize};

use super::common::{Links, null_as_empty, shrunk};
use super::decode::grow;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiagnosticSignature {
    #[serde(rename = "type", default)]
    pub kind: String,
    pub id: String,
    #[serde(default)]
    pub attributes: DiagnosticSignatureAttributes,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relationships: Option<DiagnosticSignatureRelationships>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<Links>,
}

impl DiagnosticSignature {
    pub fn diagnostic_type(&self) -> &str {
        self.attributes.diagnostic_type.as_deref().unwrap_or("")
    }
    pub fn signature(&self) -> &str {
        self.attributes.signature.as_deref().unwrap_or("")
    }
    pub fn weight(&self) -> f64 {
        self.attributes.weight.unwrap_or(0.0)
    }
    /// `relationships.logs.links.related`, when present.
    pub fn logs_url(&self) -> Option<&str> {
        self.relationships
            .as_ref()?
            .logs
            .as_ref()?
            .links
            .as_ref()?
            .related
            .as_deref()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosticSignatureAttributes {
    /// `DISK_WRITES`, `HANGS`, `LAUNCHES` or any new value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnostic_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// A fraction of the build's total (0.85 = 85 %).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insight: Option<DiagnosticInsight>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiagnosticSignatureRelationships {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<LogsRelationship>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogsRelationship {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<Links>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosticInsight {
    /// `TREND` or any new value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insight_type: Option<String>,
    /// `UP`, `DOWN`, `UNDEFINED` or any new value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub reference_versions: Vec<DiagnosticInsightReferenceVersion>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiagnosticInsightReferenceVersion {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

/// `diagnosticLogs`: the logs document of one signature.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosticLogs {
    /// Required: missing or `null` is an error; `[]` means no logs.
    #[serde(deserialize_with = "shrunk")]
    pub product_data: Vec<DiagnosticLogsProductData>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosticLogsProductData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_id: Option<String>,
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub diagnostic_insights: Vec<DiagnosticLogInsight>,
    /// Required (may be empty).
    #[serde(deserialize_with = "shrunk")]
    pub diagnostic_logs: Vec<DiagnosticLog>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosticLogInsight {
    #[serde(
        rename = "insightsURL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub insights_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insights_category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insights_string: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosticLog {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub call_stack_tree: Vec<CallStackTree>,
    #[serde(default)]
    pub diagnostic_meta_data: DiagnosticMetaData,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallStackTree {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_stack_per_thread: Option<bool>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub call_stacks: Vec<CallStack>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallStack {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub call_stack_root_frames: Vec<CallStackNode>,
}

/// `DiagnosticLogCallStackNode`: recursive. Numbers are strings on the wire.
///
/// Trees can be thousands of frames deep, so every recursive operation is
/// stack-safe: `Drop` is iterative; `Clone`, `PartialEq`, `Debug`,
/// `Serialize` and `Deserialize` move to a fresh stack segment when the
/// current one runs low; decoding keeps at most
/// [`MAX_CALL_STACK_DEPTH`](super::decode::MAX_CALL_STACK_DEPTH) frames.
/// Because of the `Drop` impl, build nodes with all fields or with
/// [`CallStackNode::frame`], not with `..Default::default()`.
#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallStackNode {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_blame_frame: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insights_category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset_into_symbol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    #[serde(
        rename = "binaryUUID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub binary_uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset_into_binary_text_segment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_frame: Option<String>,
    /// Children; a leaf has `[]` or no key at all.
    #[serde(
        default,
        deserialize_with = "super::decode::sub_frames",
        serialize_with = "serialize_sub_frames"
    )]
    pub sub_frames: Vec<CallStackNode>,
}

fn serialize_sub_frames<S: serde::Serializer>(
    frames: &[CallStackNode],
    s: S,
) -> Result<S::Ok, S::Error> {
    grow(|| frames.serialize(s))
}

impl Drop for CallStackNode {
    /// Iterative: the children are moved to a heap stack and dropped one by
    /// one, each with no children left, so depth costs no call stack.
    fn drop(&mut self) {
        if self.sub_frames.is_empty() {
            return;
        }
        let mut pending = std::mem::take(&mut self.sub_frames);
        while let Some(mut node) = pending.pop() {
            pending.append(&mut node.sub_frames);
        }
    }
}

impl Clone for CallStackNode {
    fn clone(&self) -> Self {
        grow(|| CallStackNode {
            sample_count: self.sample_count,
            is_blame_frame: self.is_blame_frame,
            symbol_name: self.symbol_name.clone(),
            insights_category: self.insights_category.clone(),
            offset_into_symbol: self.offset_into_symbol.clone(),
            binary_name: self.binary_name.clone(),
            file_name: self.file_name.clone(),
            binary_uuid: self.binary_uuid.clone(),
            line_number: self.line_number.clone(),
            address: self.address.clone(),
            offset_into_binary_text_segment: self.offset_into_binary_text_segment.clone(),
            raw_frame: self.raw_frame.clone(),
            sub_frames: self.sub_frames.clone(),
        })
    }
}

impl PartialEq for CallStackNode {
    fn eq(&self, o: &Self) -> bool {
        self.sample_count == o.sample_count
            && self.is_blame_frame == o.is_blame_frame
            && self.symbol_name == o.symbol_name
            && self.insights_category == o.insights_category
            && self.offset_into_symbol == o.offset_into_symbol
            && self.binary_name == o.binary_name
            && self.file_name == o.file_name
            && self.binary_uuid == o.binary_uuid
            && self.line_number == o.line_number
            && self.address == o.address
            && self.offset_into_binary_text_segment == o.offset_into_binary_text_segment
            && self.raw_frame == o.raw_frame
            && grow(|| self.sub_frames == o.sub_frames)
    }
}

impl std::fmt::Debug for CallStackNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        grow(|| {
            f.debug_struct("CallStackNode")
                .field("sample_count", &self.sample_count)
                .field("is_blame_frame", &self.is_blame_frame)
                .field("symbol_name", &self.symbol_name)
                .field("insights_category", &self.insights_category)
                .field("offset_into_symbol", &self.offset_into_symbol)
                .field("binary_name", &self.binary_name)
                .field("file_name", &self.file_name)
                .field("binary_uuid", &self.binary_uuid)
                .field("line_number", &self.line_number)
                .field("address", &self.address)
                .field(
                    "offset_into_binary_text_segment",
                    &self.offset_into_binary_text_segment,
                )
                .field("raw_frame", &self.raw_frame)
                .field("sub_frames", &self.sub_frames)
                .finish()
        })
    }
}

impl CallStackNode {
    /// A frame with only `rawFrame` set and the given children.
    pub fn frame(raw_frame: impl Into<String>, sub_frames: Vec<CallStackNode>) -> Self {
        let mut node = CallStackNode::default();
        node.raw_frame = Some(raw_frame.into());
        node.sub_frames = sub_frames;
        node
    }

    /// The frame that stands for the frames dropped below
    /// [`MAX_CALL_STACK_DEPTH`](super::decode::MAX_CALL_STACK_DEPTH).
    pub fn truncation_marker() -> Self {
        Self::frame(super::decode::TRUNCATED_FRAME, Vec::new())
    }

    /// Whether this is [`CallStackNode::truncation_marker`].
    pub fn is_truncation_marker(&self) -> bool {
        self.raw_frame.as_deref() == Some(super::decode::TRUNCATED_FRAME)
            && self.sub_frames.is_empty()
            && self.symbol_name.is_none()
    }

    /// Frames on the longest path from this one down (1 for a leaf),
    /// computed without recursion.
    pub fn depth(&self) -> usize {
        let mut max = 0;
        let mut pending = vec![(self, 1usize)];
        while let Some((node, d)) = pending.pop() {
            max = max.max(d);
            pending.extend(node.sub_frames.iter().map(|c| (c, d + 1)));
        }
        max
    }

    pub fn is_blame(&self) -> bool {
        self.is_blame_frame.unwrap_or(false)
    }
    /// The frame as one line: `rawFrame` when present, otherwise built from
    /// binary, symbol and offset.
    pub fn display(&self) -> String {
        if let Some(raw) = self.raw_frame.as_deref().filter(|r| !r.is_empty()) {
            return raw.to_string();
        }
        let mut s = String::new();
        if let Some(b) = &self.binary_name {
            s.push_str(b);
            s.push_str(": ");
        }
        s.push_str(self.symbol_name.as_deref().unwrap_or("???"));
        if let Some(o) = self.offset_into_symbol.as_deref().filter(|o| !o.is_empty()) {
            s.push_str(" + ");
            s.push_str(o);
        }
        if let (Some(f), Some(l)) = (&self.file_name, &self.line_number) {
            s.push_str(&format!(" ({f}:{l})"));
        }
        s
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosticMetaData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    /// A string with its unit, e.g. `"1073.76 MB"` (§7.8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writes_caused: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_architecture: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_version: Option<String>,
}
