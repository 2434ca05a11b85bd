//! The API routes' handlers: apps, builds, metrics and diagnostics, from
//! the synthetic [`Account`] or from fixtures. Each returns an [`Answer`] or
//! an Apple-style [`ApiError`]; the pipeline around them (auth, budget,
//! faults) is in `server.rs`.

use std::cmp::Ordering;

use serde_json::{Value, json};

use super::data::{self, BuildRef, CATEGORIES, DIAGNOSTIC_TYPES, MetricsQuery, SimApp};
use super::fixtures::{self, FixtureRoute};
use super::jsonapi::Ctx;
use super::response::{Answer, ApiError};
use crate::asc::api::{
    DIAGNOSTIC_LOGS_JSON, JSON, MAX_PAGE, XCODE_METRICS_JSON, XCODE_OVERVIEW_JSON, natural_cmp,
};
use crate::asc::model::{
    App, AppAttributes, Build, BuildAttributes, BuildRelationships, DiagnosticSignature,
    DiagnosticSignatureAttributes, DiagnosticSignatureRelationships, Links, LogsRelationship,
    PrereleaseVersion, PrereleaseVersionAttributes, Relationship, ResourceIdentifier,
};

fn fixture_answer(ctx: &Ctx<'_>, route: FixtureRoute, id: &str) -> Option<Answer> {
    fixtures::find(ctx.fixtures(), route, id).map(|f| Answer {
        content_type: route.content_type(),
        body: f.body.bytes(),
    })
}

// ----- apps -------------------------------------------------------------------------

fn app_resource(ctx: &Ctx<'_>, app: &SimApp) -> App {
    let mut rel = serde_json::Map::new();
    rel.insert(
        "builds".into(),
        json!({"links": {
            "self": ctx.url(&format!("/v1/apps/{}/relationships/builds", app.id)),
            "related": ctx.url(&format!("/v1/apps/{}/builds", app.id)),
        }}),
    );
    rel.insert(
        "perfPowerMetrics".into(),
        json!({"links": {"related": ctx.url(&format!("/v1/apps/{}/perfPowerMetrics", app.id))}}),
    );
    App {
        kind: "apps".into(),
        id: app.id.clone(),
        attributes: AppAttributes {
            name: Some(app.name.clone()),
            bundle_id: Some(app.bundle_id.clone()),
            sku: Some(app.sku.clone()),
            primary_locale: Some("en-US".into()),
        },
        relationships: Some(rel),
        links: Some(Links {
            self_: Some(ctx.url(&format!("/v1/apps/{}", app.id))),
            related: None,
        }),
    }
}

/// The resource of an app that exists only through fixtures.
fn fixture_app_resource(ctx: &Ctx<'_>, id: &str) -> Value {
    if let Some(data) = fixtures::find(ctx.fixtures(), FixtureRoute::App, id)
        .and_then(|f| f.body.json())
        .and_then(|v| v.get("data").cloned())
        .filter(Value::is_object)
    {
        return data;
    }
    let mut rel = serde_json::Map::new();
    rel.insert(
        "perfPowerMetrics".into(),
        json!({"links": {"related": ctx.url(&format!("/v1/apps/{id}/perfPowerMetrics"))}}),
    );
    serde_json::to_value(App {
        kind: "apps".into(),
        id: id.to_string(),
        attributes: AppAttributes {
            name: Some(format!("Fixture app {id}")),
            bundle_id: Some(format!("fixture.{id}")),
            sku: Some(format!("FIXTURE-{id}")),
            primary_locale: Some("en-US".into()),
        },
        relationships: Some(rel),
        links: Some(Links {
            self_: Some(ctx.url(&format!("/v1/apps/{id}"))),
            related: None,
        }),
    })
    .unwrap_or(Value::Null)
}

/// Fixture-only app ids that are not removed and not synthetic.
fn fixture_only_apps(ctx: &Ctx<'_>) -> Vec<String> {
    fixtures::fixture_app_ids(ctx.fixtures())
        .into_iter()
        .filter(|id| ctx.account.app(id).is_none() && !ctx.control.is_removed(id))
        .collect()
}

fn attr<'v>(v: &'v Value, name: &str) -> &'v str {
    v.get("attributes")
        .and_then(|a| a.get(name))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Applies `fields[type]` (sparse fieldsets) to a resource.
fn sparse(v: &mut Value, fields: &[String]) {
    if fields.is_empty() {
        return;
    }
    for key in ["attributes", "relationships"] {
        if let Some(obj) = v.get_mut(key).and_then(Value::as_object_mut) {
            obj.retain(|k, _| fields.iter().any(|f| f == k));
        }
    }
    if let Some(obj) = v.as_object_mut()
        && obj
            .get("relationships")
            .and_then(Value::as_object)
            .is_some_and(|m| m.is_empty())
    {
        obj.remove("relationships");
    }
}

pub(super) fn list_apps(ctx: &Ctx<'_>) -> Result<Answer, ApiError> {
    ctx.allow(&[
        "filter[id]",
        "filter[bundleId]",
        "filter[name]",
        "filter[sku]",
        "sort",
        "limit",
        "cursor",
    ])?;
    let mut items: Vec<Value> = ctx
        .account
        .apps
        .iter()
        .filter_map(|a| serde_json::to_value(app_resource(ctx, a)).ok())
        .collect();
    items.extend(
        fixture_only_apps(ctx)
            .iter()
            .map(|id| fixture_app_resource(ctx, id)),
    );
    for (param, field) in [
        ("filter[bundleId]", "bundleId"),
        ("filter[name]", "name"),
        ("filter[sku]", "sku"),
    ] {
        let wanted = ctx.list(param);
        if !wanted.is_empty() {
            items.retain(|v| wanted.iter().any(|w| w == attr(v, field)));
        }
    }
    let ids = ctx.list("filter[id]");
    if !ids.is_empty() {
        items.retain(|v| {
            ids.iter()
                .any(|w| Some(w.as_str()) == v.get("id").and_then(Value::as_str))
        });
    }
    if let Some(sort) = ctx.get("sort") {
        let (desc, field) = match sort.strip_prefix('-') {
            Some(f) => (true, f),
            None => (false, sort),
        };
        if !matches!(field, "name" | "bundleId" | "sku") {
            return Err(ApiError::invalid(
                "sort",
                format!(
                    "'{sort}' is not a valid value for the parameter 'sort'; expected one of name, -name, bundleId, -bundleId, sku, -sku"
                ),
            ));
        }
        items.sort_by(|a, b| {
            let o = attr(a, field).cmp(attr(b, field));
            if desc { o.reverse() } else { o }
        });
    }
    let fields = ctx.list("fields[apps]");
    for v in &mut items {
        sparse(v, &fields);
    }
    let (data, links, meta) = ctx.page(items, ctx.control.config().page_size)?;
    Answer::json(JSON, &json!({"data": data, "links": links, "meta": meta}))
}

pub(super) fn get_app(ctx: &Ctx<'_>, id: &str) -> Result<Answer, ApiError> {
    ctx.allow(&["include"])?;
    if ctx.control.is_removed(id) {
        return Err(ApiError::not_found("apps", id));
    }
    if let Some(a) = fixture_answer(ctx, FixtureRoute::App, id) {
        return Ok(a);
    }
    let mut data = if let Some(app) = ctx.account.app(id) {
        serde_json::to_value(app_resource(ctx, app)).unwrap_or(Value::Null)
    } else if fixture_only_apps(ctx).iter().any(|f| f == id) {
        fixture_app_resource(ctx, id)
    } else {
        return Err(ApiError::not_found("apps", id));
    };
    sparse(&mut data, &ctx.list("fields[apps]"));
    Answer::json(
        JSON,
        &json!({"data": data, "links": {"self": ctx.url(ctx.path)}}),
    )
}

// ----- builds -----------------------------------------------------------------------

fn rfc3339(d: &chrono::DateTime<chrono::FixedOffset>) -> String {
    d.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

fn build_resource(ctx: &Ctx<'_>, b: BuildRef<'_>, include_prv: bool, include_app: bool) -> Build {
    let id = &b.build.id;
    let rel = |name: &str, with_self: bool| Relationship {
        links: Some(Links {
            self_: with_self.then(|| ctx.url(&format!("/v1/builds/{id}/relationships/{name}"))),
            related: Some(ctx.url(&format!("/v1/builds/{id}/{name}"))),
        }),
        data: None,
    };
    let mut prv = rel("preReleaseVersion", true);
    if include_prv {
        prv.data = Some(ResourceIdentifier {
            kind: "preReleaseVersions".into(),
            id: b.version.prerelease_id.clone(),
        });
    }
    let mut app = rel("app", true);
    if include_app {
        app.data = Some(ResourceIdentifier {
            kind: "apps".into(),
            id: b.app.id.clone(),
        });
    }
    Build {
        kind: "builds".into(),
        id: id.clone(),
        attributes: BuildAttributes {
            version: Some(b.build.number.to_string()),
            uploaded_date: Some(rfc3339(&b.build.uploaded)),
            expiration_date: Some(rfc3339(&b.build.expiration)),
            expired: Some(b.build.expired),
            min_os_version: Some(b.build.min_os_version.into()),
            processing_state: Some(b.build.processing_state.into()),
            build_audience_type: Some("APP_STORE_ELIGIBLE".into()),
            uses_non_exempt_encryption: Some(false),
        },
        relationships: Some(BuildRelationships {
            pre_release_version: Some(prv),
            app: Some(app),
            perf_power_metrics: Some(rel("perfPowerMetrics", false)),
            diagnostic_signatures: Some(rel("diagnosticSignatures", true)),
        }),
        links: Some(Links {
            self_: Some(ctx.url(&format!("/v1/builds/{id}"))),
            related: None,
        }),
    }
}

fn prerelease_resource(b: BuildRef<'_>) -> PrereleaseVersion {
    PrereleaseVersion {
        kind: "preReleaseVersions".into(),
        id: b.version.prerelease_id.clone(),
        attributes: PrereleaseVersionAttributes {
            version: Some(b.version.version.clone()),
            platform: Some("IOS".into()),
        },
    }
}

/// A build in a collection: synthetic, or raw from an `app-builds` fixture.
struct BuildItem<'a> {
    synthetic: Option<BuildRef<'a>>,
    raw: Option<Value>,
    app_id: String,
    uploaded: i64,
    number: String,
    marketing: String,
    state: String,
    expired: bool,
    id: String,
}

impl<'a> BuildItem<'a> {
    fn synthetic(b: BuildRef<'a>) -> Self {
        Self {
            synthetic: Some(b),
            raw: None,
            app_id: b.app.id.clone(),
            uploaded: b.build.uploaded.timestamp(),
            number: b.build.number.to_string(),
            marketing: b.version.version.clone(),
            state: b.build.processing_state.to_string(),
            expired: b.build.expired,
            id: b.build.id.clone(),
        }
    }
    fn raw(app_id: &str, v: Value) -> Self {
        let uploaded = chrono::DateTime::parse_from_rfc3339(attr(&v, "uploadedDate"))
            .map(|d| d.timestamp())
            .unwrap_or(0);
        Self {
            synthetic: None,
            app_id: app_id.to_string(),
            uploaded,
            number: attr(&v, "version").to_string(),
            marketing: String::new(),
            state: attr(&v, "processingState").to_string(),
            expired: v
                .get("attributes")
                .and_then(|a| a.get("expired"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
            id: v
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            raw: Some(v),
        }
    }
    fn value(&self, ctx: &Ctx<'_>, prv: bool, app: bool) -> Value {
        match (&self.synthetic, &self.raw) {
            (Some(b), _) => {
                serde_json::to_value(build_resource(ctx, *b, prv, app)).unwrap_or(Value::Null)
            }
            (None, Some(v)) => v.clone(),
            (None, None) => Value::Null,
        }
    }
}

/// Builds saved in an `app-builds` fixture.
fn fixture_builds<'a>(ctx: &Ctx<'_>, app_id: &str) -> Vec<BuildItem<'a>> {
    fixtures::find(ctx.fixtures(), FixtureRoute::AppBuilds, app_id)
        .and_then(|f| f.body.json())
        .and_then(|v| v.get("data").and_then(Value::as_array).cloned())
        .unwrap_or_default()
        .into_iter()
        .filter(Value::is_object)
        .map(|v| BuildItem::raw(app_id, v))
        .collect()
}

pub(super) fn app_builds(ctx: &Ctx<'_>, id: &str) -> Result<Answer, ApiError> {
    ctx.allow(&["limit", "cursor"])?;
    if ctx.control.is_removed(id) {
        return Err(ApiError::not_found("apps", id));
    }
    if let Some(a) = fixture_answer(ctx, FixtureRoute::AppBuilds, id) {
        return Ok(a);
    }
    let Some(app) = ctx.account.app(id) else {
        if fixture_only_apps(ctx).iter().any(|f| f == id) {
            let (data, links, meta) =
                ctx.page(Vec::<Value>::new(), ctx.control.config().page_size)?;
            return Answer::json(JSON, &json!({"data": data, "links": links, "meta": meta}));
        }
        return Err(ApiError::not_found("apps", id));
    };
    let mut builds: Vec<BuildRef<'_>> = ctx
        .account
        .all_builds()
        .filter(|b| b.app.id == app.id)
        .collect();
    // Unordered like the live API, but stable between pages and runs.
    data::shuffle_seeded(&mut builds, &[ctx.account.seed, 7, data::str_hash(id)]);
    let fields = ctx.list("fields[builds]");
    let items: Vec<Value> = builds
        .into_iter()
        .map(|b| {
            let mut v =
                serde_json::to_value(build_resource(ctx, b, false, false)).unwrap_or(Value::Null);
            sparse(&mut v, &fields);
            v
        })
        .collect();
    let (data, links, meta) = ctx.page(items, ctx.control.config().page_size)?;
    Answer::json(JSON, &json!({"data": data, "links": links, "meta": meta}))
}

fn parse_bool(ctx: &Ctx<'_>, name: &str) -> Result<Option<bool>, ApiError> {
    match ctx.get(name).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(None),
        Some(v) if v == "true" => Ok(Some(true)),
        Some(v) if v == "false" => Ok(Some(false)),
        Some(_) => Err(ApiError::invalid(
            name,
            format!("The parameter '{name}' must be true or false"),
        )),
    }
}

fn includes(ctx: &Ctx<'_>) -> Result<(bool, bool), ApiError> {
    let inc = ctx.check_enum("include", &["preReleaseVersion", "app"])?;
    Ok((
        inc.iter().any(|i| i == "preReleaseVersion"),
        inc.iter().any(|i| i == "app"),
    ))
}

fn included(ctx: &Ctx<'_>, builds: &[BuildRef<'_>], prv: bool, app: bool) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for b in builds {
        if prv && seen.insert(b.version.prerelease_id.clone()) {
            out.extend(serde_json::to_value(prerelease_resource(*b)).ok());
        }
        if app && seen.insert(format!("app:{}", b.app.id)) {
            out.extend(serde_json::to_value(app_resource(ctx, b.app)).ok());
        }
    }
    out
}

pub(super) fn list_builds(ctx: &Ctx<'_>) -> Result<Answer, ApiError> {
    ctx.allow(&[
        "filter[app]",
        "filter[version]",
        "filter[processingState]",
        "filter[preReleaseVersion.version]",
        "filter[preReleaseVersion.platform]",
        "filter[expired]",
        "filter[id]",
        "sort",
        "include",
        "limit",
        "cursor",
    ])?;
    let (with_prv, with_app) = includes(ctx)?;
    let states = ctx.check_enum(
        "filter[processingState]",
        &["PROCESSING", "FAILED", "INVALID", "VALID"],
    )?;
    let platforms = ctx.check_enum(
        "filter[preReleaseVersion.platform]",
        &["IOS", "MAC_OS", "TV_OS", "VISION_OS"],
    )?;
    let expired = parse_bool(ctx, "filter[expired]")?;
    let apps = ctx.list("filter[app]");
    let numbers = ctx.list("filter[version]");
    let marketing = ctx.list("filter[preReleaseVersion.version]");
    let ids = ctx.list("filter[id]");

    let mut items: Vec<BuildItem<'_>> =
        ctx.account.all_builds().map(BuildItem::synthetic).collect();
    for app_id in fixture_only_apps(ctx) {
        items.extend(fixture_builds(ctx, &app_id));
    }
    items.retain(|b| {
        (apps.is_empty() || apps.contains(&b.app_id))
            && (numbers.is_empty() || numbers.contains(&b.number))
            && (marketing.is_empty() || marketing.contains(&b.marketing))
            && (ids.is_empty() || ids.contains(&b.id))
            && (states.is_empty() || states.contains(&b.state))
            && (platforms.is_empty() || platforms.iter().any(|p| p == "IOS"))
            && expired.is_none_or(|e| e == b.expired)
    });
    if let Some(sort) = ctx.get("sort") {
        let (desc, field) = match sort.strip_prefix('-') {
            Some(f) => (true, f),
            None => (false, sort),
        };
        let cmp: fn(&BuildItem<'_>, &BuildItem<'_>) -> Ordering = match field {
            "uploadedDate" => |a, b| {
                a.uploaded
                    .cmp(&b.uploaded)
                    .then_with(|| natural_cmp(&a.number, &b.number))
            },
            "version" => |a, b| natural_cmp(&a.number, &b.number),
            "preReleaseVersion" => |a, b| {
                natural_cmp(&a.marketing, &b.marketing)
                    .then_with(|| natural_cmp(&a.number, &b.number))
            },
            _ => {
                return Err(ApiError::invalid(
                    "sort",
                    format!(
                        "'{sort}' is not a valid value for the parameter 'sort'; expected one of version, -version, uploadedDate, -uploadedDate, preReleaseVersion, -preReleaseVersion"
                    ),
                ));
            }
        };
        items.sort_by(|a, b| if desc { cmp(b, a) } else { cmp(a, b) });
    }
    let (page, links, meta) = ctx.page(items, ctx.control.config().page_size)?;
    let refs: Vec<BuildRef<'_>> = page.iter().filter_map(|b| b.synthetic).collect();
    let fields = ctx.list("fields[builds]");
    let data: Vec<Value> = page
        .iter()
        .map(|b| {
            let mut v = b.value(ctx, with_prv, with_app);
            sparse(&mut v, &fields);
            v
        })
        .collect();
    let mut doc = json!({"data": data, "links": links, "meta": meta});
    let inc = included(ctx, &refs, with_prv, with_app);
    if !inc.is_empty() {
        doc["included"] = Value::Array(inc);
    }
    Answer::json(JSON, &doc)
}

pub(super) fn get_build(ctx: &Ctx<'_>, id: &str) -> Result<Answer, ApiError> {
    ctx.allow(&["include"])?;
    let (with_prv, with_app) = includes(ctx)?;
    let Some(b) = ctx.account.build(id) else {
        // A build listed by an app-builds fixture is served from it.
        for app_id in fixture_only_apps(ctx) {
            if let Some(item) = fixture_builds(ctx, &app_id)
                .into_iter()
                .find(|b| b.id == id)
            {
                return Answer::json(
                    JSON,
                    &json!({"data": item.raw, "links": {"self": ctx.url(ctx.path)}}),
                );
            }
        }
        return Err(ApiError::not_found("builds", id));
    };
    let mut data =
        serde_json::to_value(build_resource(ctx, b, with_prv, with_app)).unwrap_or(Value::Null);
    sparse(&mut data, &ctx.list("fields[builds]"));
    let mut doc = json!({"data": data, "links": {"self": ctx.url(ctx.path)}});
    let inc = included(ctx, &[b], with_prv, with_app);
    if !inc.is_empty() {
        doc["included"] = Value::Array(inc);
    }
    Answer::json(JSON, &doc)
}

// ----- metrics ------------------------------------------------------------------------

fn metrics_query(ctx: &Ctx<'_>) -> Result<MetricsQuery, ApiError> {
    ctx.allow(&[
        "filter[platform]",
        "filter[metricType]",
        "filter[deviceType]",
    ])?;
    for p in ctx.list("filter[platform]") {
        if !p.eq_ignore_ascii_case("IOS") {
            return Err(ApiError::invalid(
                "filter[platform]",
                format!(
                    "'{p}' is not a valid value for the parameter 'filter[platform]'; expected IOS"
                ),
            ));
        }
    }
    Ok(MetricsQuery {
        categories: ctx.check_enum("filter[metricType]", CATEGORIES)?,
        devices: ctx.list("filter[deviceType]"),
    })
}

pub(super) fn app_metrics(ctx: &Ctx<'_>, id: &str) -> Result<Answer, ApiError> {
    let query = metrics_query(ctx)?;
    if ctx.control.is_removed(id) {
        return Err(ApiError::not_found("apps", id));
    }
    if let Some(a) = fixture_answer(ctx, FixtureRoute::AppMetrics, id) {
        return Ok(a);
    }
    match ctx.account.app(id) {
        Some(app) => Answer::json(
            XCODE_METRICS_JSON,
            &data::app_metrics(&ctx.account, app, &query),
        ),
        None if fixture_only_apps(ctx).iter().any(|f| f == id) => Answer::json(
            XCODE_METRICS_JSON,
            &json!({"productData": [], "insights": {"trendingUp": [], "regressions": []}, "version": "1.0.0"}),
        ),
        None => Err(ApiError::not_found("apps", id)),
    }
}

/// `GET /v1/apps/{id}/performanceOverviews` (API 4.5): `filter[deviceType]`
/// is its only parameter.
pub(super) fn app_overview(ctx: &Ctx<'_>, id: &str) -> Result<Answer, ApiError> {
    ctx.allow(&["filter[deviceType]"])?;
    let query = MetricsQuery {
        categories: Vec::new(),
        devices: ctx.list("filter[deviceType]"),
    };
    if ctx.control.is_removed(id) {
        return Err(ApiError::not_found("apps", id));
    }
    if let Some(a) = fixture_answer(ctx, FixtureRoute::AppOverview, id) {
        return Ok(a);
    }
    match ctx.account.app(id) {
        Some(app) => Answer::json(
            XCODE_OVERVIEW_JSON,
            &super::overview::app_overview(&ctx.account, app, &query),
        ),
        None if fixture_only_apps(ctx).iter().any(|f| f == id) => {
            Answer::json(XCODE_OVERVIEW_JSON, &super::overview::empty_overview())
        }
        None => Err(ApiError::not_found("apps", id)),
    }
}

pub(super) fn build_metrics(ctx: &Ctx<'_>, id: &str) -> Result<Answer, ApiError> {
    let query = metrics_query(ctx)?;
    if let Some(a) = fixture_answer(ctx, FixtureRoute::BuildMetrics, id) {
        return Ok(a);
    }
    let b = ctx
        .account
        .build(id)
        .ok_or_else(|| ApiError::not_found("builds", id))?;
    Answer::json(
        XCODE_METRICS_JSON,
        &data::build_metrics(&ctx.account, b, &query),
    )
}

// ----- diagnostics ----------------------------------------------------------------------

pub(super) fn build_signatures(ctx: &Ctx<'_>, id: &str) -> Result<Answer, ApiError> {
    ctx.allow(&["filter[diagnosticType]", "limit", "cursor"])?;
    let types = ctx.check_enum("filter[diagnosticType]", DIAGNOSTIC_TYPES)?;
    ctx.limit(ctx.control.config().page_size)?;
    if let Some(a) = fixture_answer(ctx, FixtureRoute::BuildSignatures, id) {
        return Ok(a);
    }
    let b = ctx
        .account
        .build(id)
        .ok_or_else(|| ApiError::not_found("builds", id))?;
    let sigs: Vec<DiagnosticSignature> = b
        .build
        .signatures
        .iter()
        .filter(|s| types.is_empty() || types.iter().any(|t| t == s.diagnostic_type))
        .map(|s| DiagnosticSignature {
            kind: "diagnosticSignatures".into(),
            id: s.id.clone(),
            attributes: DiagnosticSignatureAttributes {
                diagnostic_type: Some(s.diagnostic_type.into()),
                signature: Some(s.signature(&b.app.executable)),
                weight: Some(s.weight),
                insight: s.insight.clone(),
            },
            relationships: Some(DiagnosticSignatureRelationships {
                logs: Some(LogsRelationship {
                    links: Some(Links {
                        self_: None,
                        related: Some(ctx.url(&format!("/v1/diagnosticSignatures/{}/logs", s.id))),
                    }),
                }),
            }),
            links: Some(Links {
                self_: Some(ctx.url(&format!("/v1/diagnosticSignatures/{}", s.id))),
                related: None,
            }),
        })
        .collect();
    let (data, links, meta) = ctx.page(sigs, ctx.control.config().page_size)?;
    Answer::json(JSON, &json!({"data": data, "links": links, "meta": meta}))
}

pub(super) fn signature_logs(ctx: &Ctx<'_>, id: &str) -> Result<Answer, ApiError> {
    ctx.allow(&["limit"])?;
    let limit = match ctx.get("limit") {
        Some(_) => Some(ctx.limit(MAX_PAGE)?),
        None => None,
    };
    if let Some(a) = fixture_answer(ctx, FixtureRoute::SignatureLogs, id) {
        return Ok(a);
    }
    let s = ctx
        .account
        .signature(id)
        .ok_or_else(|| ApiError::not_found("diagnosticSignatures", id))?;
    Answer::json(
        DIAGNOSTIC_LOGS_JSON,
        &data::signature_logs(&ctx.account, s, limit),
    )
}
