//! The attachment routes.

use axum::http::StatusCode;

use crate::attachments::{self, AttachmentView, SUBMISSION_BODY_LIMIT};
use crate::auth::permission::{perm, Access};
use crate::http::api::{Api, Operation as Op};

/// Registers the attachment routes.
pub fn register(api: &mut Api) {
    use Access::*;
    api.add(
        Op::post(
            "/api/v1/submissions/{id}/attachments",
            Tenant(perm::SUBMISSIONS_CREATE),
        )
        .summary(
            "attachments",
            "Attach a file to your submission before it is graded (multipart field `file`; \
             images, PDF, Office documents, text and CSV up to 50 MB; type from the bytes)",
        )
        .multipart_file("file")
        .body_limit(SUBMISSION_BODY_LIMIT)
        .response::<AttachmentView>(StatusCode::CREATED),
        attachments::upload,
    );
    api.add(
        Op::get("/api/v1/attachments/{id}", Tenant(perm::SUBMISSIONS_READ)).summary(
            "attachments",
            "Download an attachment (as a download only; on S3 a 302 to a 5-minute pre-signed URL)",
        ),
        attachments::download,
    );
    api.add(
        Op::delete("/api/v1/attachments/{id}", Tenant(perm::SUBMISSIONS_CREATE))
            .summary(
                "attachments",
                "Delete an attachment of your submission before it is graded",
            )
            .response::<()>(StatusCode::NO_CONTENT),
        attachments::delete,
    );
}
