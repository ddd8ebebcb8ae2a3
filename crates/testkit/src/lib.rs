//! The test harness.
//!
//! * One private PostgreSQL cluster per test run, started from the system binaries by
//!   the first test process that needs it (under a file lock, so the processes nextest
//!   runs in parallel share it), in `$K12_TEST_PG_DIR` (default `/tmp/k12-test-pg`).
//!   The test command stops it at the end of the run.
//! * A template database migrated once per set of migrations; each test gets its own
//!   database cloned from it, dropped when the test's [`TestDb`] is dropped.
//! * [`TestApp`] serves the real router on a loopback port, with factories and login
//!   helpers.
//! * [`RedisServer`]: a private `redis-server` on loopback for the rate-limit tests.
//! * [`Receiver`]: a loopback webhook receiver (Slack's answers) that records requests.
//! * [`SmtpSink`]: a real SMTP server (aiosmtpd) on loopback writing a Maildir.

mod app;
mod cluster;
mod receiver;
mod redis;
mod school;
mod smtp;

pub use app::{
    generous_limits, test_egress, test_outbound, Actor, TestApp, TestUser, PASSWORD,
    TEST_SECRET_KEY,
};
pub use cluster::{Standby, TestDb, APP_PASSWORD, OWNER_PASSWORD};
pub use receiver::Receiver;
pub use redis::RedisServer;
pub use school::{School, TwoSchools};
pub use smtp::SmtpSink;
