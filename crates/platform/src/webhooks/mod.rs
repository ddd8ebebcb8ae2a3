//! Webhooks: tenant admins register endpoints (a URL judged by the URL guard on save and
//! again on every delivery, subscribed events, a server-generated signing secret stored
//! sealed); changes in the school [`emit`] events in their own transaction, and the
//! [`DeliverWebhook`] job posts them, signed, through the guarded client, at least once.

mod delivery;
mod endpoints;
pub mod routes;

pub use delivery::{emit, sign, DeliverWebhook, SIGNATURE_HEADER};
pub(crate) use endpoints::guard_url;
pub use endpoints::{
    CreateEndpoint, CreatedEndpoint, DeliveryView, EndpointView, TestResult, UpdateEndpoint,
};

/// The events an endpoint may subscribe to. `ping` (the test route) is always sent.
pub const EVENTS: &[&str] = &[
    "submission.created",
    "submission.graded",
    "assignment.published",
    "enrollment.created",
];

/// The associated data of sealed endpoint secrets (see [`crate::outbound::SecretBox`]).
const SECRET_PURPOSE: &str = "webhook_endpoints.secret";
