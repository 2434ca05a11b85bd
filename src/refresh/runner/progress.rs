//! Where a refresh is: the progress log line and the time-left estimate
//! from what the refresh has spent and the key's budget.

use std::time::{Duration, Instant};

use super::Refresher;
use crate::asc::client::human;
use crate::refresh::snapshot::RefreshProgress;

/// The refresh's progress log line: after the first app, then at most
/// every [`PROGRESS_EVERY`], and for the last app.
#[derive(Default)]
pub(super) struct ProgressLog {
    last: Option<Instant>,
}

/// Time between progress log lines.
const PROGRESS_EVERY: Duration = Duration::from_secs(15);

impl ProgressLog {
    pub(super) fn report(&mut self, r: &Refresher, p: &RefreshProgress, elapsed: Duration) {
        let due = p.done == 1
            || p.done == p.total
            || self.last.is_none_or(|t| t.elapsed() >= PROGRESS_EVERY);
        if !due {
            return;
        }
        self.last = Some(Instant::now());
        let left = r.estimate_left(p, elapsed);
        tracing::info!(
            account = %r.opts.account,
            apps_done = p.done,
            apps_total = p.total,
            requests = p.requests,
            elapsed = %human(Duration::from_secs(elapsed.as_secs())),
            estimated_left = %left.map(|d| human(Duration::from_secs(d.as_secs()))).unwrap_or_else(|| "unknown".into()),
            "refresh progress"
        );
    }
}

/// How long the rest of a refresh should take, from what it has spent:
/// the apps left times the requests an app took so far, sent at the pace
/// seen so far but no faster than the budget allows: `share` of the
/// minute's limit while the hour has budget left (the key's remaining
/// hour, times `share`), then `share` of the hour's limit spread over the
/// hour. `None` before the first app is done.
pub fn estimate_left(
    p: &RefreshProgress,
    elapsed: Duration,
    limit: Option<&crate::asc::ratelimit::RateLimit>,
    share: f64,
) -> Option<Duration> {
    if p.done == 0 || p.requests == 0 {
        return None;
    }
    let left = p.total.saturating_sub(p.done);
    if left == 0 {
        return Some(Duration::ZERO);
    }
    let requests = p.requests as f64 / p.done as f64 * left as f64;
    let seen_rate = p.requests as f64 / elapsed.as_secs_f64().max(1e-3);
    let mut seconds = requests / seen_rate;
    let share = if share > 0.0 { share.min(1.0) } else { 1.0 };
    if let Some(l) = limit {
        let minute_rate = l.minute.limit.map(|m| m as f64 * share / 60.0);
        let hour_rate = l.hour.limit.map(|h| h as f64 * share / 3600.0);
        let hour_left = l.hour.remaining.map(|r| r as f64 * share);
        let budget = match (hour_left, hour_rate) {
            (Some(room), Some(hour_rate)) if requests > room => {
                let fast = minute_rate.map_or(0.0, |m| room / m);
                fast + (requests - room) / hour_rate
            }
            _ => minute_rate.map_or(0.0, |m| requests / m),
        };
        seconds = seconds.max(budget);
    }
    Duration::try_from_secs_f64(seconds).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asc::ratelimit::RateLimit;

    #[test]
    fn the_time_left_follows_the_pace_and_the_budget() {
        let p = |done, total, requests| RefreshProgress {
            done,
            total,
            requests,
            started_unix: 0.0,
        };
        let rl = |h: &str| RateLimit::parse([h]).unwrap();
        let secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64().round() as u64);
        assert_eq!(
            estimate_left(&p(0, 10, 5), Duration::from_secs(1), None, 1.0),
            None
        );
        assert_eq!(
            secs(estimate_left(
                &p(10, 10, 50),
                Duration::from_secs(9),
                None,
                1.0
            )),
            Some(0)
        );
        // 10 requests an app, 10 apps left: 100 requests at the pace seen
        // (20 a second) without a known limit.
        assert_eq!(
            secs(estimate_left(
                &p(2, 12, 20),
                Duration::from_secs(1),
                None,
                1.0
            )),
            Some(5)
        );
        // 150 a minute and the hour's budget room enough: 40 s.
        let roomy =
            rl("user-hour-lim:3600;user-hour-rem:3000;user-minute-lim:150;user-minute-rem:140;");
        assert_eq!(
            secs(estimate_left(
                &p(2, 12, 20),
                Duration::from_secs(1),
                Some(&roomy),
                1.0
            )),
            Some(40)
        );
        // Half of it (two shards): twice as long.
        assert_eq!(
            secs(estimate_left(
                &p(2, 12, 20),
                Duration::from_secs(1),
                Some(&roomy),
                0.5
            )),
            Some(80)
        );
        // 50 left in the hour: 20 s for them, then 50 more at 3,600 an
        // hour.
        let low =
            rl("user-hour-lim:3600;user-hour-rem:50;user-minute-lim:150;user-minute-rem:140;");
        assert_eq!(
            secs(estimate_left(
                &p(2, 12, 20),
                Duration::from_secs(1),
                Some(&low),
                1.0
            )),
            Some(70)
        );
    }
}
