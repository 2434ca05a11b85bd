//! `X-Rate-Limit` parsing and the client's view of the remaining budget.
//!
//! Header format (API-NOTES §6): `user-hour-lim:3600;user-hour-rem:3598;`
//! optionally with `user-minute-lim` / `user-minute-rem`, and several header
//! values may be comma-joined.
//!
//! [`Gate`] turns what Apple said into "may a request go out now": once the
//! hourly budget is reported spent, or a 429 names a `Retry-After`, no
//! request is sent until the window can have room again. It is a pure
//! function of the responses and of injected time, tested as such.

use std::time::{Duration, Instant};

/// Limit and remaining requests of one window, as last reported by Apple.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
}

/// The parsed `X-Rate-Limit` header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimit {
    pub hour: Window,
    pub minute: Window,
}

impl RateLimit {
    /// Parses one or more header values. Unknown keys and malformed entries
    /// are skipped; returns `None` when nothing usable was found.
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<RateLimit> {
        let mut rl = RateLimit::default();
        let mut found = false;
        for value in values {
            for entry in value.split([',', ';']) {
                let Some((key, num)) = entry.trim().split_once(':') else {
                    continue;
                };
                let Ok(n) = num.trim().parse::<u64>() else {
                    continue;
                };
                let slot = match key.trim().to_ascii_lowercase().as_str() {
                    "user-hour-lim" => &mut rl.hour.limit,
                    "user-hour-rem" => &mut rl.hour.remaining,
                    "user-minute-lim" => &mut rl.minute.limit,
                    "user-minute-rem" => &mut rl.minute.remaining,
                    _ => continue,
                };
                *slot = Some(n);
                found = true;
            }
        }
        found.then_some(rl)
    }

    /// Renders the header the way Apple does (used by the simulator).
    pub fn to_header(&self) -> String {
        let mut s = String::new();
        for (name, w) in [("hour", self.hour), ("minute", self.minute)] {
            if let Some(l) = w.limit {
                s.push_str(&format!("user-{name}-lim:{l};"));
            }
            if let Some(r) = w.remaining {
                s.push_str(&format!("user-{name}-rem:{r};"));
            }
        }
        s
    }

    /// Share of the hourly budget still available, when known.
    pub fn hour_fraction_remaining(&self) -> Option<f64> {
        match (self.hour.limit, self.hour.remaining) {
            (Some(l), Some(r)) if l > 0 => Some(r as f64 / l as f64),
            _ => None,
        }
    }
}

/// Why requests are being held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldReason {
    /// `X-Rate-Limit` reported `user-hour-rem:0`.
    HourBudgetSpent,
    /// `X-Rate-Limit` reported `user-minute-rem:0`.
    MinuteBudgetSpent,
    /// A 429 carried `Retry-After`.
    RetryAfter,
}

impl HoldReason {
    /// What Apple said, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            HoldReason::HourBudgetSpent => {
                "the hourly request budget is spent (X-Rate-Limit user-hour-rem:0)"
            }
            HoldReason::MinuteBudgetSpent => {
                "the per-minute request budget is spent (X-Rate-Limit user-minute-rem:0)"
            }
            HoldReason::RetryAfter => "App Store Connect answered 429 with a Retry-After",
        }
    }
}

/// Requests are held back until `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    pub until: Instant,
    pub reason: HoldReason,
}

/// The client's rate-limit gate (one per API key: Apple's limits are per
/// key). Holds only ever extend: a response that was in flight when the
/// budget ran out, reporting an older, higher remainder, does not reopen it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gate {
    hold: Option<Hold>,
}

impl Gate {
    /// How long a spent hourly budget holds requests back. Apple's hour window
    /// is rolling and its reset time is not reported; after an hour every
    /// request that counted against it has aged out, so the whole budget is
    /// there again. (Waiting less would only buy 429s.)
    pub const HOUR_WINDOW: Duration = Duration::from_secs(3600);
    /// How long a spent minute budget holds requests back.
    pub const MINUTE_WINDOW: Duration = Duration::from_secs(60);

    /// Takes in one response seen at `now`: its parsed `X-Rate-Limit` (if
    /// any), its status and its `Retry-After` (if any).
    pub fn observe(
        &mut self,
        now: Instant,
        limit: Option<&RateLimit>,
        status: u16,
        retry_after: Option<Duration>,
    ) {
        if let Some(l) = limit {
            if l.hour.remaining == Some(0) {
                self.extend(now + Self::HOUR_WINDOW, HoldReason::HourBudgetSpent);
            }
            if l.minute.remaining == Some(0) {
                self.extend(now + Self::MINUTE_WINDOW, HoldReason::MinuteBudgetSpent);
            }
        }
        if status == 429
            && let Some(ra) = retry_after
        {
            self.extend(now + ra, HoldReason::RetryAfter);
        }
    }

    fn extend(&mut self, until: Instant, reason: HoldReason) {
        if self.hold.is_none_or(|h| until > h.until) {
            self.hold = Some(Hold { until, reason });
        }
    }

    /// The hold in force at `now`, if any.
    pub fn hold(&self, now: Instant) -> Option<Hold> {
        self.hold.filter(|h| h.until > now)
    }
}

/// The latest rate-limit report and when it was seen.
#[derive(Debug, Clone, Copy)]
pub struct RateLimitObservation {
    pub limit: RateLimit,
    pub at: Instant,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_apple_doc_and_comma_joined_values() {
        let rl = RateLimit::parse(["user-hour-lim:3500;user-hour-rem:500;"]).unwrap();
        assert_eq!(
            rl.hour,
            Window {
                limit: Some(3500),
                remaining: Some(500)
            }
        );
        assert_eq!(rl.minute, Window::default());

        let rl = RateLimit::parse([
            "user-hour-lim:3600;user-hour-rem:3598;, user-minute-lim:150;user-minute-rem:149;",
        ])
        .unwrap();
        assert_eq!(rl.hour.remaining, Some(3598));
        assert_eq!(
            rl.minute,
            Window {
                limit: Some(150),
                remaining: Some(149)
            }
        );
        assert_eq!(
            RateLimit::parse(["USER-HOUR-REM:7"])
                .unwrap()
                .hour
                .remaining,
            Some(7)
        );
    }

    #[test]
    fn garbage_is_ignored_and_round_trips() {
        assert_eq!(RateLimit::parse(["nonsense", "user-hour-rem:abc;"]), None);
        let rl = RateLimit::parse([
            "user-hour-lim:3600;user-hour-rem:12;user-minute-lim:150;user-minute-rem:3;",
        ])
        .unwrap();
        assert_eq!(RateLimit::parse([rl.to_header().as_str()]), Some(rl));
        assert_eq!(rl.hour_fraction_remaining(), Some(12.0 / 3600.0));
    }

    fn rl(h: &str) -> RateLimit {
        RateLimit::parse([h]).unwrap()
    }

    #[test]
    fn a_spent_hour_budget_holds_requests_for_the_window() {
        let t0 = Instant::now();
        let mut g = Gate::default();
        g.observe(
            t0,
            Some(&rl("user-hour-lim:3600;user-hour-rem:1;")),
            200,
            None,
        );
        assert_eq!(g.hold(t0), None, "one request left is still a request");
        g.observe(
            t0,
            Some(&rl("user-hour-lim:3600;user-hour-rem:0;")),
            200,
            None,
        );
        let h = g.hold(t0).unwrap();
        assert_eq!(h.reason, HoldReason::HourBudgetSpent);
        assert_eq!(h.until, t0 + Gate::HOUR_WINDOW);
        // A late response from before the budget ran out does not reopen it.
        let t1 = t0 + Duration::from_secs(5);
        g.observe(
            t1,
            Some(&rl("user-hour-lim:3600;user-hour-rem:40;")),
            200,
            None,
        );
        assert_eq!(g.hold(t1).unwrap().until, t0 + Gate::HOUR_WINDOW);
        assert!(
            g.hold(t0 + Gate::HOUR_WINDOW - Duration::from_millis(1))
                .is_some()
        );
        assert_eq!(g.hold(t0 + Gate::HOUR_WINDOW), None);
    }

    #[test]
    fn retry_after_of_any_length_holds_and_the_longest_wins() {
        let t0 = Instant::now();
        let mut g = Gate::default();
        g.observe(t0, None, 429, Some(Duration::from_secs(3600)));
        assert_eq!(
            g.hold(t0),
            Some(Hold {
                until: t0 + Duration::from_secs(3600),
                reason: HoldReason::RetryAfter
            })
        );
        // A shorter one later does not shorten it; the minute window adds nothing.
        g.observe(
            t0 + Duration::from_secs(1),
            Some(&rl("user-minute-lim:150;user-minute-rem:0;")),
            429,
            Some(Duration::from_secs(2)),
        );
        assert_eq!(g.hold(t0).unwrap().until, t0 + Duration::from_secs(3600));
        // Retry-After on a non-429 is not a rate limit.
        let mut g = Gate::default();
        g.observe(t0, None, 503, Some(Duration::from_secs(30)));
        assert_eq!(g.hold(t0), None);
        // A 429 without Retry-After leaves the pacing to the retry backoff.
        g.observe(t0, None, 429, None);
        assert_eq!(g.hold(t0), None);
        // Retry-After: 0 holds nothing (the retry backoff still has a floor).
        g.observe(t0, None, 429, Some(Duration::ZERO));
        assert_eq!(g.hold(t0), None);
    }

    #[test]
    fn a_spent_minute_budget_holds_for_a_minute() {
        let t0 = Instant::now();
        let mut g = Gate::default();
        g.observe(
            t0,
            Some(&rl(
                "user-hour-lim:3600;user-hour-rem:900;user-minute-lim:150;user-minute-rem:0;",
            )),
            200,
            None,
        );
        let h = g.hold(t0).unwrap();
        assert_eq!(
            (h.reason, h.until),
            (HoldReason::MinuteBudgetSpent, t0 + Gate::MINUTE_WINDOW)
        );
    }
}
