//! Monitoring: the operator's health report (`GET /api/v1/operator/health`), readiness
//! for load balancers (`GET /api/v1/ready`), the request metrics every API request feeds,
//! the Prometheus exposition served on its own listener (`K12_METRICS_LISTEN`), and
//! alerting: rules and events ([`alerts`]).

pub mod alerts;
pub mod exposition;
pub mod health;
pub mod metrics;
pub mod routes;
pub mod window;

pub use health::{report, HealthReport, MonitoringConfig};
pub use metrics::Metrics;
