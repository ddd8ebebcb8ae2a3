//! Guardian links: which guardians follow which students. Tenant admins manage them;
//! guardians' read access to courses, grades and submissions follows from them.

use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{self, AuditEvent, TenantActor};
use crate::db::TenantTx;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, TenantScope};
use crate::http::page::{Page, PageParams};
use crate::http::validate;
use crate::request::RequestMeta;

#[derive(Debug, Serialize, JsonSchema, sqlx::FromRow)]
pub struct GuardianLinkView {
    pub id: i64,
    pub guardian_id: i64,
    pub guardian_name: String,
    pub student_id: i64,
    pub student_name: String,
    pub relationship: String,
    pub created_at: DateTime<Utc>,
}

const LINK_SELECT: &str = "
    SELECT l.id, l.guardian_id, trim(g.first_name || ' ' || g.last_name) AS guardian_name,
           l.student_id, trim(s.first_name || ' ' || s.last_name) AS student_name,
           l.relationship, l.created_at
      FROM guardian_links l
      JOIN users g ON g.id = l.guardian_id
      JOIN users s ON s.id = l.student_id";

#[derive(Debug, Deserialize, JsonSchema)]
pub struct LinkListParams {
    #[serde(flatten)]
    pub page: PageParams,
    /// Only links of this student.
    pub student_id: Option<i64>,
    /// Only links of this guardian.
    pub guardian_id: Option<i64>,
}

/// `GET /api/v1/guardian_links`
pub async fn list(
    TenantScope { me: _, db }: TenantScope,
    ApiQuery(params): ApiQuery<LinkListParams>,
) -> ApiResult<Json<Page<GuardianLinkView>>> {
    let page = &params.page;
    let limit = page.limit()?;
    let after: i64 = page.after()?.unwrap_or(0);
    let mut tx = db.begin().await?;
    let rows: Vec<GuardianLinkView> = sqlx::query_as(&format!(
        "{LINK_SELECT} WHERE l.id > $1 AND ($2::bigint IS NULL OR l.student_id = $2)
            AND ($3::bigint IS NULL OR l.guardian_id = $3) ORDER BY l.id LIMIT $4"
    ))
    .bind(after)
    .bind(params.student_id)
    .bind(params.guardian_id)
    .bind(limit + 1)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(Page::from_rows(rows, limit, |l| l.id)))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGuardianLink {
    /// A user holding the `guardian` role.
    pub guardian_id: i64,
    /// A user holding the `student` role.
    pub student_id: i64,
    /// e.g. `mother`, `father`, `guardian` (default).
    pub relationship: Option<String>,
}

async fn has_role(tx: &mut TenantTx, user: i64, role: &str) -> ApiResult<bool> {
    let (yes,): (bool,) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM user_roles ur JOIN roles r ON r.id = ur.role_id
                         WHERE ur.user_id = $1 AND r.name = $2)",
    )
    .bind(user)
    .bind(role)
    .fetch_one(&mut **tx)
    .await?;
    Ok(yes)
}

/// `POST /api/v1/guardian_links`
pub async fn create(
    TenantScope { me, db }: TenantScope,
    meta: RequestMeta,
    ApiJson(body): ApiJson<CreateGuardianLink>,
) -> ApiResult<(StatusCode, Json<GuardianLinkView>)> {
    let relationship = body.relationship.unwrap_or_else(|| "guardian".to_string());
    validate::text("relationship", &relationship, 1, 50)?;
    let mut tx = db.begin().await?;
    if !has_role(&mut tx, body.guardian_id, "guardian").await? {
        return Err(ApiError::invalid(
            "guardian_id",
            "is not a user with the guardian role",
        ));
    }
    if !has_role(&mut tx, body.student_id, "student").await? {
        return Err(ApiError::invalid(
            "student_id",
            "is not a user with the student role",
        ));
    }
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO guardian_links (tenant_id, guardian_id, student_id, relationship)
         VALUES (current_tenant_id(), $1, $2, $3) RETURNING id",
    )
    .bind(body.guardian_id)
    .bind(body.student_id)
    .bind(relationship.trim())
    .fetch_one(&mut *tx)
    .await?;
    audit::record_tenant(
        &mut tx,
        TenantActor::User(me.user_id),
        &meta,
        AuditEvent::new("guardian_link.created")
            .on("guardian_link", id)
            .with(json!({ "guardian_id": body.guardian_id, "student_id": body.student_id })),
    )
    .await?;
    let link: GuardianLinkView = sqlx::query_as(&format!("{LINK_SELECT} WHERE l.id = $1"))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(link)))
}

/// `DELETE /api/v1/guardian_links/{id}`
pub async fn delete(
    TenantScope { me, db }: TenantScope,
    meta: RequestMeta,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    let mut tx = db.begin().await?;
    let gone: Option<(i64, i64)> = sqlx::query_as(
        "DELETE FROM guardian_links WHERE id = $1 RETURNING guardian_id, student_id",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let (guardian_id, student_id) = gone.ok_or(ApiError::NotFound)?;
    audit::record_tenant(
        &mut tx,
        TenantActor::User(me.user_id),
        &meta,
        AuditEvent::new("guardian_link.deleted")
            .on("guardian_link", id)
            .with(json!({ "guardian_id": guardian_id, "student_id": student_id })),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
