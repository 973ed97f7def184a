//! Removing records from the cache: by age, by total size, or all of them.

use crate::cache::{Cache, CacheRecord, CacheRecordInfo};
use crate::error::CacheError;
use std::time::{Duration, SystemTime};

/// Which records [`Cache::prune`] removes.
///
/// - `until`: only records not used for at least this long are eligible; without it every
///   record is eligible.
/// - `keep_storage`: eligible records are removed least recently used first, only until the
///   total storage of all records is at most this many bytes.
/// - otherwise, when `all` or `until` is set, every eligible record is removed.
/// - with nothing set, nothing is removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneFilter {
    /// Remove every eligible record.
    pub all: bool,
    /// Keep records used more recently than this.
    pub until: Option<Duration>,
    /// Stop once the cache holds at most this many bytes.
    pub keep_storage: Option<u64>,
}

impl Cache {
    /// Remove the records `filter` selects and return them (with their data), so that the
    /// caller can release what they refer to (snapshots).
    pub fn prune(&self, filter: &PruneFilter) -> Result<Vec<CacheRecord>, CacheError> {
        let records = self.list()?;
        let victims = select(&records, filter, SystemTime::now(), &|_| false);
        let mut removed = Vec::new();
        for key in victims {
            if let Some(record) = self.remove(&key)? {
                removed.push(record);
            }
        }
        Ok(removed)
    }

    /// The keys of `records` that `filter` selects for removal, oldest use first, never one
    /// for which `in_use` holds (a running build uses its result); those still count towards
    /// `keep_storage`.
    pub fn victims(
        &self,
        records: &[CacheRecordInfo],
        filter: &PruneFilter,
        in_use: &dyn Fn(&CacheRecordInfo) -> bool,
    ) -> Vec<crate::Digest> {
        select(records, filter, SystemTime::now(), in_use)
    }
}

/// The keys of the records to remove, oldest use first.
fn select(
    records: &[CacheRecordInfo],
    filter: &PruneFilter,
    now: SystemTime,
    in_use: &dyn Fn(&CacheRecordInfo) -> bool,
) -> Vec<crate::Digest> {
    let mut eligible: Vec<&CacheRecordInfo> = records
        .iter()
        .filter(|r| !in_use(r))
        .filter(|r| match filter.until {
            Some(age) => now
                .duration_since(r.last_used)
                .map(|d| d >= age)
                .unwrap_or(false),
            None => true,
        })
        .collect();
    eligible.sort_by(|a, b| {
        a.last_used
            .cmp(&b.last_used)
            .then_with(|| a.key.cmp(&b.key))
    });
    if let Some(limit) = filter.keep_storage {
        let mut total: u64 = records.iter().map(|r| r.storage_size()).sum();
        let mut out = Vec::new();
        for r in eligible {
            if total <= limit {
                break;
            }
            total = total.saturating_sub(r.storage_size());
            out.push(r.key.clone());
        }
        return out;
    }
    if filter.all || filter.until.is_some() {
        return eligible.into_iter().map(|r| r.key.clone()).collect();
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Digest;

    fn rec(n: u8, age_secs: u64, size: u64, now: SystemTime) -> CacheRecordInfo {
        CacheRecordInfo {
            key: Digest::of(&[n]),
            name: format!("r{n}"),
            created: now - Duration::from_secs(age_secs),
            last_used: now - Duration::from_secs(age_secs),
            data_len: 10,
            size: Some(size),
        }
    }

    #[test]
    fn nothing_set_removes_nothing_and_all_removes_everything() {
        let now = SystemTime::now();
        let rs = vec![rec(1, 10, 5, now), rec(2, 20, 5, now)];
        assert!(select(&rs, &PruneFilter::default(), now, &|_| false).is_empty());
        assert_eq!(
            select(
                &rs,
                &PruneFilter {
                    all: true,
                    ..Default::default()
                },
                now,
                &|_| false
            )
            .len(),
            2
        );
    }

    #[test]
    fn until_keeps_recent_records() {
        let now = SystemTime::now();
        let rs = vec![rec(1, 10, 5, now), rec(2, 1000, 5, now)];
        let f = PruneFilter {
            until: Some(Duration::from_secs(100)),
            ..Default::default()
        };
        assert_eq!(select(&rs, &f, now, &|_| false), vec![rs[1].key.clone()]);
    }

    #[test]
    fn keep_storage_removes_least_recently_used_until_under_limit() {
        let now = SystemTime::now();
        let rs = vec![
            rec(1, 10, 100, now),
            rec(2, 30, 100, now),
            rec(3, 20, 100, now),
        ];
        let f = PruneFilter {
            keep_storage: Some(150),
            ..Default::default()
        };
        // 300 bytes; remove oldest (2) then next oldest (3) to reach 100 <= 150.
        assert_eq!(
            select(&rs, &f, now, &|_| false),
            vec![rs[1].key.clone(), rs[2].key.clone()]
        );
        let f = PruneFilter {
            keep_storage: Some(1000),
            ..Default::default()
        };
        assert!(select(&rs, &f, now, &|_| false).is_empty());
    }
}
