//! The exporter-toolkit's web configuration file, read as the toolkit reads
//! it (`web/tls_config.go`, `yaml.UnmarshalStrict`): unknown keys and
//! duplicate keys are errors, any YAML scalar is accepted where a string is
//! expected (`X-XSS-Protection: 1`), an empty file or a `null` section means
//! the defaults, and an empty string means "unset".
//!
//! Only the syntax and the checks that need no other file live here; the TLS
//! material is loaded by [`super::tls`].

use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfigFile {
    #[serde(default, deserialize_with = "nullable")]
    pub tls_server_config: TlsServerConfig,
    #[serde(default, deserialize_with = "nullable")]
    pub http_server_config: HttpServerConfig,
    #[serde(default, deserialize_with = "nullable")]
    pub rate_limit: RateLimitConfig,
    /// User name → bcrypt hash, in file order.
    #[serde(default, deserialize_with = "secret_map")]
    pub basic_auth_users: Vec<(String, Secret)>,
}

/// A value that is never printed (`Debug` shows `<secret>`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("\"\"")
        } else {
            f.write_str("<secret>")
        }
    }
}

/// `tls_server_config`. Paths are as written; [`WebConfigFile::parse`]
/// joins relative ones with the file's directory, as the toolkit does.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsServerConfig {
    #[serde(deserialize_with = "scalar")]
    pub cert: String,
    #[serde(deserialize_with = "secret")]
    pub key: Secret,
    #[serde(deserialize_with = "scalar")]
    pub client_ca: String,
    #[serde(deserialize_with = "scalar")]
    pub cert_file: String,
    #[serde(deserialize_with = "scalar")]
    pub key_file: String,
    #[serde(deserialize_with = "scalar")]
    pub client_auth_type: String,
    #[serde(deserialize_with = "scalar")]
    pub client_ca_file: String,
    #[serde(deserialize_with = "scalar_list")]
    pub cipher_suites: Vec<String>,
    #[serde(deserialize_with = "scalar_list")]
    pub curve_preferences: Vec<String>,
    #[serde(deserialize_with = "scalar")]
    pub min_version: String,
    #[serde(deserialize_with = "scalar")]
    pub max_version: String,
    #[serde(deserialize_with = "nullable_bool_true")]
    pub prefer_server_cipher_suites: bool,
    /// `None`: no SAN check. (The toolkit checks whenever the key is present.)
    #[serde(deserialize_with = "optional_scalar_list")]
    pub client_allowed_sans: Option<Vec<String>>,
}

impl Default for TlsServerConfig {
    fn default() -> Self {
        Self {
            cert: String::new(),
            key: Secret::default(),
            client_ca: String::new(),
            cert_file: String::new(),
            key_file: String::new(),
            client_auth_type: String::new(),
            client_ca_file: String::new(),
            cipher_suites: Vec::new(),
            curve_preferences: Vec::new(),
            min_version: String::new(),
            max_version: String::new(),
            prefer_server_cipher_suites: true,
            client_allowed_sans: None,
        }
    }
}

impl TlsServerConfig {
    /// The toolkit's `TLSConfig.IsEnabled`: any certificate, key, client CA
    /// or client auth policy is set.
    pub fn is_enabled(&self) -> bool {
        !(self.cert_file.is_empty()
            && self.cert.is_empty()
            && self.key_file.is_empty()
            && self.key.0.is_empty()
            && self.client_ca_file.is_empty()
            && self.client_ca.is_empty()
            && self.client_auth_type.is_empty())
    }

    /// Settings that only mean something with TLS, set while TLS is off
    /// (the toolkit ignores them; we warn).
    pub fn ignored_without_tls(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if !self.cipher_suites.is_empty() {
            out.push("cipher_suites");
        }
        if !self.curve_preferences.is_empty() {
            out.push("curve_preferences");
        }
        if !self.min_version.is_empty() {
            out.push("min_version");
        }
        if !self.max_version.is_empty() {
            out.push("max_version");
        }
        if self.client_allowed_sans.is_some() {
            out.push("client_allowed_sans");
        }
        out
    }

    /// The files this section reads (certificate, key, client CA).
    pub fn files(&self) -> Vec<&Path> {
        [&self.cert_file, &self.key_file, &self.client_ca_file]
            .into_iter()
            .filter(|p| !p.is_empty())
            .map(Path::new)
            .collect()
    }

    fn set_directory(&mut self, dir: &Path) {
        for p in [
            &mut self.cert_file,
            &mut self.key_file,
            &mut self.client_ca_file,
        ] {
            if !p.is_empty() && Path::new(p.as_str()).is_relative() {
                *p = dir.join(p.as_str()).to_string_lossy().into_owned();
            }
        }
    }
}

/// `http_server_config`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpServerConfig {
    /// HTTP/2 over TLS (ALPN `h2`); read at start only, as in the toolkit.
    #[serde(deserialize_with = "nullable_bool_true")]
    pub http2: bool,
    /// Extra response headers, from the toolkit's list only.
    #[serde(deserialize_with = "scalar_map")]
    pub headers: Vec<(String, String)>,
}

impl Default for HttpServerConfig {
    fn default() -> Self {
        Self {
            http2: true,
            headers: Vec::new(),
        }
    }
}

/// `rate_limit`: a token bucket over every request, as the toolkit's
/// `golang.org/x/time/rate` limiter (`interval: 0` turns it off).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    #[serde(deserialize_with = "go_duration")]
    pub interval: Duration,
    pub burst: u32,
}

/// The headers `http_server_config.headers` may set, with the values allowed
/// where the toolkit restricts them (`web/handler.go`, `extraHTTPHeaders`).
pub const ALLOWED_HEADERS: &[(&str, &[&str])] = &[
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

impl WebConfigFile {
    /// Parses and checks the file's text; `path` is the file (relative
    /// certificate paths are joined with its directory). The error is one
    /// line without any secret.
    pub fn parse(text: &[u8], path: &Path) -> Result<WebConfigFile, String> {
        let text = std::str::from_utf8(text).map_err(|_| "is not UTF-8 text".to_string())?;
        let mut c = if is_blank_yaml(text) {
            WebConfigFile::default()
        } else {
            // serde_norway's message names the key path and the line.
            serde_norway::from_str::<WebConfigFile>(text).map_err(|e| e.to_string())?
        };
        c.check()?;
        let dir = path.parent().unwrap_or(Path::new("."));
        c.tls_server_config.set_directory(dir);
        Ok(c)
    }

    fn check(&self) -> Result<(), String> {
        for (name, value) in &self.http_server_config.headers {
            let Some((_, allowed)) = ALLOWED_HEADERS.iter().find(|(h, _)| h == name) else {
                let names: Vec<&str> = ALLOWED_HEADERS.iter().map(|(h, _)| *h).collect();
                return Err(format!(
                    "http_server_config.headers: HTTP header {name:?} can not be configured (allowed: {})",
                    names.join(", ")
                ));
            };
            if !value.is_empty() && !allowed.is_empty() && !allowed.contains(&value.as_str()) {
                return Err(format!(
                    "http_server_config.headers: invalid value for {name}: expected one of {allowed:?}, got {value:?}"
                ));
            }
            if axum::http::HeaderValue::from_str(value).is_err() {
                return Err(format!(
                    "http_server_config.headers: the value of {name} is not a valid HTTP header value"
                ));
            }
        }
        for (user, hash) in &self.basic_auth_users {
            if let Err(reason) = super::auth::check_hash(&hash.0) {
                return Err(format!(
                    "basic_auth_users: the password of user {user:?} is not a bcrypt hash ({reason}); make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`"
                ));
            }
        }
        let t = &self.tls_server_config;
        if t.is_enabled() {
            if t.cert_file.is_empty() && t.cert.is_empty() {
                return Err("tls_server_config: missing one of cert or cert_file".into());
            }
            if t.key_file.is_empty() && t.key.0.is_empty() {
                return Err("tls_server_config: missing one of key or key_file".into());
            }
            for (a, b, set) in [
                (
                    "cert",
                    "cert_file",
                    !t.cert.is_empty() && !t.cert_file.is_empty(),
                ),
                (
                    "key",
                    "key_file",
                    !t.key.0.is_empty() && !t.key_file.is_empty(),
                ),
                (
                    "client_ca",
                    "client_ca_file",
                    !t.client_ca.is_empty() && !t.client_ca_file.is_empty(),
                ),
            ] {
                if set {
                    return Err(format!(
                        "tls_server_config: both {a} and {b} are set; keep one of them"
                    ));
                }
            }
            // Versions, suites, curves and the client auth policy are
            // checked here too, so a reload never fails on them later.
            super::tls::Policy::from_config(t, self.http_server_config.http2)?;
        }
        Ok(())
    }
}

/// Whether the text holds no YAML node (empty, blank or comments only).
fn is_blank_yaml(text: &str) -> bool {
    text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---" || l == "..."
    })
}

// ------------------------------------------------------------ deserializers

/// `null` (or an absent key) is the default.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn nullable_bool_true<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(true))
}

/// Any YAML scalar as its text (`1` → "1", `true` → "true"), `null` → "".
struct ScalarVisitor {
    secret: bool,
}

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Ok(String::new())
    }
    fn visit_none<E: de::Error>(self) -> Result<String, E> {
        Ok(String::new())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<String, A::Error> {
        Err(de::Error::custom(if self.secret {
            "expected a string (the value is not shown: it is a secret)"
        } else {
            "expected a string, found a list"
        }))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<String, A::Error> {
        Err(de::Error::custom(if self.secret {
            "expected a string (the value is not shown: it is a secret)"
        } else {
            "expected a string, found a mapping"
        }))
    }
}

fn scalar<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_any(ScalarVisitor { secret: false })
}

fn secret<'de, D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
    d.deserialize_any(ScalarVisitor { secret: true })
        .map(Secret)
}

#[derive(Deserialize)]
struct Scalar(#[serde(deserialize_with = "scalar")] String);

fn scalar_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(optional_scalar_list(d)?.unwrap_or_default())
}

fn optional_scalar_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    Ok(Option::<Vec<Scalar>>::deserialize(d)?.map(|v| v.into_iter().map(|s| s.0).collect()))
}

/// A mapping with unique keys, in file order (yaml.v2 rejects duplicates).
struct UniqueMap<F> {
    value: F,
}

impl<'de, F, V> Visitor<'de> for UniqueMap<F>
where
    F: Fn() -> V,
    V: de::DeserializeSeed<'de, Value = String>,
{
    type Value = Vec<(String, String)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping of names to strings")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out: Vec<(String, String)> = Vec::new();
        while let Some(Scalar(k)) = map.next_key::<Scalar>()? {
            if out.iter().any(|(seen, _)| *seen == k) {
                return Err(de::Error::custom(format!("duplicate key {k:?}")));
            }
            let v = map.next_value_seed((self.value)())?;
            out.push((k, v));
        }
        Ok(out)
    }
}

struct ScalarSeed {
    secret: bool,
}

impl<'de> de::DeserializeSeed<'de> for ScalarSeed {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_any(ScalarVisitor {
            secret: self.secret,
        })
    }
}

fn scalar_map<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
    d.deserialize_any(UniqueMap {
        value: || ScalarSeed { secret: false },
    })
}

fn secret_map<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, Secret)>, D::Error> {
    let pairs = d.deserialize_any(UniqueMap {
        value: || ScalarSeed { secret: true },
    })?;
    Ok(pairs.into_iter().map(|(k, v)| (k, Secret(v))).collect())
}

/// A Go `time.Duration` as yaml.v2 decodes one: a string in
/// `time.ParseDuration` syntax, or an integer of nanoseconds.
fn go_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Duration;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration such as 1s or 500ms")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
            parse_go_duration(v).map_err(E::custom)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
            Ok(Duration::from_nanos(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
            u64::try_from(v)
                .map(Duration::from_nanos)
                .map_err(|_| E::custom("a duration cannot be negative"))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Duration, E> {
            Ok(Duration::ZERO)
        }
    }
    d.deserialize_any(V)
}

/// Go's `time.ParseDuration`: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+` or `0`, with
/// units ns, us (µs, μs), ms, s, m, h. Written here because no maintained
/// crate parses Go's syntax (humantime has no fractions, other units).
/// Negative durations are refused: an interval cannot be negative.
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {s:?}: use Go's syntax, e.g. 1s, 500ms or 1m30s");
    let (negative, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_len);
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(bad());
        }
        let value: f64 = num.parse().map_err(|_| bad())?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let nanos_per = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("invalid duration {s:?}: missing unit (e.g. 1s)")),
            _ => return Err(format!("invalid duration {s:?}: unknown unit {unit:?}")),
        };
        total += value * nanos_per;
        rest = next;
    }
    if negative && total > 0.0 {
        return Err(format!("invalid duration {s:?}: it cannot be negative"));
    }
    if !total.is_finite() || total > i64::MAX as f64 {
        return Err(format!("invalid duration {s:?}: too long"));
    }
    Ok(Duration::from_nanos(total as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<WebConfigFile, String> {
        WebConfigFile::parse(text.as_bytes(), Path::new("/etc/exporter/web.yml"))
    }

    const HASH: &str = "$2y$05$XML0BmoDI7PT07iHt5dDHO8e6SwXfzgy3uRsv6aij88TyADf3gfjq";

    #[test]
    fn empty_and_null_sections_are_the_defaults() {
        for text in [
            "",
            "\n# only a comment\n",
            "---\n",
            "tls_server_config:\nhttp_server_config:\n",
        ] {
            let c = parse(text).unwrap();
            assert_eq!(c, WebConfigFile::default(), "{text:?}");
            assert!(c.http_server_config.http2);
            assert!(c.tls_server_config.prefer_server_cipher_suites);
            assert!(!c.tls_server_config.is_enabled());
        }
    }

    #[test]
    fn unknown_and_duplicate_keys_are_errors() {
        let e = parse("tls_server_config:\n  cert_filse: server.crt\n").unwrap_err();
        assert!(
            e.contains("tls_server_config") && e.contains("cert_filse"),
            "{e}"
        );
        let e = parse("nope: 1\n").unwrap_err();
        assert!(e.contains("nope"), "{e}");
        let e = parse(&format!(
            "basic_auth_users:\n  alice: {HASH}\n  alice: {HASH}\n"
        ))
        .unwrap_err();
        assert!(e.contains("duplicate") && e.contains("alice"), "{e}");
        let e = parse("http_server_config:\n  http2: true\n  http2: false\n").unwrap_err();
        assert!(e.contains("duplicate"), "{e}");
    }

    #[test]
    fn errors_name_the_key_once() {
        for (text, want) in [
            ("basic_auth_users: [\n", "basic_auth_users"),
            ("basic_auth_users: [a]\n", "basic_auth_users"),
            ("tls_server_config:\n  cert_filse: x\n", "tls_server_config"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.matches(want).count() <= 1, "{e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn the_toolkit_header_example_is_accepted() {
        // web/testdata/web_config_headers.good.yml (an integer value included).
        let c = parse(
            "http_server_config:\n  headers:\n    X-Frame-Options: deny\n    Strict-Transport-Security: max-age=31536000; includeSubDomains\n    X-Content-Type-Options: nosniff\n    X-XSS-Protection: 1\n    Content-Security-Policy: \"default-src 'self' *.test.example.net\"\n",
        )
        .unwrap();
        assert_eq!(c.http_server_config.headers.len(), 5);
        assert!(
            c.http_server_config
                .headers
                .contains(&("X-XSS-Protection".into(), "1".into()))
        );
    }

    #[test]
    fn headers_outside_the_toolkit_list_or_values_are_errors() {
        let e = parse("http_server_config:\n  headers:\n    Server: x\n").unwrap_err();
        assert!(e.contains("\"Server\" can not be configured"), "{e}");
        let e = parse("http_server_config:\n  headers:\n    X-Frame-Options: allow\n").unwrap_err();
        assert!(e.contains("X-Frame-Options") && e.contains("deny"), "{e}");
        let e = parse("http_server_config:\n  headers:\n    X-Content-Type-Options: sniff\n")
            .unwrap_err();
        assert!(e.contains("nosniff"), "{e}");
        // Names are matched as the toolkit matches them: exactly.
        assert!(parse("http_server_config:\n  headers:\n    x-frame-options: deny\n").is_err());
    }

    #[test]
    fn users_need_bcrypt_hashes_and_the_error_shows_no_secret() {
        let c = parse(&format!("basic_auth_users:\n  alice: {HASH}\n")).unwrap();
        assert_eq!(c.basic_auth_users[0].0, "alice");
        // web/testdata/web_config_auth_user_list_invalid.bad.yml
        let e = parse("basic_auth_users:\n  john: doe\n").unwrap_err();
        assert!(e.contains("john") && e.contains("bcrypt"), "{e}");
        assert!(!e.contains("doe"), "the value is never shown: {e}");
        let e = parse("tls_server_config:\n  key: [topsecret]\n").unwrap_err();
        assert!(!e.contains("topsecret"), "{e}");
        assert!(!format!("{c:?}").contains(HASH), "Debug hides hashes");
    }

    #[test]
    fn relative_paths_are_joined_with_the_file_directory() {
        let c = parse("tls_server_config:\n  cert_file: server.crt\n  key_file: /abs/server.key\n")
            .unwrap();
        assert_eq!(c.tls_server_config.cert_file, "/etc/exporter/server.crt");
        assert_eq!(c.tls_server_config.key_file, "/abs/server.key");
        assert!(c.tls_server_config.is_enabled());
    }

    #[test]
    fn tls_needs_both_a_certificate_and_a_key_and_one_source_each() {
        let e = parse("tls_server_config:\n  cert_file: a.crt\n").unwrap_err();
        assert!(e.contains("missing one of key or key_file"), "{e}");
        let e = parse("tls_server_config:\n  key_file: a.key\n").unwrap_err();
        assert!(e.contains("missing one of cert or cert_file"), "{e}");
        let e = parse("tls_server_config:\n  cert_file: a.crt\n  cert: x\n  key_file: a.key\n")
            .unwrap_err();
        assert!(e.contains("both cert and cert_file"), "{e}");
    }

    #[test]
    fn rate_limit_reads_go_durations() {
        let c = parse("rate_limit:\n  interval: \"1s\"\n  burst: 20\n").unwrap();
        assert_eq!(c.rate_limit.interval, Duration::from_secs(1));
        assert_eq!(c.rate_limit.burst, 20);
        assert!(parse("rate_limit:\n  interval: 1x\n").is_err());
        assert!(parse("rate_limit:\n  burst: -1\n").is_err());
        assert!(parse("rate_limit:\n  period: 1s\n").is_err());
    }

    #[test]
    fn go_duration_syntax() {
        let ok = |s: &str| parse_go_duration(s).unwrap();
        assert_eq!(ok("0"), Duration::ZERO);
        assert_eq!(ok("1s"), Duration::from_secs(1));
        assert_eq!(ok("1.5s"), Duration::from_millis(1500));
        assert_eq!(ok("1m30s"), Duration::from_secs(90));
        assert_eq!(ok("2h"), Duration::from_secs(7200));
        assert_eq!(ok("300ms"), Duration::from_millis(300));
        assert_eq!(ok("10us"), Duration::from_micros(10));
        assert_eq!(ok("10µs"), Duration::from_micros(10));
        assert_eq!(ok("+5ns"), Duration::from_nanos(5));
        assert_eq!(ok("-0s"), Duration::ZERO);
        for bad in ["", "1", "s", "1x", "1..5s", "-1s", "1s2"] {
            assert!(parse_go_duration(bad).is_err(), "{bad:?}");
        }
    }
}
