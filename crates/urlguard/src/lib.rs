//! SSRF guard for user-supplied URLs, pure logic without I/O.
//!
//! [`Guard::check_url`] runs the stages parse → scheme → userinfo → port → host on a URL
//! string and returns a [`Target`]; a host that is a name must then be resolved (by the
//! caller, see the `egress` crate) and every answer judged with [`Guard::check_addresses`].
//! [`judge_ip`] judges one address. Refusals carry a [`Reason`] with a stable snake_case
//! name. docs/url-guard.md has the table of reasons.

mod guard;
mod ip;
mod policy;
mod reason;

pub use guard::{judge_name, Guard, Host, Scheme, Target, MAX_URL_LEN};
pub use ip::{judge_ip, judge_ipv4, judge_ipv6};
pub use policy::{AllowEntry, AllowEntryError, Policy};
pub use reason::{Reason, Refusal};

/// Re-exported so callers name the same parser type the guard used.
pub use url::Url;
