//! Several accounts, one snapshot: each account's refresh loop publishes
//! its own [`Snapshot`] (its apps, its refresh status, its API counters),
//! and [`merge`] makes the one the outputs and the server read. An
//! account's apps are taken whole and shared (no copy), so one account's
//! failure or slow refresh never touches another's data.

use std::sync::Arc;

use super::snapshot::{AccountStatus, RefreshProgress, RefreshStatus, SNAPSHOT_FORMAT, Snapshot};

/// Merges the accounts' latest snapshots (`None`: the account has none
/// yet), in configuration order. The apps are sorted by account, then id;
/// [`Snapshot::accounts`] holds each account's status; `refresh` and `api`
/// sum them up (see [`merge_status`]).
pub fn merge(parts: &[(&str, Option<&Arc<Snapshot>>)]) -> Snapshot {
    let mut apps = Vec::with_capacity(
        parts
            .iter()
            .filter_map(|(_, s)| s.map(|s| s.apps.len()))
            .sum(),
    );
    let mut accounts = Vec::with_capacity(parts.len());
    for (name, snapshot) in parts {
        let status = match snapshot {
            Some(s) => {
                apps.extend(s.apps.iter().cloned());
                AccountStatus {
                    name: name.to_string(),
                    refresh: s.refresh.clone(),
                    api: s.api.clone(),
                }
            }
            None => AccountStatus {
                name: name.to_string(),
                ..Default::default()
            },
        };
        accounts.push(status);
    }
    apps.sort_by(|a, b| (&a.app.account, &a.app.id).cmp(&(&b.app.account, &b.app.id)));
    let refresh = merge_status(accounts.iter().map(|a| &a.refresh));
    // The API counters as a whole are only the first account's when there
    // is one: per-account counters live in `accounts`.
    let api = match accounts.as_slice() {
        [one] => one.api.clone(),
        _ => Default::default(),
    };
    Snapshot {
        format: SNAPSHOT_FORMAT,
        apps,
        refresh,
        api,
        accounts,
    }
}

/// The refresh status of all accounts together: succeeded if every account
/// did; the latest attempt and the longest duration; the oldest full
/// success (none until every account had one); the next attempt due
/// soonest; progress summed while any account is under way; the accounts'
/// errors, each named.
pub fn merge_status<'a>(all: impl Iterator<Item = &'a RefreshStatus>) -> RefreshStatus {
    let all: Vec<&RefreshStatus> = all.collect();
    if let [one] = all.as_slice() {
        return (*one).clone();
    }
    let mut out = RefreshStatus {
        last_success: !all.is_empty(),
        ..Default::default()
    };
    let mut success: Option<f64> = Some(f64::INFINITY);
    let mut progress: Option<RefreshProgress> = None;
    let mut errors = Vec::new();
    for r in &all {
        out.last_attempt_unix = out.last_attempt_unix.max(r.last_attempt_unix);
        out.last_success &= r.last_success;
        out.duration_seconds = out.duration_seconds.max(r.duration_seconds);
        out.interval_seconds = out.interval_seconds.max(r.interval_seconds);
        out.next_attempt_unix = match (out.next_attempt_unix, r.next_attempt_unix) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        success = match (success, r.last_success_unix) {
            (Some(a), Some(b)) => Some(a.min(b)),
            _ => None,
        };
        if let Some(p) = r.progress {
            let sum = progress.get_or_insert(RefreshProgress {
                started_unix: p.started_unix,
                ..Default::default()
            });
            sum.done += p.done;
            sum.total += p.total;
            sum.requests += p.requests;
            sum.started_unix = sum.started_unix.min(p.started_unix);
        }
        if let Some(e) = &r.error {
            errors.push(e.clone());
        }
        out.unseen_apps.extend(r.unseen_apps.iter().cloned());
    }
    out.last_success_unix = success.filter(|s| s.is_finite());
    out.progress = progress;
    out.error = (!errors.is_empty()).then(|| errors.join("; "));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refresh::snapshot::{AppRef, AppSnapshot};

    fn account(name: &str, ids: &[&str], ok: bool, at: f64) -> Arc<Snapshot> {
        Arc::new(Snapshot {
            format: SNAPSHOT_FORMAT,
            apps: ids
                .iter()
                .map(|id| {
                    Arc::new(AppSnapshot {
                        app: AppRef {
                            id: id.to_string(),
                            account: name.to_string(),
                            ..Default::default()
                        },
                        ..Default::default()
                    })
                })
                .collect(),
            refresh: RefreshStatus {
                last_attempt_unix: at,
                last_success: ok,
                last_success_unix: ok.then_some(at),
                error: (!ok).then(|| format!("{name} failed")),
                ..Default::default()
            },
            ..Default::default()
        })
    }

    #[test]
    fn apps_of_every_account_are_shared_and_sorted() {
        let a = account("b-team", &["9", "1"], true, 100.0);
        let b = account("a-team", &["5"], false, 200.0);
        let m = merge(&[("b-team", Some(&a)), ("a-team", Some(&b)), ("new", None)]);
        let ids: Vec<(&str, &str)> = m
            .apps
            .iter()
            .map(|x| (x.app.account.as_str(), x.app.id.as_str()))
            .collect();
        assert_eq!(ids, [("a-team", "5"), ("b-team", "1"), ("b-team", "9")]);
        assert!(Arc::ptr_eq(&m.apps[1], &a.apps[1]), "shared, not copied");
        let names: Vec<&str> = m.accounts.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["b-team", "a-team", "new"]);
        assert!(!m.refresh.last_success);
        assert_eq!(m.refresh.last_attempt_unix, 200.0);
        assert_eq!(
            m.refresh.last_success_unix, None,
            "not every account succeeded"
        );
        assert_eq!(m.refresh.error.as_deref(), Some("a-team failed"));
        assert_eq!(m.account_statuses().len(), 3);
    }

    #[test]
    fn one_account_is_its_own_status() {
        let a = account("default", &["1"], true, 100.0);
        let m = merge(&[("default", Some(&a))]);
        assert_eq!(m.refresh, a.refresh);
        assert_eq!(m.apps, a.apps);
    }

    #[test]
    fn progress_adds_up_while_any_account_is_under_way() {
        let mut a = RefreshStatus {
            last_success: true,
            last_success_unix: Some(10.0),
            ..Default::default()
        };
        let mut b = a.clone();
        b.last_success_unix = Some(20.0);
        assert_eq!(
            merge_status([&a, &b].into_iter()).last_success_unix,
            Some(10.0)
        );
        a.progress = Some(RefreshProgress {
            done: 2,
            total: 10,
            requests: 30,
            started_unix: 5.0,
        });
        b.progress = Some(RefreshProgress {
            done: 1,
            total: 5,
            requests: 4,
            started_unix: 3.0,
        });
        let p = merge_status([&a, &b].into_iter()).progress.unwrap();
        assert_eq!((p.done, p.total, p.requests), (3, 15, 34));
        assert_eq!(p.started_unix, 3.0);
        assert!((p.ratio() - 0.2).abs() < 1e-12);
    }
}
