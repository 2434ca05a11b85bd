//! The wall clock as Unix time: the one place the crate turns
//! `SystemTime::now()` into seconds since the epoch (snapshot and state
//! timestamps, the refresh schedule, JWT `iat`/`exp` on both sides of the
//! simulator, OTLP timestamps).

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, with the fraction (0 on a clock set before
/// 1970).
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Whole seconds since the Unix epoch (0 on a clock set before 1970), as
/// JWT `iat` and `exp` count them.
pub fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Nanoseconds since the Unix epoch (0 on a clock set before 1970), as
/// OTLP timestamps count them.
pub fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_read_the_same_clock() {
        let (s, f, n) = (unix_secs(), unix_now(), unix_nanos());
        // After 2025-01-01 and within a second of each other.
        assert!(s > 1_735_689_600, "{s}");
        assert!((f - s as f64).abs() < 2.0, "{f} {s}");
        assert!((n / 1_000_000_000).abs_diff(s) < 2, "{n} {s}");
    }
}
