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
    /// This replica spent its share of the key's budget
    /// (`refresh.budget_share`, see [`Share`]).
    ShareSpent,
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
            HoldReason::ShareSpent => {
                "this replica spent its share of the key's request budget (refresh.budget_share; shards of one account share the key)"
            }
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

    /// Holds requests until `until` (a [`Share`] that is spent).
    pub fn extend(&mut self, until: Instant, reason: HoldReason) {
        if self.hold.is_none_or(|h| until > h.until) {
            self.hold = Some(Hold { until, reason });
        }
    }

    /// The hold in force at `now`, if any.
    pub fn hold(&self, now: Instant) -> Option<Hold> {
        self.hold.filter(|h| h.until > now)
    }
}

/// This replica's part of a key's budget: shards of one account share its
/// key, so each sends at most `fraction` of the hour's and of the minute's
/// limit (as Apple last reported them), counted over the trailing hour and
/// minute of its own requests. A pure function of the sends and injected
/// time; `fraction` 1 (one replica) records nothing.
#[derive(Debug, Clone)]
pub struct Share {
    fraction: f64,
    /// This replica's sends in the trailing hour, oldest first.
    sent: std::collections::VecDeque<Instant>,
}

impl Default for Share {
    fn default() -> Self {
        Self::new(1.0)
    }
}

impl Share {
    pub fn new(fraction: f64) -> Self {
        Self {
            fraction: if fraction > 0.0 {
                fraction.min(1.0)
            } else {
                1.0
            },
            sent: Default::default(),
        }
    }

    pub fn fraction(&self) -> f64 {
        self.fraction
    }

    /// The share's cap of a window whose limit is `limit`: at least one.
    fn cap(&self, limit: Option<u64>) -> Option<usize> {
        limit.map(|l| ((l as f64 * self.fraction).floor() as usize).max(1))
    }

    /// Records a request at `now` if the share has room for it; otherwise
    /// returns when it has room again (nothing is recorded).
    pub fn take(&mut self, now: Instant, limit: Option<&RateLimit>) -> Result<(), Instant> {
        if self.fraction >= 1.0 {
            return Ok(());
        }
        while self
            .sent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= Gate::HOUR_WINDOW)
        {
            self.sent.pop_front();
        }
        let limit = limit.copied().unwrap_or_default();
        let mut room_at: Option<Instant> = None;
        if let Some(cap) = self.cap(limit.hour.limit)
            && self.sent.len() >= cap
        {
            // The oldest send that must age out for one more to fit.
            room_at = Some(self.sent[self.sent.len() - cap] + Gate::HOUR_WINDOW);
        }
        if let Some(cap) = self.cap(limit.minute.limit) {
            let in_minute = self
                .sent
                .iter()
                .rev()
                .take_while(|t| now.saturating_duration_since(**t) < Gate::MINUTE_WINDOW)
                .count();
            if in_minute >= cap {
                let t = self.sent[self.sent.len() - cap] + Gate::MINUTE_WINDOW;
                room_at = Some(room_at.map_or(t, |r| r.max(t)));
            }
        }
        match room_at {
            Some(t) if t > now => Err(t),
            _ => {
                self.sent.push_back(now);
                Ok(())
            }
        }
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

    #[test]
    fn a_share_sends_its_part_of_each_window() {
        let t0 = Instant::now();
        let limit =
            rl("user-hour-lim:100;user-hour-rem:100;user-minute-lim:10;user-minute-rem:10;");
        let mut whole = Share::new(1.0);
        for _ in 0..1000 {
            assert_eq!(whole.take(t0, Some(&limit)), Ok(()));
        }
        assert!(whole.sent.is_empty(), "one replica records nothing");
        // A third: 3 a minute, 33 an hour.
        let mut s = Share::new(1.0 / 3.0);
        for _ in 0..3 {
            assert_eq!(s.take(t0, Some(&limit)), Ok(()));
        }
        assert_eq!(s.take(t0, Some(&limit)), Err(t0 + Gate::MINUTE_WINDOW));
        let mut t = t0;
        let mut sent = 3;
        while sent < 33 {
            t += Duration::from_secs(20);
            if s.take(t, Some(&limit)).is_ok() {
                sent += 1;
            }
        }
        // The hour's 33 are spent: room when the first send ages out.
        let next = t + Duration::from_secs(61);
        assert_eq!(s.take(next, Some(&limit)), Err(t0 + Gate::HOUR_WINDOW));
        assert_eq!(s.take(t0 + Gate::HOUR_WINDOW, Some(&limit)), Ok(()));
        // Without a reported limit there is no cap to keep.
        let mut blind = Share::new(0.5);
        for _ in 0..100 {
            assert_eq!(blind.take(t0, None), Ok(()));
        }
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
