//! The job kinds of the platform core. Feature modules keep their own kinds next to
//! their code and register them in [`super::catalog`].

mod cleanup;
mod probe;

pub use cleanup::{cleanup, CleanupExpired, CleanupReport};
pub use probe::Probe;
