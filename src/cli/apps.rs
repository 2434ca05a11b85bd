//! `apps` and `builds`: what the API knows about your apps.

use clap::Args;
use serde::Serialize;

use super::Context;
use super::render::{Table, dash};
use crate::asc::client::AppsQuery;
use crate::asc::model::App;

/// Arguments of `apps`.
#[derive(Debug, Args)]
pub struct AppsArgs {
    /// Only apps with this bundle id (repeatable).
    #[arg(long = "bundle-id", value_name = "BUNDLE_ID")]
    pub bundle_ids: Vec<String>,
}

/// Arguments of `builds`.
#[derive(Debug, Args)]
pub struct BuildsArgs {
    /// App Store Connect app id (numeric; see `apps`).
    pub app_id: String,
    /// How many of the newest builds to show.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=200))]
    pub limit: u32,
}

/// One app as `apps --output json` prints it.
#[derive(Debug, Serialize)]
pub struct AppRow<'a> {
    pub id: &'a str,
    pub name: Option<&'a str>,
    pub bundle_id: Option<&'a str>,
    pub sku: Option<&'a str>,
    pub primary_locale: Option<&'a str>,
}

impl<'a> From<&'a App> for AppRow<'a> {
    fn from(a: &'a App) -> Self {
        Self {
            id: &a.id,
            name: a.attributes.name.as_deref(),
            bundle_id: a.attributes.bundle_id.as_deref(),
            sku: a.attributes.sku.as_deref(),
            primary_locale: a.attributes.primary_locale.as_deref(),
        }
    }
}

/// `GET /v1/apps` (all pages) as a table.
pub async fn run_apps(args: AppsArgs, ctx: &Context) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let apps = client
        .list_apps(&AppsQuery {
            bundle_ids: args.bundle_ids.clone(),
            ..AppsQuery::default()
        })
        .await?;
    if ctx.json() {
        let rows: Vec<AppRow> = apps.iter().map(AppRow::from).collect();
        return ctx.emit_json(&rows);
    }
    if apps.is_empty() {
        let filter = if args.bundle_ids.is_empty() {
            String::new()
        } else {
            format!(" with bundle id {}", args.bundle_ids.join(", "))
        };
        return ctx.emit(&format!("No apps{filter} visible to this API key.\n"));
    }
    let mut t = Table::new(["ID", "NAME", "BUNDLE ID", "SKU"]);
    for a in &apps {
        t.row([
            a.id.clone(),
            dash(a.attributes.name.as_deref()),
            dash(a.attributes.bundle_id.as_deref()),
            dash(a.attributes.sku.as_deref()),
        ]);
    }
    ctx.emit(&t.render())
}

/// The newest builds of an app with marketing versions.
pub async fn run_builds(args: BuildsArgs, ctx: &Context) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let builds = client
        .list_builds(&args.app_id, args.limit as usize)
        .await?;
    if builds.is_empty() {
        // `/v1/builds?filter[app]=` answers an unknown app with an empty
        // list; ask for the app itself so a wrong id gets Apple's 404.
        client.get_app(&args.app_id).await?;
    }
    if ctx.json() {
        return ctx.emit_json(&builds);
    }
    if builds.is_empty() {
        return ctx.emit(&format!("App {} has no builds.\n", args.app_id));
    }
    let mut t = Table::new([
        "BUILD", "VERSION", "UPLOADED", "STATE", "EXPIRED", "PLATFORM", "ID",
    ]);
    for b in &builds {
        t.row([
            b.number.clone(),
            dash(b.version.as_deref()),
            dash(b.uploaded_date.as_deref()),
            dash(b.processing_state.as_deref()),
            b.expired
                .map(|e| if e { "yes" } else { "no" }.to_string())
                .unwrap_or_else(|| "-".into()),
            dash(b.platform.as_deref()),
            b.id.clone(),
        ]);
    }
    ctx.emit(&t.render())
}
