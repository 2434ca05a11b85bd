//! `token`: print a signed JWT (Apple's generate-token.py, plus `iat`,
//! `typ: JWT`, and `sub: user` for individual keys).

use std::time::Duration;

use clap::Args;
use serde::Serialize;

use super::Context;

/// Arguments of `token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Token lifetime in seconds; App Store Connect accepts at most 1200.
    #[arg(long, value_name = "SECS", default_value_t = 1200,
          value_parser = clap::value_parser!(u64).range(1..=1200))]
    pub lifetime: u64,
}

/// JSON output of `token`.
#[derive(Debug, Serialize)]
pub struct TokenOutput {
    pub token: String,
    /// `exp` claim, unix seconds.
    pub expires_at: u64,
    /// `exp` as RFC 3339 UTC.
    pub expires_at_utc: String,
}

/// Mints and prints a token. No network access.
pub async fn run(args: TokenArgs, ctx: &Context) -> anyhow::Result<()> {
    let provider = ctx.token_provider(Some(Duration::from_secs(args.lifetime)))?;
    let (token, expires_at) = provider.mint_with_expiry()?;
    if ctx.json() {
        let expires_at_utc = i64::try_from(expires_at)
            .ok()
            .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
            .map(|t| t.to_rfc3339())
            .unwrap_or_default();
        ctx.emit_json(&TokenOutput {
            token,
            expires_at,
            expires_at_utc,
        })
    } else {
        ctx.emit(&format!("{token}\n"))
    }
}
