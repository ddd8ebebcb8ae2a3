//! Monitoring: the operator's health report (`GET /api/v1/operator/health`), readiness
//! for load balancers (`GET /api/v1/ready`), the request metrics every API request feeds,
//! the Prometheus exposition served on its own listener (`K12_METRICS_LISTEN`), and
//! alerting: rules and events ([`alerts`]), their evaluation ([`evaluate`]) and the
//! notification outbox with Slack and e-mail delivery ([`notify`], [`mail`]).

pub mod alerts;
pub mod evaluate;
pub mod exposition;
pub mod health;
pub mod mail;
pub mod metrics;
pub mod notify;
pub mod routes;
pub mod shared;
pub mod uptime;
pub mod window;

pub use health::{report, HealthReport, MonitoringConfig};
pub use metrics::Metrics;
