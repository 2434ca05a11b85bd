//! The layers: defaults < `--demo` defaults < file < environment < flags
//! (< `RUST_LOG` for `log.level`), merged key by key into one JSON tree and
//! read once by the declared types, so every error names the key and the
//! source its value came from.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::{Config, DEMO_DEFAULTS, Setting, validate};

/// Where a value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A default of `serve --demo`.
    Demo,
    File(PathBuf),
    Env(&'static str),
    /// The flag's documented name (`--refresh.interval`).
    Flag(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Demo => write!(f, "the --demo defaults"),
            Source::File(p) => write!(f, "config file {}", p.display()),
            Source::Env(e) => write!(f, "environment variable {e}"),
            Source::Flag(fl) => write!(f, "flag {fl}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}; check --config / ASC_EXPORTER_CONFIG")]
    Unreadable { path: PathBuf, reason: String },
    #[error("config file {path} is not valid YAML: {reason}")]
    Syntax { path: PathBuf, reason: String },
    #[error("invalid configuration key '{key}' (from {origin}): {reason}")]
    Invalid {
        key: String,
        origin: String,
        reason: String,
    },
    #[error("unknown flag {flag}: see asc-perf-exporter serve --help for the flags")]
    UnknownFlag { flag: String },
}

/// The resolved configuration and the warnings validation found (to be
/// logged once logging is set up).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<String>,
}

/// The layers, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Layer {
    Demo,
    File,
    Env,
    Flag,
    /// `RUST_LOG`, which wins over every source for `log.level`.
    Override,
}

/// Builder: add layers in any order; `build()` merges them in precedence
/// order and validates.
#[derive(Debug, Default)]
pub struct Loader {
    values: BTreeMap<(&'static str, Layer), (Value, Source)>,
}

/// Every setting, in declaration order.
pub fn all() -> impl Iterator<Item = &'static Setting> {
    Config::all_settings()
}

/// The setting with this key.
pub fn setting(key: &str) -> Option<&'static Setting> {
    all().find(|s| s.key == key)
}

/// The setting a flag name (with or without `--`, its documented name, an
/// older alias, or the key itself) sets.
pub fn setting_for_flag(flag: &str) -> Option<&'static Setting> {
    let name = flag.trim_start_matches('-');
    all().find(|s| {
        !s.flag.is_empty() && (s.flag == name || s.key == name || s.aliases.contains(&name))
    })
}

fn invalid(s: &Setting, source: &Source, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: s.key.to_string(),
        origin: source.to_string(),
        reason: reason.into(),
    }
}

impl Loader {
    pub fn new() -> Self {
        Self::default()
    }

    fn put(&mut self, s: &'static Setting, layer: Layer, value: Value, source: Source) {
        self.values.insert((s.key, layer), (value, source));
    }

    /// The `serve --demo` defaults ([`DEMO_DEFAULTS`]), below every source.
    pub fn demo(mut self) -> Self {
        for (key, value) in DEMO_DEFAULTS {
            let s = setting(key).expect("DEMO_DEFAULTS names declared settings");
            self.put(
                s,
                Layer::Demo,
                Value::String(value.to_string()),
                Source::Demo,
            );
        }
        self
    }

    /// Loads a YAML file. Keys must be declared settings and appear once;
    /// an empty value (`key:` or `~`) leaves the key unset.
    pub fn file(mut self, path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Unreadable {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let source = Source::File(path.to_path_buf());
        let tree = parse_yaml(&text).map_err(|e| match e {
            YamlError::Syntax(reason) => ConfigError::Syntax {
                path: path.to_path_buf(),
                reason,
            },
            YamlError::Duplicate { key, reason } => ConfigError::Invalid {
                key,
                origin: source.to_string(),
                reason: format!("{reason}; YAML keys must be unique, keep one"),
            },
        })?;
        let map = match tree {
            Value::Null => Map::new(),
            Value::Object(m) => m,
            _ => {
                return Err(ConfigError::Syntax {
                    path: path.to_path_buf(),
                    reason: "the top level must be a mapping of keys to values".into(),
                });
            }
        };
        let mut found = Vec::new();
        collect_settings(&map, "", &source, &mut found)?;
        for (s, v) in found {
            self.put(s, Layer::File, v, source.clone());
        }
        Ok(self)
    }

    /// Applies every declared environment variable `lookup` finds. Empty
    /// (or blank) variables count as unset, as compose files leave them;
    /// invalid UTF-8 is an error, as are two names of one setting set to
    /// different values. `RUST_LOG`, when set, overrides `log.level`.
    pub fn env<V: Into<OsString>>(
        mut self,
        lookup: impl Fn(&str) -> Option<V>,
    ) -> Result<Self, ConfigError> {
        for s in all() {
            let mut chosen: Option<(&'static str, String)> = None;
            for &var in s.env {
                let Some(raw) = lookup(var).map(Into::into) else {
                    continue;
                };
                let text = utf8(&raw).ok_or_else(|| {
                    invalid(
                        s,
                        &Source::Env(var),
                        "the value is not valid UTF-8; set it to plain text or unset it",
                    )
                })?;
                if text.trim().is_empty() {
                    continue;
                }
                match &chosen {
                    Some((first, v)) if v.trim() != text.trim() => {
                        return Err(invalid(
                            s,
                            &Source::Env(var),
                            format!("{first} is also set, to another value; set only one of them"),
                        ));
                    }
                    Some(_) => {}
                    None => chosen = Some((var, text.to_string())),
                }
            }
            if let Some((var, text)) = chosen {
                self.put(s, Layer::Env, Value::String(text), Source::Env(var));
            }
        }
        if let Some(raw) = lookup("RUST_LOG").map(Into::into) {
            let s = setting("log.level").expect("log.level is declared");
            let source = Source::Env("RUST_LOG");
            let text = utf8(&raw).ok_or_else(|| {
                invalid(
                    s,
                    &source,
                    "the value is not valid UTF-8; set a filter such as info or unset it",
                )
            })?;
            if !text.trim().is_empty() {
                self.put(s, Layer::Override, Value::String(text.to_string()), source);
            }
        }
        Ok(self)
    }

    /// Sets a setting by its flag (documented name, older alias or key, with
    /// or without `--`). For a list, the value may be comma-separated; use
    /// [`Loader::flag_values`] for a repeated flag.
    pub fn flag(self, flag: &str, value: impl AsRef<OsStr>) -> Result<Self, ConfigError> {
        self.flag_values(flag, &[value])
    }

    /// Sets a setting from every value its (repeated) flag was given.
    pub fn flag_values<V: AsRef<OsStr>>(
        mut self,
        flag: &str,
        values: &[V],
    ) -> Result<Self, ConfigError> {
        let s = setting_for_flag(flag).ok_or_else(|| ConfigError::UnknownFlag {
            flag: flag.to_string(),
        })?;
        let source = Source::Flag(s.flag_name().unwrap_or_default());
        let mut texts = Vec::new();
        for v in values {
            texts.push(utf8(v.as_ref()).ok_or_else(|| {
                invalid(s, &source, "the value is not valid UTF-8; give plain text")
            })?);
        }
        let text = if s.is_list() {
            texts.join(",")
        } else if let [one] = texts.as_slice() {
            one.to_string()
        } else {
            return Err(invalid(s, &source, "given more than once; give it once"));
        };
        self.put(s, Layer::Flag, Value::String(text), source);
        Ok(self)
    }

    /// Merges, deserializes and validates; warnings are dropped (see
    /// [`Loader::load`]).
    pub fn build(self) -> Result<Config, ConfigError> {
        self.load().map(|l| l.config)
    }

    /// Merges the layers (each key from its highest layer), reads them with
    /// the declared types and validates.
    pub fn load(self) -> Result<Loaded, ConfigError> {
        let mut winners: BTreeMap<&'static str, (Value, Source)> = BTreeMap::new();
        // Ascending (key, layer) order: a later layer overwrites.
        for ((key, _), (value, source)) in self.values {
            winners.insert(key, (value, source));
        }
        let mut tree = Map::new();
        for (key, (value, _)) in &winners {
            insert(&mut tree, key, value.clone());
        }
        let origin = |key: &str| -> Option<String> { winners.get(key).map(|(_, s)| s.to_string()) };
        let mut config: Config =
            serde_path_to_error::deserialize(Value::Object(tree)).map_err(|e| {
                let path = e.path().to_string();
                // The path is a declared key (unknown ones were refused);
                // strip any index into the value itself.
                let key = all()
                    .map(|s| s.key)
                    .filter(|k| {
                        path == *k
                            || path.starts_with(&format!("{k}."))
                            || path.starts_with(&format!("{k}["))
                    })
                    .max_by_key(|k| k.len())
                    .unwrap_or(path.as_str())
                    .to_string();
                ConfigError::Invalid {
                    origin: origin(&key).unwrap_or_else(|| "defaults".into()),
                    key,
                    reason: e.into_inner().to_string(),
                }
            })?;
        let warnings = validate::validate(&config, &origin)?;
        // One answer for "where does it listen": web.listen_addresses,
        // with `listen` its first entry.
        if config.web.listen_addresses.is_empty() {
            config.web.listen_addresses = vec![config.listen.clone()];
        } else {
            config.listen = config.web.listen_addresses[0].clone();
        }
        Ok(Loaded { config, warnings })
    }
}

fn utf8(raw: &OsStr) -> Option<&str> {
    raw.to_str()
}

/// Sets `key` (dotted) in `tree`.
fn insert(tree: &mut Map<String, Value>, key: &str, value: Value) {
    match key.split_once('.') {
        None => {
            tree.insert(key.to_string(), value);
        }
        Some((head, rest)) => {
            let node = tree
                .entry(head.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(m) = node {
                insert(m, rest, value);
            }
        }
    }
}

/// Walks a file's tree along the declared keys: every leaf must be a
/// setting (a map-valued setting is one leaf), every inner node a section.
fn collect_settings(
    map: &Map<String, Value>,
    prefix: &str,
    source: &Source,
    out: &mut Vec<(&'static Setting, Value)>,
) -> Result<(), ConfigError> {
    for (k, v) in map {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        if let Some(s) = setting(&key) {
            if !v.is_null() {
                out.push((s, v.clone()));
            }
            continue;
        }
        let is_section = all().any(|s| s.key.starts_with(&format!("{key}.")));
        if !is_section {
            return Err(ConfigError::Invalid {
                reason: unknown_key_reason(&key),
                key,
                origin: source.to_string(),
            });
        }
        match v {
            Value::Object(m) => collect_settings(m, &key, source, out)?,
            Value::Null => {}
            _ => {
                return Err(ConfigError::Invalid {
                    reason: format!("expected a mapping of {key}.* keys, not a single value"),
                    key,
                    origin: source.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// "unknown key", with the closest declared key when one is close.
fn unknown_key_reason(key: &str) -> String {
    let (section, _) = key.rsplit_once('.').unwrap_or(("", key));
    let nearest = all()
        .map(|s| (strsim::levenshtein(key, s.key), s.key))
        .min()
        .filter(|(d, _)| *d <= 3)
        .map(|(_, k)| format!("; did you mean {k}?"))
        .unwrap_or_default();
    let siblings: Vec<&str> = all()
        .filter(|s| s.section() == section)
        .map(|s| s.key)
        .collect();
    let known = if section.is_empty() {
        let sections: std::collections::BTreeSet<&str> = all()
            .map(|s| s.key.split('.').next().unwrap_or(s.key))
            .collect();
        format!(
            "top-level keys are {}",
            sections.into_iter().collect::<Vec<_>>().join(", ")
        )
    } else if siblings.is_empty() {
        "see docs/configuration.md for the keys".to_string()
    } else {
        format!("{section} has {}", siblings.join(", "))
    };
    format!("unknown key{nearest} ({known})")
}

// ---------------------------------------------------------------------------
// Strict YAML: a JSON tree, refusing a key given twice in one mapping.

enum YamlError {
    Syntax(String),
    Duplicate { key: String, reason: String },
}

/// Marker that the error is a duplicate key, so the path names it.
const DUPLICATE: &str = "\u{0}duplicate";

fn parse_yaml(text: &str) -> Result<Value, YamlError> {
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    let de = serde_norway::Deserializer::from_str(text);
    match serde_path_to_error::deserialize::<_, Strict>(de) {
        Ok(Strict(v)) => Ok(v),
        Err(e) => {
            let key = e.path().to_string();
            let msg = e.into_inner().to_string();
            match msg.split_once(DUPLICATE) {
                Some((_, rest)) => Err(YamlError::Duplicate {
                    key,
                    reason: format!("set twice (again{rest})"),
                }),
                None => Err(YamlError::Syntax(msg)),
            }
        }
    }
}

/// A YAML document as JSON, refusing duplicate keys.
struct Strict(Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        // `.inf` and `.nan` have no JSON form: keep them as text, which no
        // number setting accepts.
        Ok(serde_json::Number::from_f64(v)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(v.to_string())))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(Strict(k)) = map.next_key()? {
            let k = match k {
                Value::String(s) => s,
                Value::Null => return Err(de::Error::custom("a mapping key is empty")),
                other => other.to_string(),
            };
            if out.contains_key(&k) {
                // Fail inside the value, so the error's path ends in the key.
                let never = map.next_value_seed(Duplicate)?;
                match never {}
            }
            let Strict(v) = map.next_value()?;
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

/// Reading the value of a repeated key: always an error, raised while the
/// YAML parser stands on that value, so the error carries its line.
struct Duplicate;

impl<'de> de::DeserializeSeed<'de> for Duplicate {
    type Value = std::convert::Infallible;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(DuplicateVisitor)
    }
}

struct DuplicateVisitor;

impl<'de> Visitor<'de> for DuplicateVisitor {
    type Value = std::convert::Infallible;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(DUPLICATE)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Err(E::custom(DUPLICATE))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Err(E::custom(DUPLICATE))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Err(E::custom(DUPLICATE))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Err(E::custom(DUPLICATE))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Err(E::custom(DUPLICATE))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Err(E::custom(DUPLICATE))
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Err(E::custom(DUPLICATE))
    }
    fn visit_some<D: Deserializer<'de>>(self, _: D) -> Result<Self::Value, D::Error> {
        Err(de::Error::custom(DUPLICATE))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(de::Error::custom(DUPLICATE))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(de::Error::custom(DUPLICATE))
    }
}
