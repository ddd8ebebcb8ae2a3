//! Feature-flag evaluation (spec 10, "Feature flags"). Pure, no I/O.
//!
//! * [`CATALOGUE`]: every flag the code knows, with its hard-coded default.
//! * Lookup order: tenant override > global row > hard-coded default > false.
//! * Percentage rollouts bucket tenants the way Unleash does ([`normalized_hash`]:
//!   MurmurHash3 x86_32, seed 0, of `"{flag key}:{tenant id}"`, `% 100 + 1`, on when
//!   `<=` the percentage), so a tenant never flips between requests or processes and the
//!   state can move to or from an Unleash server.
//! * [`Snapshot`]: every global row and tenant override in memory; evaluating against
//!   it is a couple of hash lookups (the service caches one per process).
//! * [`ApplyAt`]: when a scheduled change applies, from an instant or a school's
//!   wall-clock time in its time zone.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// A flag the code knows, with its hard-coded default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnownFlag {
    pub key: &'static str,
    pub default: bool,
    pub description: &'static str,
}

const fn flag(key: &'static str, default: bool, description: &'static str) -> KnownFlag {
    KnownFlag {
        key,
        default,
        description,
    }
}

/// Every flag the platform knows and its default when no row says otherwise (the spec's
/// list, in its order).
pub const CATALOGUE: &[KnownFlag] = &[
    flag("portfolio_enabled", true, "Student portfolios"),
    flag("webhook_events", true, "Outgoing webhook events"),
    flag(
        "ai_safety_v2",
        true,
        "The second version of the AI safety checks",
    ),
    flag(
        "i18n_locale_switcher",
        false,
        "Let users switch the interface language",
    ),
    flag("advanced_analytics", true, "Advanced analytics dashboards"),
    flag("guardian_portal", true, "The guardian portal"),
    flag("resource_library", true, "The shared resource library"),
    flag("print_export", true, "Printable exports"),
    flag(
        "bulk_operations",
        true,
        "Bulk operations for administrators",
    ),
];

/// The known flag of that key.
pub fn known(key: &str) -> Option<&'static KnownFlag> {
    CATALOGUE.iter().find(|f| f.key == key)
}

/// Whether `key` is a well-formed flag key (what the database accepts): a lowercase
/// letter, then up to 63 lowercase letters, digits or underscores.
pub fn valid_key(key: &str) -> bool {
    let b = key.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// Unleash's normalised hash: MurmurHash3 x86_32 with seed 0 of `"{group}:{id}"`,
/// `% modulus + 1` (so 1..=modulus).
pub fn normalized_hash(group: &str, id: &str, modulus: u32) -> u32 {
    use std::io::Read;
    let mut bytes = group.as_bytes().chain(&b":"[..]).chain(id.as_bytes());
    // Reading from memory cannot fail.
    let hash = murmur3::murmur3_32(&mut bytes, 0).unwrap_or_default();
    hash % modulus.max(1) + 1
}

/// A tenant's bucket (1..=100) for a flag: rollouts of `p` percent are on when `<= p`.
pub fn bucket(key: &str, tenant: i64) -> u32 {
    normalized_hash(key, itoa_buf(tenant).as_str(), 100)
}

/// `tenant` as decimal text, without allocating on the heap.
fn itoa_buf(n: i64) -> SmallDec {
    let mut out = SmallDec::default();
    let mut v = n.unsigned_abs();
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if n < 0 {
        out.push(b'-');
    }
    for &d in &digits[i..] {
        out.push(d);
    }
    out
}

/// At most 21 ASCII bytes (an i64 in decimal with its sign).
#[derive(Default)]
struct SmallDec {
    bytes: [u8; 21],
    len: usize,
}

impl SmallDec {
    fn push(&mut self, b: u8) {
        self.bytes[self.len] = b;
        self.len += 1;
    }
    fn as_str(&self) -> &str {
        // Only ASCII digits and '-' are ever pushed.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

/// A global row: on or off, optionally for only a share of tenants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GlobalRule {
    pub enabled: bool,
    /// 0..=100: on only for tenants whose [`bucket`] is at most this (when `enabled`).
    pub percentage: Option<u8>,
}

/// Where an effective value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// The tenant's own override.
    Tenant,
    /// The global row (no rollout).
    Global,
    /// The global row's percentage rollout.
    Rollout,
    /// The hard-coded default.
    Default,
    /// No row and not a known flag: off.
    Unknown,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tenant => "tenant",
            Self::Global => "global",
            Self::Rollout => "rollout",
            Self::Default => "default",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An effective value and where it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Evaluation {
    pub enabled: bool,
    pub source: Source,
}

/// The lookup order: tenant override > global row (with its rollout) > hard-coded
/// default > false.
pub fn evaluate(
    key: &str,
    tenant: i64,
    tenant_override: Option<bool>,
    global: Option<GlobalRule>,
) -> Evaluation {
    if let Some(enabled) = tenant_override {
        return Evaluation {
            enabled,
            source: Source::Tenant,
        };
    }
    if let Some(rule) = global {
        return match rule.percentage {
            Some(p) if rule.enabled => Evaluation {
                enabled: bucket(key, tenant) <= u32::from(p),
                source: Source::Rollout,
            },
            _ => Evaluation {
                enabled: rule.enabled,
                source: Source::Global,
            },
        };
    }
    match known(key) {
        Some(k) => Evaluation {
            enabled: k.default,
            source: Source::Default,
        },
        None => Evaluation {
            enabled: false,
            source: Source::Unknown,
        },
    }
}

/// Every global row and every tenant override, as loaded at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    globals: HashMap<String, GlobalRule>,
    overrides: HashMap<i64, HashMap<String, bool>>,
}

impl Snapshot {
    pub fn set_global(&mut self, key: impl Into<String>, rule: GlobalRule) {
        self.globals.insert(key.into(), rule);
    }

    pub fn set_override(&mut self, tenant: i64, key: impl Into<String>, enabled: bool) {
        self.overrides
            .entry(tenant)
            .or_default()
            .insert(key.into(), enabled);
    }

    pub fn global(&self, key: &str) -> Option<GlobalRule> {
        self.globals.get(key).copied()
    }

    pub fn tenant_override(&self, tenant: i64, key: &str) -> Option<bool> {
        self.overrides.get(&tenant)?.get(key).copied()
    }

    /// The flag's effective value for the tenant.
    pub fn evaluate(&self, tenant: i64, key: &str) -> Evaluation {
        evaluate(
            key,
            tenant,
            self.tenant_override(tenant, key),
            self.global(key),
        )
    }

    /// Whether the flag is on for the tenant (`false` for a flag nobody knows).
    pub fn is_enabled(&self, tenant: i64, key: &str) -> bool {
        self.evaluate(tenant, key).enabled
    }

    /// Whether the key names a flag: a known one, or one with a global row.
    pub fn exists(&self, key: &str) -> bool {
        known(key).is_some() || self.globals.contains_key(key)
    }

    /// Every flag key (the catalogue and every global row), sorted.
    pub fn keys(&self) -> Vec<&str> {
        let set: BTreeSet<&str> = CATALOGUE
            .iter()
            .map(|f| f.key)
            .chain(self.globals.keys().map(String::as_str))
            .collect();
        set.into_iter().collect()
    }
}

/// When a scheduled change applies, as the client wrote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplyAt {
    /// An RFC 3339 instant with an offset (`2026-09-01T07:00:00Z`).
    Instant(DateTime<Utc>),
    /// A wall-clock time without offset (`2026-09-01T07:00`), read in a school's zone.
    Local(NaiveDateTime),
}

impl ApplyAt {
    /// Parses RFC 3339 with an offset, or `YYYY-MM-DDTHH:MM[:SS]` without one.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let s = s.trim();
        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
            return Ok(Self::Instant(t.with_timezone(&Utc)));
        }
        for format in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"] {
            if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
                return Ok(Self::Local(t));
            }
        }
        Err("must be an RFC 3339 time (2026-09-01T07:00:00Z) or a local time (2026-09-01T07:00)")
    }

    /// The instant, reading a local time in `tz`; also answers the wall-clock time in
    /// `tz` (what the admin sees). A time skipped by a DST change is refused; a repeated
    /// one is the first of the two.
    pub fn resolve(self, tz: Tz) -> Result<(DateTime<Utc>, NaiveDateTime), String> {
        match self {
            Self::Instant(t) => Ok((t, t.with_timezone(&tz).naive_local())),
            Self::Local(local) => match tz.from_local_datetime(&local) {
                LocalResult::Single(t) => Ok((t.with_timezone(&Utc), local)),
                LocalResult::Ambiguous(first, _) => Ok((first.with_timezone(&Utc), local)),
                LocalResult::None => Err(format!(
                    "{local} does not exist in {tz} (skipped by a daylight-saving change)"
                )),
            },
        }
    }
}

/// A time-zone name (`America/Chicago`), as the database stores it on schools.
pub fn parse_timezone(name: &str) -> Option<Tz> {
    name.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specs_unleash_vectors() {
        assert_eq!(normalized_hash("gr1", "123", 100), 73);
        assert_eq!(normalized_hash("groupX", "999", 100), 25);
    }

    #[test]
    fn bucket_hashes_flag_colon_tenant_id() {
        assert_eq!(bucket("gr1", 123), 73);
        assert_eq!(bucket("groupX", 999), 25);
        assert_eq!(bucket("k", -5), normalized_hash("k", "-5", 100));
        assert_eq!(
            bucket("k", i64::MIN),
            normalized_hash("k", &i64::MIN.to_string(), 100)
        );
    }

    #[test]
    fn lookup_order() {
        let on = GlobalRule {
            enabled: true,
            percentage: None,
        };
        let off = GlobalRule {
            enabled: false,
            percentage: None,
        };
        // tenant > global
        let e = evaluate("portfolio_enabled", 1, Some(false), Some(on));
        assert_eq!((e.enabled, e.source), (false, Source::Tenant));
        // global > default
        let e = evaluate("portfolio_enabled", 1, None, Some(off));
        assert_eq!((e.enabled, e.source), (false, Source::Global));
        // default
        let e = evaluate("i18n_locale_switcher", 1, None, None);
        assert_eq!((e.enabled, e.source), (false, Source::Default));
        let e = evaluate("guardian_portal", 1, None, None);
        assert_eq!((e.enabled, e.source), (true, Source::Default));
        // unknown: false
        let e = evaluate("no_such_flag", 1, None, None);
        assert_eq!((e.enabled, e.source), (false, Source::Unknown));
    }

    #[test]
    fn rollouts_follow_the_bucket_and_a_disabled_rollout_is_off() {
        let key = "advanced_analytics";
        for tenant in 1..200 {
            let b = bucket(key, tenant);
            for p in [0u8, 1, 50, 99, 100] {
                let e = evaluate(
                    key,
                    tenant,
                    None,
                    Some(GlobalRule {
                        enabled: true,
                        percentage: Some(p),
                    }),
                );
                assert_eq!(e.enabled, b <= u32::from(p));
                assert_eq!(e.source, Source::Rollout);
            }
            let e = evaluate(
                key,
                tenant,
                None,
                Some(GlobalRule {
                    enabled: false,
                    percentage: Some(100),
                }),
            );
            assert_eq!((e.enabled, e.source), (false, Source::Global));
        }
    }

    #[test]
    fn snapshot_lookup_and_keys() {
        let mut s = Snapshot::default();
        s.set_global(
            "webhook_events",
            GlobalRule {
                enabled: false,
                percentage: None,
            },
        );
        s.set_global(
            "zz_experiment",
            GlobalRule {
                enabled: true,
                percentage: None,
            },
        );
        s.set_override(7, "webhook_events", true);
        assert!(s.is_enabled(7, "webhook_events"));
        assert!(!s.is_enabled(8, "webhook_events"));
        assert!(s.is_enabled(8, "zz_experiment"));
        assert!(s.exists("zz_experiment") && s.exists("print_export") && !s.exists("nope"));
        let keys = s.keys();
        assert_eq!(keys.len(), CATALOGUE.len() + 1);
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn keys_are_validated_like_the_database() {
        for k in ["a", "portfolio_enabled", "x1_2"] {
            assert!(valid_key(k), "{k}");
        }
        for k in ["", "A", "1a", "_a", "a-b", "a b", &"a".repeat(65)] {
            assert!(!valid_key(k), "{k}");
        }
        assert!(CATALOGUE.iter().all(|f| valid_key(f.key)));
    }

    #[test]
    fn apply_at_reads_instants_and_school_wall_clocks_across_dst() {
        let chicago: Tz = "America/Chicago".parse().unwrap();
        let (at, local) = ApplyAt::parse("2026-09-01T07:00")
            .unwrap()
            .resolve(chicago)
            .unwrap();
        assert_eq!(at.to_rfc3339(), "2026-09-01T12:00:00+00:00");
        assert_eq!(local.to_string(), "2026-09-01 07:00:00");
        // Winter: CST is UTC-6.
        let (at, _) = ApplyAt::parse("2026-12-01 07:00")
            .unwrap()
            .resolve(chicago)
            .unwrap();
        assert_eq!(at.to_rfc3339(), "2026-12-01T13:00:00+00:00");
        // 2026-03-08 02:30 does not exist in Chicago (spring forward).
        assert!(ApplyAt::parse("2026-03-08T02:30")
            .unwrap()
            .resolve(chicago)
            .is_err());
        // 2026-11-01 01:30 happens twice: the first (CDT, UTC-5).
        let (at, _) = ApplyAt::parse("2026-11-01T01:30")
            .unwrap()
            .resolve(chicago)
            .unwrap();
        assert_eq!(at.to_rfc3339(), "2026-11-01T06:30:00+00:00");
        // An instant stays an instant; the local time is shown in the zone.
        let (at, local) = ApplyAt::parse("2026-09-01T12:00:00Z")
            .unwrap()
            .resolve(chicago)
            .unwrap();
        assert_eq!(at.to_rfc3339(), "2026-09-01T12:00:00+00:00");
        assert_eq!(local.to_string(), "2026-09-01 07:00:00");
        assert!(ApplyAt::parse("tomorrow").is_err());
        assert!(parse_timezone("Mars/Olympus").is_none());
    }
}
