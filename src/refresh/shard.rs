//! Shards: `--shard I/N` keeps the apps that rendezvous hashing assigns to
//! shard `I` of `N`, so `N` replicas with the same configuration split an
//! organisation's apps disjointly and completely.
//!
//! Rendezvous (highest random weight) hashing: every shard `1..=N` scores
//! each `(account, app id)` with XXH3-64 of `account NUL app_id NUL shard`
//! (the shard as 4 little-endian bytes), and the app goes to the shard with
//! the highest score. The hash is XXH3, whose output its specification
//! fixes, so every replica, version and platform agrees. Going from `N` to
//! `N + 1` shards moves only the apps the new shard wins (about `1/(N+1)`
//! of them), and each app moves to the new shard only; removing a shard
//! moves only that shard's apps. `docs/scaling.md` shows the arithmetic.

use std::fmt;
use std::str::FromStr;

/// One shard of `count` (`index` is 1-based). `1/1` is the whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Default for Shard {
    fn default() -> Self {
        Self { index: 1, count: 1 }
    }
}

/// The most shards a deployment may have (far more than a key's budget
/// could feed).
pub const MAX_SHARDS: u32 = 1024;

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("'{s}' is not a shard: write I/N with 1 <= I <= N <= {MAX_SHARDS}, e.g. 2/3")
        };
        let (i, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count || count > MAX_SHARDS {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Whether this is the only shard.
    pub fn is_whole(self) -> bool {
        self.count <= 1
    }

    /// The shard (1-based) that owns an app.
    pub fn owner(count: u32, account: &str, app_id: &str) -> u32 {
        (1..=count.max(1))
            .max_by_key(|&s| (score(account, app_id, s), std::cmp::Reverse(s)))
            .unwrap_or(1)
    }

    /// Whether this shard keeps the app.
    pub fn owns(self, account: &str, app_id: &str) -> bool {
        self.is_whole() || Self::owner(self.count, account, app_id) == self.index
    }
}

fn score(account: &str, app_id: &str, shard: u32) -> u64 {
    let mut key = Vec::with_capacity(account.len() + app_id.len() + 6);
    key.extend_from_slice(account.as_bytes());
    key.push(0);
    key.extend_from_slice(app_id.as_bytes());
    key.push(0);
    key.extend_from_slice(&shard.to_le_bytes());
    xxhash_rust::xxh3::xxh3_64(&key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("{}", 1_500_000_000 + i * 7919))
            .collect()
    }

    #[test]
    fn parses_and_refuses() {
        assert_eq!("2/3".parse::<Shard>(), Ok(Shard { index: 2, count: 3 }));
        assert_eq!(" 1 / 1 ".parse::<Shard>(), Ok(Shard::default()));
        for bad in ["0/2", "3/2", "1/0", "2", "a/b", "1/2000", ""] {
            let e = bad.parse::<Shard>().unwrap_err();
            assert!(e.contains("I/N"), "{bad}: {e}");
        }
        assert_eq!(Shard { index: 2, count: 3 }.to_string(), "2/3");
    }

    #[test]
    fn shards_split_disjointly_and_completely() {
        let apps = ids(3000);
        for n in [1u32, 2, 3, 5, 8] {
            let mut sizes = vec![0usize; n as usize];
            for id in &apps {
                let owners: Vec<u32> = (1..=n)
                    .filter(|&i| Shard { index: i, count: n }.owns("studio-a", id))
                    .collect();
                assert_eq!(owners.len(), 1, "{id} in {n} shards: {owners:?}");
                sizes[owners[0] as usize - 1] += 1;
            }
            // Balanced within 15 % of the fair share.
            let fair = apps.len() as f64 / n as f64;
            for s in &sizes {
                assert!(
                    (*s as f64 - fair).abs() < fair * 0.15,
                    "{n} shards: {sizes:?}"
                );
            }
        }
    }

    #[test]
    fn one_more_shard_moves_few_apps_and_only_to_it() {
        let apps = ids(3000);
        for n in [1u32, 2, 4, 7] {
            let mut moved = 0;
            for id in &apps {
                let before = Shard::owner(n, "default", id);
                let after = Shard::owner(n + 1, "default", id);
                if before != after {
                    assert_eq!(after, n + 1, "{id} moved between old shards");
                    moved += 1;
                }
            }
            let expected = apps.len() as f64 / (n + 1) as f64;
            assert!(
                (moved as f64 - expected).abs() < expected * 0.2,
                "{n} -> {}: {moved} moved, about {expected} expected",
                n + 1
            );
        }
    }

    #[test]
    fn the_account_is_part_of_the_key_and_the_hash_is_fixed() {
        let apps = ids(200);
        let differ = apps
            .iter()
            .filter(|id| Shard::owner(4, "a", id) != Shard::owner(4, "b", id))
            .count();
        assert!(differ > 100, "{differ}");
        // XXH3 is specified: these hold on every platform and version, so
        // replicas built apart agree.
        assert_eq!(xxhash_rust::xxh3::xxh3_64(b""), 0x2d06_8005_38d3_94c2);
    }
}
