//! Apps, builds and pre-release versions (JSON:API resources).

use serde::{Deserialize, Serialize};

use super::common::{Links, Relationship};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct App {
    #[serde(rename = "type", default)]
    pub kind: String,
    pub id: String,
    #[serde(default)]
    pub attributes: AppAttributes,
    #[serde(
        default,
        deserialize_with = "super::decode::bounded_object_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub relationships: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<Links>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppAttributes {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_locale: Option<String>,
}

impl App {
    pub fn name(&self) -> &str {
        self.attributes.name.as_deref().unwrap_or("")
    }
    pub fn bundle_id(&self) -> &str {
        self.attributes.bundle_id.as_deref().unwrap_or("")
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Build {
    #[serde(rename = "type", default)]
    pub kind: String,
    pub id: String,
    #[serde(default)]
    pub attributes: BuildAttributes,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relationships: Option<BuildRelationships>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<Links>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildAttributes {
    /// The build number (CFBundleVersion), e.g. `"179"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploaded_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expired: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_os_version: Option<String>,
    /// `PROCESSING`, `FAILED`, `INVALID`, `VALID` or any new value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processing_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_audience_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uses_non_exempt_encryption: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildRelationships {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_release_version: Option<Relationship>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<Relationship>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perf_power_metrics: Option<Relationship>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnostic_signatures: Option<Relationship>,
}

impl Build {
    /// Build number (CFBundleVersion).
    pub fn number(&self) -> &str {
        self.attributes.version.as_deref().unwrap_or("")
    }
    /// Id of the linked pre-release version, when the document included it.
    pub fn pre_release_version_id(&self) -> Option<&str> {
        self.relationships
            .as_ref()?
            .pre_release_version
            .as_ref()?
            .data
            .as_ref()
            .map(|d| d.id.as_str())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PrereleaseVersion {
    /// Always `preReleaseVersions`; checked so that `Included` can tell it apart.
    #[serde(rename = "type", deserialize_with = "pre_release_type")]
    pub kind: String,
    pub id: String,
    #[serde(default)]
    pub attributes: PrereleaseVersionAttributes,
}

fn pre_release_type<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if s == "preReleaseVersions" {
        Ok(s)
    } else {
        Err(serde::de::Error::custom(
            "not a preReleaseVersions resource",
        ))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PrereleaseVersionAttributes {
    /// Marketing version, e.g. `"2.0"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
}
