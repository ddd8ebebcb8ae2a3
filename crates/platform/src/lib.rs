//! The core service of the K-12 platform: configuration, database access with
//! database-enforced tenancy, identity and sessions, and the HTTP API.
//!
//! Imports go one way, down: [`app`] (router assembly and serving) → features (one folder
//! each, with its `routes.rs`) → the floor ([`http`], [`auth`], [`audit`]) → [`error`],
//! [`request`], [`db`], [`config`], [`outbound`]. See `docs/ARCHITECTURE.md` for the map.

pub mod ai;
pub mod analytics;
pub mod api_keys;
pub mod app;
pub mod assignments;
pub mod attachments;
pub mod audit;
pub mod auth;
pub mod backups;
pub mod config;
pub mod counters;
pub mod courses;
pub mod db;
pub mod dbinsight;
pub mod deploy;
pub mod discussions;
pub mod error;
pub mod flags;
pub mod http;
pub mod identity;
pub mod imports;
pub mod integrations;
pub mod jobs;
pub mod logging;
pub mod login;
pub mod meta;
pub mod monitoring;
pub mod operators;
pub mod outbound;
pub mod provisioning;
pub mod quizzes;
pub mod ratelimit;
pub mod request;
pub mod standards;
pub mod tenancy;
pub mod webhooks;
