//! The core service of the K-12 platform: configuration, database access with
//! database-enforced tenancy, identity and sessions, and the HTTP API.
//!
//! Organised by feature: `auth` (sessions, permissions), `identity` (users), `tenancy`
//! (districts, tenants), `audit`; with `db` and `http` as the shared floor.

pub mod assignments;
pub mod audit;
pub mod auth;
pub mod config;
pub mod counters;
pub mod courses;
pub mod db;
pub mod discussions;
pub mod embedded;
pub mod http;
pub mod identity;
pub mod jobs;
pub mod operators;
pub mod quizzes;
pub mod routes;
pub mod seed;
pub mod standards;
pub mod tenancy;
