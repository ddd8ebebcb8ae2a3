//! Identity proof and sessions: passwords, tokens, sessions, permissions, and the
//! login/logout/setup/me routes. Independent of how a user proved who they are, so
//! single sign-on can open the same sessions later.

pub mod password;
pub mod permission;
pub mod routes;
pub mod session;
pub mod token;
