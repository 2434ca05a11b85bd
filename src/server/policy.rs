//! The server's pure policies, apart so they are tested as functions: the
//! delay between failed `accept` calls, which connection to close at the
//! connection cap, and how often a repeated log line may be written.

use std::time::Duration;

use tokio::time::Instant;

/// First delay after a failed `accept`.
pub const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);
/// Longest delay between `accept` retries.
pub const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// The delay before the next `accept` after a failure: 5 ms, doubling to
/// 1 s (Go's `net/http` `Server.Serve`). `prev` is the previous delay of the
/// current run of failures (`None` after a success).
pub fn next_accept_backoff(prev: Option<Duration>) -> Duration {
    match prev {
        None => ACCEPT_BACKOFF_MIN,
        Some(d) => (d * 2).clamp(ACCEPT_BACKOFF_MIN, ACCEPT_BACKOFF_MAX),
    }
}

/// A connection as the eviction policy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub id: u64,
    /// A request in flight or a response still being written.
    pub busy: bool,
    /// When it last became idle (accepted, or its last response done), in
    /// the server clock's milliseconds.
    pub idle_since_ms: u64,
}

/// The connection to close to make room: the one idle longest; `None` when
/// every connection is busy.
pub fn pick_victim(conns: impl IntoIterator<Item = Candidate>) -> Option<u64> {
    conns
        .into_iter()
        .filter(|c| !c.busy)
        .min_by_key(|c| (c.idle_since_ms, c.id))
        .map(|c| c.id)
}

/// Lets a repeated log line through at most once per `every`, counting the
/// ones held back.
#[derive(Debug)]
pub struct Throttle {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(lines held back since the last one)` when a line may be logged now.
    pub fn ready(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < self.every => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_backoff_doubles_from_5ms_to_1s() {
        let mut d = None;
        let mut seq = Vec::new();
        for _ in 0..10 {
            let next = next_accept_backoff(d);
            seq.push(next.as_millis());
            d = Some(next);
        }
        assert_eq!(seq, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        // A success resets the run.
        assert_eq!(next_accept_backoff(None), ACCEPT_BACKOFF_MIN);
    }

    #[test]
    fn eviction_takes_the_longest_idle_and_never_a_busy_one() {
        let c = |id, busy, idle_since_ms| Candidate {
            id,
            busy,
            idle_since_ms,
        };
        assert_eq!(
            pick_victim([c(1, true, 0), c(2, false, 50), c(3, false, 10)]),
            Some(3)
        );
        assert_eq!(pick_victim([c(1, true, 0), c(2, true, 5)]), None);
        assert_eq!(pick_victim([]), None);
        // Ties: the older connection.
        assert_eq!(pick_victim([c(9, false, 7), c(4, false, 7)]), Some(4));
    }

    #[test]
    fn throttle_lets_one_line_a_second_through_and_counts_the_rest() {
        let mut t = Throttle::new(Duration::from_secs(1));
        let start = Instant::now();
        assert_eq!(t.ready(start), Some(0));
        assert_eq!(t.ready(start + Duration::from_millis(10)), None);
        assert_eq!(t.ready(start + Duration::from_millis(999)), None);
        assert_eq!(t.ready(start + Duration::from_millis(1000)), Some(2));
        assert_eq!(t.ready(start + Duration::from_millis(1500)), None);
    }
}
