//! The discussion and post routes.

use axum::http::StatusCode;

use crate::auth::permission::{perm, Access};
use crate::discussions;
use crate::http::api::{Api, Operation as Op};
use crate::http::page::{Page, PageParams};

/// Registers the discussion and post routes.
pub fn register(api: &mut Api) {
    use Access::*;
    let (ok, created, gone) = (StatusCode::OK, StatusCode::CREATED, StatusCode::NO_CONTENT);
    api.add(
        Op::get(
            "/api/v1/courses/{id}/discussions",
            Tenant(perm::DISCUSSIONS_READ),
        )
        .summary("discussions", "Discussions of a course, pinned first")
        .query::<PageParams>()
        .response::<Page<discussions::DiscussionView>>(ok),
        discussions::list,
    );
    api.add(
        Op::post(
            "/api/v1/courses/{id}/discussions",
            Tenant(perm::DISCUSSIONS_MANAGE),
        )
        .summary("discussions", "Start a discussion (course staff)")
        .request::<discussions::CreateDiscussion>()
        .response::<discussions::DiscussionView>(created),
        discussions::create,
    );
    api.add(
        Op::get("/api/v1/discussions/{id}", Tenant(perm::DISCUSSIONS_READ))
            .summary("discussions", "One discussion")
            .response::<discussions::DiscussionView>(ok),
        discussions::show,
    );
    api.add(
        Op::get(
            "/api/v1/discussions/{id}/posts",
            Tenant(perm::DISCUSSIONS_READ),
        )
        .summary(
            "discussions",
            "Posts of a discussion, oldest first; threads via parent_post_id",
        )
        .query::<PageParams>()
        .response::<Page<discussions::PostView>>(ok),
        discussions::list_posts,
    );
    api.add(
        Op::post(
            "/api/v1/discussions/{id}/posts",
            Tenant(perm::DISCUSSIONS_POST),
        )
        .summary("discussions", "Post (or reply with parent_post_id)")
        .request::<discussions::CreatePost>()
        .response::<discussions::PostView>(created),
        discussions::create_post,
    );
    api.add(
        Op::delete(
            "/api/v1/discussion_posts/{id}",
            Tenant(perm::DISCUSSIONS_POST),
        )
        .summary(
            "discussions",
            "Delete a post and its replies (author or course staff)",
        )
        .response::<()>(gone),
        discussions::delete_post,
    );
}
