//! The identity floor: passwords, tokens, sessions and permissions, and the actor types
//! handlers receive. Independent of how a user proved who they are, so single sign-on can
//! open the same sessions later; the sign-in routes themselves are the `login` feature.

pub mod password;
pub mod permission;
pub mod session;
pub mod token;
