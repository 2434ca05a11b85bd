//! `/ready`: 200 once data is served for the configured apps, 503 with the
//! reason before that.
//!
//! "The configured apps" are the apps of the allow-list (`refresh.apps`, or
//! an account's `apps:`) when it is set (each entry, an app id or bundle
//! id, must match an app the API key sees), else every app the API key
//! sees; of this shard's apps only, with `--shard`. Each of them must have
//! data: fetched successfully at least once, by this process or by an
//! earlier one whose state file was loaded. Apple's "not measured yet" (an
//! empty document) is data: it is what is served. Later failed refreshes
//! keep the last good data, so they do not make the exporter unready; an
//! app that never had data does, with the error of its latest attempt.
//! `/metrics` serves whatever there is either way.
//!
//! Allow-list entries the key does not see come from the refresh (its
//! [`RefreshStatus::unseen_apps`](crate::refresh::snapshot::RefreshStatus)),
//! which saw the whole listing: a shard's own apps are not the listing, so
//! an entry another shard owns must not count as missing here.

use crate::refresh::Snapshot;
use crate::refresh::snapshot::DEFAULT_ACCOUNT;

/// How many apps a 503 names before "and N more".
const NAMED: usize = 5;

/// `Ok(message)` when ready, `Err(reason)` otherwise.
pub fn readiness(snapshot: Option<&Snapshot>) -> Result<String, String> {
    let Some(s) = snapshot else {
        return Err("no data yet: waiting for the first refresh".into());
    };
    for a in &s.accounts {
        if a.refresh.last_attempt_unix == 0.0 && a.refresh.progress.is_none() {
            return Err(format!(
                "no data yet for account {}: waiting for its first refresh",
                a.name
            ));
        }
    }
    if let Some(p) = s.refresh.progress
        && s.apps.len() < p.total
    {
        return Err(format!(
            "first refresh under way: {} of {} apps done ({} requests so far); /metrics serves the apps done",
            p.done, p.total, p.requests
        ));
    }
    let mut problems: Vec<String> = Vec::new();
    for (account, status, _) in s.account_statuses() {
        for wanted in &status.unseen_apps {
            problems.push(if account == DEFAULT_ACCOUNT {
                format!("refresh.apps lists {wanted}, which this API key does not see")
            } else {
                format!(
                    "the apps of account {account} list {wanted}, which its API key does not see"
                )
            });
        }
    }
    if s.apps.is_empty() {
        if let Some(e) = &s.refresh.error {
            return Err(format!("no data yet: the latest refresh failed: {e}"));
        }
        if problems.is_empty() {
            return Ok(
                "ready: no apps to export (the API key sees none, or other shards own them)".into(),
            );
        }
    }
    for a in s.apps.iter().filter(|a| a.last_success_unix.is_none()) {
        let why = match (&a.last_error, &s.refresh.error) {
            (_, Some(e)) => format!("the latest refresh failed: {e}"),
            (Some(e), None) => format!("its refresh failed: {e}"),
            (None, None) => "not refreshed yet".into(),
        };
        problems.push(format!(
            "no data yet for app {} ({}): {why}",
            a.app.name, a.app.id
        ));
    }
    if problems.is_empty() {
        return Ok(format!("ready: data for {} apps", s.apps.len()));
    }
    let more = problems.len().saturating_sub(NAMED);
    problems.truncate(NAMED);
    let mut reason = problems.join("; ");
    if more > 0 {
        reason.push_str(&format!("; and {more} more"));
    }
    Err(reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refresh::snapshot::{AppRef, AppSnapshot};

    fn app(id: &str, bundle: &str, data: bool, error: Option<&str>) -> AppSnapshot {
        AppSnapshot {
            app: AppRef {
                id: id.into(),
                name: format!("App {id}"),
                bundle_id: bundle.into(),
                account: "default".into(),
            },
            last_success_unix: data.then_some(1_700_000_000.0),
            last_attempt_failed: error.is_some(),
            last_error: error.map(str::to_string),
            ..Default::default()
        }
    }

    fn snap(apps: Vec<AppSnapshot>, error: Option<&str>) -> Snapshot {
        let mut s = Snapshot {
            apps: apps.into_iter().map(Into::into).collect(),
            ..Default::default()
        };
        s.refresh.error = error.map(str::to_string);
        s
    }

    #[test]
    fn before_any_refresh() {
        let e = readiness(None).unwrap_err();
        assert!(e.contains("waiting for the first refresh"), "{e}");
    }

    #[test]
    fn a_first_refresh_that_failed_with_401_is_not_ready() {
        let s = snap(
            vec![],
            Some("App Store Connect rejected the token (HTTP 401)"),
        );
        let e = readiness(Some(&s)).unwrap_err();
        assert!(
            e.starts_with("no data yet") && e.contains("HTTP 401"),
            "{e}"
        );
    }

    #[test]
    fn every_visible_app_needs_data() {
        let s = snap(
            vec![
                app("1", "com.a", true, None),
                app("2", "com.b", false, Some("HTTP 500")),
            ],
            None,
        );
        let e = readiness(Some(&s)).unwrap_err();
        assert!(e.contains("App 2 (2)") && e.contains("HTTP 500"), "{e}");
        assert!(!e.contains("App 1"), "{e}");
        let s = snap(
            vec![app("1", "com.a", true, None), app("2", "com.b", true, None)],
            None,
        );
        assert_eq!(readiness(Some(&s)).unwrap(), "ready: data for 2 apps");
    }

    #[test]
    fn kept_data_stays_ready_after_a_failed_refresh() {
        // Listing failed, every app keeps its last good data.
        let s = snap(
            vec![app("1", "com.a", true, Some("HTTP 401"))],
            Some("HTTP 401"),
        );
        assert!(readiness(Some(&s)).is_ok());
    }

    #[test]
    fn allow_list_entries_the_key_does_not_see_are_named() {
        let mut s = snap(vec![app("1", "com.a", true, None)], None);
        assert!(readiness(Some(&s)).is_ok());
        s.refresh.unseen_apps = vec!["com.gone".into()];
        let e = readiness(Some(&s)).unwrap_err();
        assert!(
            e.contains("refresh.apps lists com.gone") && e.contains("does not see"),
            "{e}"
        );
        // None of the entries seen: no apps, and why.
        let mut s = snap(vec![], None);
        s.refresh.unseen_apps = vec!["com.gone".into()];
        let e = readiness(Some(&s)).unwrap_err();
        assert!(e.contains("com.gone"), "{e}");
    }

    #[test]
    fn a_shard_is_ready_for_its_own_apps() {
        // The allow-list has entries other shards own: the refresh saw them
        // in the listing (no unseen entries), this shard serves one app.
        let s = snap(vec![app("1", "com.a", true, None)], None);
        assert_eq!(readiness(Some(&s)).unwrap(), "ready: data for 1 apps");
        // A shard that owns none of the apps.
        let e = readiness(Some(&snap(vec![], None))).unwrap();
        assert!(e.contains("other shards own them"), "{e}");
    }

    #[test]
    fn unseen_entries_name_their_account() {
        let mut s = snap(vec![app("1", "com.a", true, None)], None);
        let mut a = crate::refresh::snapshot::AccountStatus {
            name: "games".into(),
            ..Default::default()
        };
        a.refresh.last_attempt_unix = 1.0;
        a.refresh.unseen_apps = vec!["com.lost".into()];
        s.accounts = vec![a];
        let e = readiness(Some(&s)).unwrap_err();
        assert!(e.contains("the apps of account games list com.lost"), "{e}");
    }

    #[test]
    fn an_account_without_apps_is_ready() {
        assert!(readiness(Some(&snap(vec![], None))).is_ok());
    }

    #[test]
    fn long_lists_are_cut() {
        let apps = (0..9)
            .map(|i| app(&i.to_string(), "", false, None))
            .collect();
        let e = readiness(Some(&snap(apps, None))).unwrap_err();
        assert!(e.ends_with("and 4 more"), "{e}");
    }
}
