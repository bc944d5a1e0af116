//! The TTL cache with synthetic instants.

use std::time::{Duration, Instant};

use lp_domain::{DomainCache, DomainMap, Host, ServiceName};

fn map(host: &str) -> DomainMap {
    [(ServiceName::sentinel(), Host::parse(host).unwrap())]
        .into_iter()
        .collect()
}

/// Inserts `stored` at `t0`, then asks at each offset (seconds, may be
/// negative) and compares with the expected freshness.
fn check(ttl: Duration, asks: &[(i64, bool)]) {
    let t0 = Instant::now() + Duration::from_secs(1_000);
    let mut cache = DomainCache::new(ttl);
    assert_eq!(cache.get(t0), None);
    cache.insert(map("a.example"), t0);
    for &(offset, fresh) in asks {
        let now = if offset >= 0 {
            t0 + Duration::from_secs(offset.unsigned_abs())
        } else {
            t0 - Duration::from_secs(offset.unsigned_abs())
        };
        let got = cache
            .get(now)
            .map(|m| m.get("sentinel").unwrap().to_string());
        assert_eq!(got.is_some(), fresh, "ttl {ttl:?} at {offset}");
        if fresh {
            assert_eq!(got.as_deref(), Some("a.example"));
        }
    }
}

#[test]
fn freshness() {
    check(
        lp_domain::DEFAULT_TTL,
        &[
            (0, true),
            (1, true),
            (599, true),
            (600, false),
            (601, false),
            (-5, true),
        ],
    );
    check(Duration::from_secs(60), &[(59, true), (60, false)]);
    check(Duration::ZERO, &[(0, false), (-1, true)]);
    // A TTL that overflows Instant never expires instead of panicking.
    check(Duration::MAX, &[(0, true), (1_000_000, true)]);
}

#[test]
fn insert_replaces_and_invalidate_forgets() {
    let t0 = Instant::now();
    let mut cache = DomainCache::default();
    assert_eq!(cache.ttl(), lp_domain::DEFAULT_TTL);
    cache.insert(map("a.example"), t0);
    let later = t0 + Duration::from_secs(500);
    cache.insert(map("b.example"), later);
    // The second insert restarts the clock and replaces the map.
    let at = later + Duration::from_secs(300);
    assert_eq!(cache.get(at), Some(&map("b.example")));
    cache.invalidate();
    assert_eq!(cache.get(at), None);
}
