//! Course discussions and their threaded posts (`parent_post_id`).

pub mod routes;

use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::auth::session::UserActor;
use crate::courses::access::{course_role, require_staff, CourseRole, Viewer};
use crate::db::TenantTx;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, TenantScope};
use crate::http::page::{Page, PageParams};
use crate::http::validate;

#[derive(Debug, Serialize, JsonSchema, sqlx::FromRow)]
pub struct DiscussionView {
    pub id: i64,
    pub course_id: i64,
    pub title: String,
    pub description: String,
    pub pinned: bool,
    /// `open`, `closed` (no new posts) or `archived` (staff only).
    pub status: String,
    pub created_by_id: Option<i64>,
    pub creator_name: Option<String>,
    pub posts_count: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const DISCUSSION_SELECT: &str = "
    SELECT d.id, d.course_id, d.title, d.description, d.pinned, d.status, d.created_by_id,
           nullif(trim(u.first_name || ' ' || u.last_name), '') AS creator_name,
           d.posts_count, d.created_at, d.updated_at
      FROM discussions d LEFT JOIN users u ON u.id = d.created_by_id";

async fn find(tx: &mut TenantTx, id: i64) -> Result<Option<DiscussionView>, sqlx::Error> {
    sqlx::query_as(&format!("{DISCUSSION_SELECT} WHERE d.id = $1"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
}

/// A discussion the viewer may see (archived ones: staff only), with their course role.
async fn visible(
    tx: &mut TenantTx,
    me: &UserActor,
    id: i64,
) -> ApiResult<(DiscussionView, CourseRole)> {
    let d = find(tx, id).await?.ok_or(ApiError::NotFound)?;
    let role = course_role(tx, &Viewer::new(me), d.course_id).await?;
    if !role.is_staff() && d.status == "archived" {
        return Err(ApiError::NotFound);
    }
    Ok((d, role))
}

/// The cursor of the discussion list: pinned first, then by id.
#[derive(Debug, Serialize, Deserialize)]
struct PinnedCursor(bool, i64);

/// `GET /api/v1/courses/{id}/discussions`: pinned first, then oldest first.
pub async fn list(
    TenantScope { me, db }: TenantScope,
    ApiPath(course_id): ApiPath<i64>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<DiscussionView>>> {
    let limit = params.limit()?;
    let after: Option<PinnedCursor> = params.after()?;
    let mut tx = db.begin().await?;
    let role = course_role(&mut tx, &Viewer::new(&me), course_id).await?;
    let rows: Vec<DiscussionView> = sqlx::query_as(&format!(
        "{DISCUSSION_SELECT}
          WHERE d.course_id = $1 AND ($2 OR d.status <> 'archived')
            AND ($4::bigint IS NULL OR (NOT d.pinned, d.id) > (NOT $3, $4))
          ORDER BY d.pinned DESC, d.id LIMIT $5"
    ))
    .bind(course_id)
    .bind(role.is_staff())
    .bind(after.as_ref().map(|c| c.0))
    .bind(after.as_ref().map(|c| c.1))
    .bind(limit + 1)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(Page::from_rows(rows, limit, |d| {
        PinnedCursor(d.pinned, d.id)
    })))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDiscussion {
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub pinned: bool,
}

/// `POST /api/v1/courses/{id}/discussions`
pub async fn create(
    TenantScope { me, db }: TenantScope,
    ApiPath(course_id): ApiPath<i64>,
    ApiJson(body): ApiJson<CreateDiscussion>,
) -> ApiResult<(StatusCode, Json<DiscussionView>)> {
    validate::text("title", &body.title, 1, 300)?;
    if body.description.len() > 50_000 {
        return Err(ApiError::invalid(
            "description",
            "must be at most 50000 bytes",
        ));
    }
    let mut tx = db.begin().await?;
    require_staff(&mut tx, &Viewer::new(&me), course_id).await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO discussions (tenant_id, course_id, created_by_id, title, description, pinned)
         VALUES (current_tenant_id(), $1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(course_id)
    .bind(me.user_id)
    .bind(body.title.trim())
    .bind(&body.description)
    .bind(body.pinned)
    .fetch_one(&mut *tx)
    .await?;
    let d = find(&mut tx, id).await?.ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(d)))
}

/// `GET /api/v1/discussions/{id}`
pub async fn show(
    TenantScope { me, db }: TenantScope,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<DiscussionView>> {
    let mut tx = db.begin().await?;
    let (d, _) = visible(&mut tx, &me, id).await?;
    tx.commit().await?;
    Ok(Json(d))
}

#[derive(Debug, Serialize, JsonSchema, sqlx::FromRow)]
pub struct PostView {
    pub id: i64,
    pub discussion_id: i64,
    /// The post this one replies to; `null` for a top-level post.
    pub parent_post_id: Option<i64>,
    pub content: String,
    pub created_by_id: Option<i64>,
    pub author_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const POST_SELECT: &str = "
    SELECT p.id, p.discussion_id, p.parent_post_id, p.content, p.created_by_id,
           nullif(trim(u.first_name || ' ' || u.last_name), '') AS author_name,
           p.created_at, p.updated_at
      FROM discussion_posts p LEFT JOIN users u ON u.id = p.created_by_id";

/// `GET /api/v1/discussions/{id}/posts`: every post oldest first; threads are rebuilt
/// from `parent_post_id`.
pub async fn list_posts(
    TenantScope { me, db }: TenantScope,
    ApiPath(discussion_id): ApiPath<i64>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<PostView>>> {
    let limit = params.limit()?;
    let after: i64 = params.after()?.unwrap_or(0);
    let mut tx = db.begin().await?;
    visible(&mut tx, &me, discussion_id).await?;
    let rows: Vec<PostView> = sqlx::query_as(&format!(
        "{POST_SELECT} WHERE p.discussion_id = $1 AND p.id > $2 ORDER BY p.id LIMIT $3"
    ))
    .bind(discussion_id)
    .bind(after)
    .bind(limit + 1)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(Page::from_rows(rows, limit, |p| p.id)))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePost {
    pub content: String,
    /// Reply to this post of the same discussion.
    pub parent_post_id: Option<i64>,
}

/// `POST /api/v1/discussions/{id}/posts`: staff and enrolled students; guardians read only.
pub async fn create_post(
    TenantScope { me, db }: TenantScope,
    ApiPath(discussion_id): ApiPath<i64>,
    ApiJson(body): ApiJson<CreatePost>,
) -> ApiResult<(StatusCode, Json<PostView>)> {
    if body.content.trim().is_empty() || body.content.len() > 50_000 {
        return Err(ApiError::invalid("content", "must be 1 to 50000 bytes"));
    }
    let mut tx = db.begin().await?;
    let (d, role) = visible(&mut tx, &me, discussion_id).await?;
    if role == CourseRole::Guardian {
        return Err(ApiError::Forbidden);
    }
    if d.status != "open" {
        return Err(ApiError::conflict(
            "discussion_closed",
            "this discussion takes no new posts",
        ));
    }
    if let Some(parent) = body.parent_post_id {
        let (same,): (bool,) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM discussion_posts WHERE id = $1 AND discussion_id = $2)",
        )
        .bind(parent)
        .bind(discussion_id)
        .fetch_one(&mut *tx)
        .await?;
        if !same {
            return Err(ApiError::invalid(
                "parent_post_id",
                "is not a post of this discussion",
            ));
        }
    }
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO discussion_posts (tenant_id, discussion_id, created_by_id, parent_post_id, content)
         VALUES (current_tenant_id(), $1, $2, $3, $4) RETURNING id",
    )
    .bind(discussion_id)
    .bind(me.user_id)
    .bind(body.parent_post_id)
    .bind(&body.content)
    .fetch_one(&mut *tx)
    .await?;
    let post: PostView = sqlx::query_as(&format!("{POST_SELECT} WHERE p.id = $1"))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(post)))
}

/// `DELETE /api/v1/discussion_posts/{id}`: by its author or the course's staff; replies
/// go with it.
pub async fn delete_post(
    TenantScope { me, db }: TenantScope,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    let mut tx = db.begin().await?;
    let row: Option<(i64, Option<i64>)> =
        sqlx::query_as("SELECT discussion_id, created_by_id FROM discussion_posts WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let (discussion_id, author) = row.ok_or(ApiError::NotFound)?;
    let (_, role) = visible(&mut tx, &me, discussion_id).await?;
    if !(role.is_staff() || (role == CourseRole::Learner && author == Some(me.user_id))) {
        return Err(ApiError::Forbidden);
    }
    sqlx::query("DELETE FROM discussion_posts WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
