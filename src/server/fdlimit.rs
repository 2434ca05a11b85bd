//! The open-file limit (`RLIMIT_NOFILE`): raised to the hard limit at start,
//! as Go programs do, and read to size the HTTP server's connection cap so
//! that accepted sockets can never starve the exporter's own outgoing
//! connections and files.
//!
//! Two `libc` calls, `getrlimit`/`setrlimit`, written out here rather than
//! pulling in a crate for them (libc is already in the dependency tree).

/// `RLIMIT_NOFILE`'s soft and hard values (`u64::MAX` for unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NofileLimit {
    pub soft: u64,
    pub hard: u64,
}

/// File descriptors kept out of the connection cap for the exporter itself:
/// stdio, the runtime's epoll and wake-up descriptors, the listener, the
/// client's connections to App Store Connect (`refresh.concurrency` ≤ 64
/// requests at a time, plus idle pooled ones), the OTLP connection, the state
/// file and, in demo mode, both ends of the simulator's connections.
pub const FD_RESERVE: u64 = 64;

/// Below this soft limit after the raise, a warning says the cap is small.
pub const SMALL_NOFILE: u64 = 1024;

/// The current limit, `None` where it cannot be read (non-Unix).
pub fn nofile() -> Option<NofileLimit> {
    #[cfg(unix)]
    {
        let mut rl = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we own.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
            return None;
        }
        Some(NofileLimit {
            soft: to_u64(rl.rlim_cur),
            hard: to_u64(rl.rlim_max),
        })
    }
    #[cfg(not(unix))]
    {
        None
    }
}

#[cfg(unix)]
// `rlim_t` is u64 on Linux and macOS, not on every Unix.
#[allow(clippy::unnecessary_cast)]
fn to_u64(v: libc::rlim_t) -> u64 {
    if v == libc::RLIM_INFINITY {
        u64::MAX
    } else {
        v as u64
    }
}

/// Raises the soft limit to the hard one. Returns the limit before and
/// after (equal when nothing changed or the raise failed); logs both at
/// debug and warns when the result is below [`SMALL_NOFILE`].
pub fn raise_nofile() -> Option<(NofileLimit, NofileLimit)> {
    let before = nofile()?;
    #[cfg(unix)]
    if before.soft < before.hard {
        // macOS refuses a soft limit above OPEN_MAX when the hard limit is
        // unlimited; fall back to it there (as Go's runtime does).
        let mut targets = vec![before.hard];
        if cfg!(target_os = "macos") {
            targets.push(10_240.min(before.hard));
        }
        for target in targets {
            let rl = libc::rlimit {
                rlim_cur: if target == u64::MAX {
                    libc::RLIM_INFINITY
                } else {
                    target as libc::rlim_t
                },
                rlim_max: if before.hard == u64::MAX {
                    libc::RLIM_INFINITY
                } else {
                    before.hard as libc::rlim_t
                },
            };
            // SAFETY: setrlimit reads the struct we own.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) } == 0 {
                break;
            }
        }
    }
    let after = nofile().unwrap_or(before);
    tracing::debug!(
        soft_before = before.soft,
        soft_after = after.soft,
        hard = after.hard,
        "open-file limit (RLIMIT_NOFILE)"
    );
    if after.soft < SMALL_NOFILE {
        tracing::warn!(
            soft = after.soft,
            hard = after.hard,
            cap = connection_cap(usize::MAX, Some(after.soft)),
            "the open-file limit is small: the HTTP server takes at most this many connections at once; raise it (ulimit -n, LimitNOFILE= in systemd, --ulimit nofile= in Docker)"
        );
    }
    Some((before, after))
}

/// The number of concurrent connections the server takes: `max_connections`,
/// but never more than the soft limit minus [`FD_RESERVE`] (half the limit
/// when the limit is too small for the reserve), and at least 1.
pub fn connection_cap(max_connections: usize, soft_nofile: Option<u64>) -> usize {
    let Some(soft) = soft_nofile else {
        return max_connections.max(1);
    };
    let reserve = FD_RESERVE.min(soft / 2);
    let room = soft.saturating_sub(reserve).max(1);
    let room = usize::try_from(room).unwrap_or(usize::MAX);
    max_connections.min(room).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_keeps_a_reserve_of_descriptors() {
        assert_eq!(connection_cap(512, Some(1024)), 512);
        assert_eq!(connection_cap(512, Some(256)), 192);
        assert_eq!(connection_cap(5000, Some(4096)), 4032);
        assert_eq!(connection_cap(512, Some(u64::MAX)), 512);
        // Tiny limits: half the descriptors stay with the exporter.
        assert_eq!(connection_cap(512, Some(64)), 32);
        assert_eq!(connection_cap(512, Some(1)), 1);
        assert_eq!(connection_cap(512, None), 512);
        assert_eq!(connection_cap(0, None), 1);
    }

    #[test]
    fn raising_reaches_the_hard_limit() {
        let (before, after) = raise_nofile().expect("RLIMIT_NOFILE is readable on Unix");
        assert!(after.soft >= before.soft);
        assert_eq!(after.hard, before.hard);
        // Unprivileged processes may always raise the soft limit to the hard one.
        #[cfg(target_os = "linux")]
        assert_eq!(after.soft, after.hard, "{before:?} -> {after:?}");
    }
}
