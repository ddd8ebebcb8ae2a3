//! What the limiter enforces, with no I/O: the named limits and their quotas, GCRA
//! arithmetic, who the client is behind trusted proxies, and the failed-login lockout
//! policy. Parsed from the environment like the rest of the configuration: an invalid
//! value stops the process naming the variable.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use crate::config::{ConfigError, Environment, VarSource};

/// The named limits of spec 04. A route declares the ones it is under in the registry
/// (`Operation::limit`); `Api` is applied to everything under `/api/v1` by the router.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Limit {
    /// Sign-in and password setup, by client IP.
    Auth,
    /// AI generation, by user (else client IP).
    Ai,
    /// File uploads, by user.
    Uploads,
    /// Webhook test/dispatch, by tenant.
    Webhooks,
    /// Analytics, by user.
    Analytics,
    /// Everything under `/api/v1`, by client IP.
    Api,
}

/// Whose requests share one budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    ClientIp,
    /// The signed-in user; the client IP when nobody is signed in.
    User,
    /// The signed-in user's tenant; the user (operator) or client IP otherwise.
    Tenant,
}

impl Limit {
    pub const ALL: [Limit; 6] = [
        Limit::Auth,
        Limit::Ai,
        Limit::Uploads,
        Limit::Webhooks,
        Limit::Analytics,
        Limit::Api,
    ];

    /// The policy name in `K12_RATE_LIMITS` and the `RateLimit` headers.
    pub fn name(self) -> &'static str {
        match self {
            Limit::Auth => "auth",
            Limit::Ai => "ai",
            Limit::Uploads => "uploads",
            Limit::Webhooks => "webhooks",
            Limit::Analytics => "analytics",
            Limit::Api => "api",
        }
    }

    pub fn key_kind(self) -> KeyKind {
        match self {
            Limit::Auth | Limit::Api => KeyKind::ClientIp,
            Limit::Ai | Limit::Uploads | Limit::Analytics => KeyKind::User,
            Limit::Webhooks => KeyKind::Tenant,
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// Spec 04's production quota.
    fn default_quota(self) -> Quota {
        let count = match self {
            Limit::Auth => 5,
            Limit::Ai => 20,
            Limit::Uploads => 30,
            Limit::Webhooks => 60,
            Limit::Analytics => 30,
            Limit::Api => 300,
        };
        Quota::new(count, 60).expect("valid default quota")
    }
}

/// `count` requests per `period_secs`, with bursts up to `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    count: u32,
    period_secs: u32,
}

impl Quota {
    pub fn new(count: u32, period_secs: u32) -> Result<Self, String> {
        if !(1..=1_000_000).contains(&count) {
            return Err(format!("{count} is not a count between 1 and 1000000"));
        }
        if !(1..=86_400).contains(&period_secs) {
            return Err(format!(
                "{period_secs} is not a number of seconds between 1 and 86400"
            ));
        }
        Ok(Self { count, period_secs })
    }

    /// `COUNT/SECONDS`, e.g. `300/60`.
    pub fn parse(value: &str) -> Result<Self, String> {
        let (count, secs) = value
            .split_once('/')
            .ok_or_else(|| format!("{value:?} is not COUNT/SECONDS, e.g. 300/60"))?;
        let count = count
            .trim()
            .parse()
            .map_err(|_| format!("{value:?}: {count:?} is not a count"))?;
        let secs = secs
            .trim()
            .parse()
            .map_err(|_| format!("{value:?}: {secs:?} is not a number of seconds"))?;
        Self::new(count, secs)
    }

    pub fn count(self) -> u32 {
        self.count
    }

    pub fn period(self) -> Duration {
        Duration::from_secs(self.period_secs.into())
    }

    /// The GCRA emission interval: one request's worth of time, in microseconds.
    pub fn interval_us(self) -> u64 {
        u64::from(self.period_secs) * 1_000_000 / u64::from(self.count)
    }

    /// How far ahead of now the theoretical arrival time may run: `count` requests.
    pub fn burst_us(self) -> u64 {
        self.interval_us() * u64::from(self.count)
    }

    fn scaled(self, factor: u32) -> Self {
        Self {
            count: self.count.saturating_mul(factor).min(1_000_000),
            period_secs: self.period_secs,
        }
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, self.period_secs)
    }
}

/// One GCRA step: given the stored theoretical arrival time (µs on the store's clock)
/// and now, whether the request is allowed and the new arrival time to store. The Redis
/// store runs the same arithmetic in Lua (`store.rs`); the tests hold the two together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub allowed: bool,
    /// The arrival time to store (unchanged when refused).
    pub tat_us: u64,
    /// Until the budget is whole again.
    pub reset_us: u64,
    /// Until the next request would be allowed (0 when allowed).
    pub retry_us: u64,
}

pub fn gcra(stored_tat_us: Option<u64>, now_us: u64, quota: Quota) -> Step {
    let tat = stored_tat_us.unwrap_or(now_us).max(now_us);
    let new_tat = tat + quota.interval_us();
    let ahead = new_tat - now_us;
    if ahead > quota.burst_us() {
        Step {
            allowed: false,
            tat_us: tat,
            reset_us: tat - now_us,
            retry_us: ahead - quota.burst_us(),
        }
    } else {
        Step {
            allowed: true,
            tat_us: new_tat,
            reset_us: ahead,
            retry_us: 0,
        }
    }
}

/// The outcome of one check, with what the response headers say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub limit: Limit,
    pub quota: Quota,
    pub allowed: bool,
    /// Requests left in the budget (`r`).
    pub remaining: u32,
    /// Seconds until the budget is whole again (`t`), rounded up.
    pub reset_secs: u64,
    /// Seconds to wait before retrying (`Retry-After`), rounded up; 0 when allowed.
    pub retry_after_secs: u64,
}

fn ceil_secs(us: u64) -> u64 {
    us.div_ceil(1_000_000)
}

impl Decision {
    pub fn from_step(
        limit: Limit,
        quota: Quota,
        allowed: bool,
        reset_us: u64,
        retry_us: u64,
    ) -> Self {
        let used = reset_us.div_ceil(quota.interval_us().max(1));
        let remaining = u64::from(quota.count).saturating_sub(used);
        Self {
            limit,
            quota,
            allowed,
            remaining: if allowed {
                u32::try_from(remaining).unwrap_or(0)
            } else {
                0
            },
            reset_secs: ceil_secs(reset_us),
            retry_after_secs: if allowed {
                0
            } else {
                ceil_secs(retry_us).max(1)
            },
        }
    }

    /// An allowed decision that stands for "not checked" (the store failed open).
    pub fn unchecked(limit: Limit, quota: Quota) -> Self {
        Self {
            limit,
            quota,
            allowed: true,
            remaining: quota.count,
            reset_secs: 0,
            retry_after_secs: 0,
        }
    }

    /// `"api";q=300;w=60` (RateLimit-Policy, draft-ietf-httpapi-ratelimit-headers).
    pub fn policy_header(&self) -> String {
        format!(
            "\"{}\";q={};w={}",
            self.limit.name(),
            self.quota.count,
            self.quota.period_secs
        )
    }

    /// `"api";r=12;t=41` (RateLimit).
    pub fn state_header(&self) -> String {
        format!(
            "\"{}\";r={};t={}",
            self.limit.name(),
            self.remaining,
            self.reset_secs
        )
    }
}

/// The quota of each named limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quotas([Quota; 6]);

impl Quotas {
    /// Spec 04's quotas; ten times higher in development (`k12 dev`).
    pub fn defaults(env: Environment) -> Self {
        let factor = match env {
            Environment::Development => 10,
            Environment::Production => 1,
        };
        Self(Limit::ALL.map(|l| l.default_quota().scaled(factor)))
    }

    pub fn get(&self, limit: Limit) -> Quota {
        self.0[limit.index()]
    }

    pub fn set(&mut self, limit: Limit, quota: Quota) {
        self.0[limit.index()] = quota;
    }

    /// Applies `name=COUNT/SECONDS,...` on top of these quotas.
    pub fn with_overrides(mut self, value: &str) -> Result<Self, String> {
        for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, quota) = item
                .split_once('=')
                .ok_or_else(|| format!("{item:?} is not name=COUNT/SECONDS"))?;
            let limit = Limit::ALL
                .into_iter()
                .find(|l| l.name() == name.trim())
                .ok_or_else(|| {
                    format!(
                        "{name:?} is not a limit name (auth, ai, uploads, webhooks, analytics, api)"
                    )
                })?;
            self.set(limit, Quota::parse(quota)?);
        }
        Ok(self)
    }
}

/// An address block, `10.0.0.0/8` or `2001:db8::/32`; a bare address is a /32 or /128.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(value: &str) -> Result<Self, String> {
        let (addr, prefix) = match value.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (value, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("{value:?} is not an address or CIDR block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{value:?}: the prefix must be 0..={max}"))?,
        };
        Ok(Self {
            addr: addr.to_canonical(),
            prefix,
        })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Proxies whose `X-Forwarded-For` is believed (`K12_TRUSTED_PROXIES`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    pub fn parse(value: &str) -> Result<Self, String> {
        value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(Cidr::parse)
            .collect::<Result<_, _>>()
            .map(Self)
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    /// The client's address: the peer's, unless the peer is a trusted proxy, in which case
    /// the right-most `X-Forwarded-For` entry that is not itself a trusted proxy (entries
    /// to its left were written by the client and prove nothing). `forwarded_for` are the
    /// header's lines in order.
    pub fn client_ip<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl DoubleEndedIterator<Item = &'a str>,
    ) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        let hops = forwarded_for.rev().flat_map(|line| line.rsplit(','));
        for hop in hops {
            let Some(ip) = parse_hop(hop.trim()) else {
                // Garbage a trusted proxy passed on: the last hop we believe is the answer.
                return client;
            };
            client = ip;
            if !self.trusts(ip) {
                return ip;
            }
        }
        client
    }
}

/// An `X-Forwarded-For` entry: an address, possibly with a port or in brackets.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(sa) = hop.parse::<std::net::SocketAddr>() {
        return Some(sa.ip().to_canonical());
    }
    hop.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .and_then(|h| h.parse::<IpAddr>().ok())
        .map(|ip| ip.to_canonical())
}

/// The bucket an address is counted in: itself for IPv4, its /64 for IPv6 (one host
/// commonly holds a whole /64, so counting single IPv6 addresses would let it rotate).
pub fn ip_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// Failed logins (`K12_LOGIN_LOCKOUT`, `FAILURES/SECONDS`): after `failures` wrong
/// passwords for one account from one client IP, that IP is refused for that account for
/// `period`; failures from many IPs slow every attempt on the account instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginLockout {
    pub failures: u32,
    pub period: Duration,
}

impl Default for LoginLockout {
    fn default() -> Self {
        Self {
            failures: 10,
            period: Duration::from_secs(900),
        }
    }
}

impl LoginLockout {
    pub fn parse(value: &str) -> Result<Self, String> {
        let q = Quota::parse(value).map_err(|e| format!("{e} (FAILURES/SECONDS, e.g. 10/900)"))?;
        Ok(Self {
            failures: q.count,
            period: q.period(),
        })
    }

    /// The delay before checking a password for an account that `total_failures` wrong
    /// passwords from several addresses have hit: 250 ms at the threshold, doubling, at
    /// most 4 s; none below it.
    pub fn delay(&self, total_failures: i64) -> Duration {
        let over = total_failures - i64::from(self.failures);
        if over < 0 {
            return Duration::ZERO;
        }
        let doublings = u32::try_from(over.min(4)).unwrap_or(4);
        Duration::from_millis(250 << doublings)
    }
}

/// Everything the throttles need, read once at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub quotas: Quotas,
    pub trusted_proxies: TrustedProxies,
    pub lockout: LoginLockout,
}

impl Settings {
    pub fn defaults(env: Environment) -> Self {
        Self {
            quotas: Quotas::defaults(env),
            trusted_proxies: TrustedProxies::default(),
            lockout: LoginLockout::default(),
        }
    }

    /// `K12_RATE_LIMITS`, `K12_TRUSTED_PROXIES`, `K12_LOGIN_LOCKOUT` over `env`'s defaults.
    pub fn from_vars(vars: &dyn VarSource, env: Environment) -> Result<Self, ConfigError> {
        let named = |var: &'static str| move |message: String| ConfigError { var, message };
        let mut settings = Self::defaults(env);
        if let Some(v) = vars.get("K12_RATE_LIMITS") {
            settings.quotas = settings
                .quotas
                .with_overrides(&v)
                .map_err(named("K12_RATE_LIMITS"))?;
        }
        if let Some(v) = vars.get("K12_TRUSTED_PROXIES") {
            settings.trusted_proxies =
                TrustedProxies::parse(&v).map_err(named("K12_TRUSTED_PROXIES"))?;
        }
        if let Some(v) = vars.get("K12_LOGIN_LOCKOUT") {
            settings.lockout = LoginLockout::parse(&v).map_err(named("K12_LOGIN_LOCKOUT"))?;
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_follow_the_spec_and_development_is_ten_times_higher() {
        let prod = Quotas::defaults(Environment::Production);
        let expected = [
            (Limit::Auth, 5),
            (Limit::Ai, 20),
            (Limit::Uploads, 30),
            (Limit::Webhooks, 60),
            (Limit::Analytics, 30),
            (Limit::Api, 300),
        ];
        for (limit, count) in expected {
            assert_eq!(prod.get(limit), Quota::new(count, 60).unwrap(), "{limit:?}");
        }
        let dev = Quotas::defaults(Environment::Development);
        assert_eq!(dev.get(Limit::Api).to_string(), "3000/60");
        assert_eq!(dev.get(Limit::Auth).to_string(), "50/60");
    }

    #[test]
    fn named_limits_are_keyed_as_the_spec_says() {
        assert_eq!(Limit::Auth.key_kind(), KeyKind::ClientIp);
        assert_eq!(Limit::Api.key_kind(), KeyKind::ClientIp);
        assert_eq!(Limit::Ai.key_kind(), KeyKind::User);
        assert_eq!(Limit::Uploads.key_kind(), KeyKind::User);
        assert_eq!(Limit::Analytics.key_kind(), KeyKind::User);
        assert_eq!(Limit::Webhooks.key_kind(), KeyKind::Tenant);
    }

    #[test]
    fn overrides_apply_over_either_environment() {
        let s = Settings::from_vars(
            &vars(&[("K12_RATE_LIMITS", "api=10/1, webhooks=7/30")]),
            Environment::Development,
        )
        .unwrap();
        assert_eq!(s.quotas.get(Limit::Api).to_string(), "10/1");
        assert_eq!(s.quotas.get(Limit::Webhooks).to_string(), "7/30");
        assert_eq!(s.quotas.get(Limit::Auth).to_string(), "50/60");
        let s = Settings::from_vars(
            &vars(&[
                ("K12_TRUSTED_PROXIES", "10.0.0.0/8, ::1"),
                ("K12_LOGIN_LOCKOUT", "3/60"),
            ]),
            Environment::Production,
        )
        .unwrap();
        assert!(s.trusted_proxies.trusts("10.9.8.7".parse().unwrap()));
        assert!(s.trusted_proxies.trusts("::1".parse().unwrap()));
        assert!(!s.trusted_proxies.trusts("11.0.0.1".parse().unwrap()));
        assert_eq!(s.lockout.failures, 3);
        assert_eq!(s.lockout.period, Duration::from_secs(60));
        assert_eq!(
            Settings::from_vars(&vars(&[]), Environment::Production)
                .unwrap()
                .lockout,
            LoginLockout::default()
        );
    }

    #[test]
    fn each_invalid_value_names_its_variable() {
        let cases = [
            ("K12_RATE_LIMITS", "api=300"),
            ("K12_RATE_LIMITS", "api=0/60"),
            ("K12_RATE_LIMITS", "api=10/0"),
            ("K12_RATE_LIMITS", "apis=10/60"),
            ("K12_RATE_LIMITS", "api"),
            ("K12_RATE_LIMITS", "api=x/60"),
            ("K12_TRUSTED_PROXIES", "10.0.0.0/33"),
            ("K12_TRUSTED_PROXIES", "proxy.internal"),
            ("K12_LOGIN_LOCKOUT", "10"),
            ("K12_LOGIN_LOCKOUT", "ten/900"),
        ];
        for (var, value) in cases {
            let e =
                Settings::from_vars(&vars(&[(var, value)]), Environment::Production).unwrap_err();
            assert_eq!(e.var, var, "{value}: {e}");
            assert!(e.to_string().contains(var), "{e}");
        }
    }

    #[test]
    fn gcra_allows_the_burst_then_one_per_interval() {
        let q = Quota::new(5, 60).unwrap();
        let mut tat = None;
        let now = 1_000_000_000;
        for i in 0..5 {
            let s = gcra(tat, now, q);
            assert!(s.allowed, "request {i}");
            tat = Some(s.tat_us);
        }
        let refused = gcra(tat, now, q);
        assert!(!refused.allowed);
        assert_eq!(refused.tat_us, tat.unwrap(), "a refusal stores nothing new");
        assert_eq!(refused.retry_us, 12_000_000);
        let d = Decision::from_step(Limit::Auth, q, false, refused.reset_us, refused.retry_us);
        assert_eq!((d.remaining, d.retry_after_secs, d.reset_secs), (0, 12, 60));
        // One interval later exactly one more is allowed.
        let later = gcra(tat, now + 12_000_000, q);
        assert!(later.allowed);
        assert!(!gcra(Some(later.tat_us), now + 12_000_000, q).allowed);
        // A fresh key: remaining counts down from the quota.
        let first = gcra(None, now, q);
        let d = Decision::from_step(Limit::Auth, q, true, first.reset_us, 0);
        assert_eq!((d.remaining, d.reset_secs, d.retry_after_secs), (4, 12, 0));
        assert_eq!(d.policy_header(), "\"auth\";q=5;w=60");
        assert_eq!(d.state_header(), "\"auth\";r=4;t=12");
    }

    #[test]
    fn client_ip_believes_forwarded_for_only_from_trusted_proxies() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let none = TrustedProxies::default();
        assert_eq!(
            none.client_ip(ip("198.51.100.1"), ["203.0.113.9"].into_iter()),
            ip("198.51.100.1"),
            "no trusted proxies: the header is ignored"
        );
        let trusted = TrustedProxies::parse("10.0.0.0/8,fd00::/8").unwrap();
        assert_eq!(
            trusted.client_ip(ip("198.51.100.1"), ["203.0.113.9"].into_iter()),
            ip("198.51.100.1"),
            "an untrusted peer's header is ignored"
        );
        assert_eq!(
            trusted.client_ip(
                ip("10.0.0.2"),
                ["1.1.1.1, 203.0.113.9", "10.0.0.7"].into_iter()
            ),
            ip("203.0.113.9"),
            "the right-most untrusted entry, across header lines; the client's own entries lose"
        );
        assert_eq!(
            trusted.client_ip(ip("::ffff:10.0.0.2"), ["203.0.113.9:4711"].into_iter()),
            ip("203.0.113.9")
        );
        assert_eq!(
            trusted.client_ip(ip("fd00::1"), ["[2001:db8::1]"].into_iter()),
            ip("2001:db8::1")
        );
        assert_eq!(
            trusted.client_ip(ip("10.0.0.2"), ["garbage, 10.0.0.3"].into_iter()),
            ip("10.0.0.3"),
            "garbage stops the walk at the last believed hop"
        );
        assert_eq!(
            trusted.client_ip(ip("10.0.0.2"), std::iter::empty()),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        assert_eq!(ip_key("203.0.113.9".parse().unwrap()), "203.0.113.9");
        assert_eq!(ip_key("::ffff:203.0.113.9".parse().unwrap()), "203.0.113.9");
        assert_eq!(
            ip_key("2001:db8:1:2:aaaa::1".parse().unwrap()),
            ip_key("2001:db8:1:2:bbbb::2".parse().unwrap())
        );
    }

    #[test]
    fn lockout_delay_doubles_to_a_cap() {
        let l = LoginLockout::default();
        assert_eq!(l.delay(9), Duration::ZERO);
        assert_eq!(l.delay(10), Duration::from_millis(250));
        assert_eq!(l.delay(11), Duration::from_millis(500));
        assert_eq!(l.delay(14), Duration::from_secs(4));
        assert_eq!(l.delay(1000), Duration::from_secs(4));
    }
}
