//! `X-Rate-Limit` parsing and the client's view of the remaining budget.
//!
//! Header format (API-NOTES §6): `user-hour-lim:3600;user-hour-rem:3598;`
//! optionally with `user-minute-lim` / `user-minute-rem`, and several header
//! values may be comma-joined.

use std::time::Instant;

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
}
