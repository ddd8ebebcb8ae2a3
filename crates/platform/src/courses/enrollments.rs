//! Sections of a course and the people enrolled in them.

use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::access::{course_role, require_staff, Viewer};
use crate::audit::{self, AuditEvent, TenantActor};
use crate::db::TenantTx;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, TenantScope};
use crate::http::page::{Page, PageParams};
use crate::http::validate;
use crate::request::RequestMeta;

#[derive(Debug, Serialize, JsonSchema, sqlx::FromRow)]
pub struct SectionView {
    pub id: i64,
    pub course_id: i64,
    pub term_id: Option<i64>,
    pub name: String,
    pub enrollments_count: i32,
    pub created_at: DateTime<Utc>,
}

/// `GET /api/v1/courses/{id}/sections`
pub async fn list_sections(
    TenantScope { me, db }: TenantScope,
    ApiPath(course_id): ApiPath<i64>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<SectionView>>> {
    let limit = params.limit()?;
    let after: i64 = params.after()?.unwrap_or(0);
    let mut tx = db.begin().await?;
    course_role(&mut tx, &Viewer::new(&me), course_id).await?;
    let rows: Vec<SectionView> = sqlx::query_as(
        "SELECT id, course_id, term_id, name, enrollments_count, created_at FROM sections
          WHERE course_id = $1 AND id > $2 ORDER BY id LIMIT $3",
    )
    .bind(course_id)
    .bind(after)
    .bind(limit + 1)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(Page::from_rows(rows, limit, |s| s.id)))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSection {
    pub name: String,
    pub term_id: Option<i64>,
}

/// `POST /api/v1/courses/{id}/sections`
pub async fn create_section(
    TenantScope { me, db }: TenantScope,
    ApiPath(course_id): ApiPath<i64>,
    ApiJson(body): ApiJson<CreateSection>,
) -> ApiResult<(StatusCode, Json<SectionView>)> {
    validate::text("name", &body.name, 1, 200)?;
    let name = body.name.trim();
    let mut tx = db.begin().await?;
    require_staff(&mut tx, &Viewer::new(&me), course_id).await?;
    let section: SectionView = sqlx::query_as(
        "INSERT INTO sections (tenant_id, course_id, term_id, name) VALUES (current_tenant_id(), $1, $2, $3)
         RETURNING id, course_id, term_id, name, enrollments_count, created_at",
    )
    .bind(course_id)
    .bind(body.term_id)
    .bind(name)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(section)))
}

/// The section's course, or 404.
async fn section_course(tx: &mut TenantTx, section_id: i64) -> ApiResult<i64> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT course_id FROM sections WHERE id = $1")
        .bind(section_id)
        .fetch_optional(&mut **tx)
        .await?;
    row.map(|r| r.0).ok_or(ApiError::NotFound)
}

#[derive(Debug, Serialize, JsonSchema, sqlx::FromRow)]
pub struct EnrollmentView {
    pub id: i64,
    pub section_id: i64,
    pub course_id: i64,
    pub user_id: i64,
    pub role: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub created_at: DateTime<Utc>,
}

const ENROLLMENT_SELECT: &str = "
    SELECT e.id, e.section_id, e.course_id, e.user_id, e.role, u.first_name, u.last_name, u.email, e.created_at
      FROM enrollments e JOIN users u ON u.id = e.user_id";

/// `GET /api/v1/sections/{id}/enrollments`: the roster, for the course's staff.
pub async fn list_enrollments(
    TenantScope { me, db }: TenantScope,
    ApiPath(section_id): ApiPath<i64>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<EnrollmentView>>> {
    let limit = params.limit()?;
    let after: i64 = params.after()?.unwrap_or(0);
    let mut tx = db.begin().await?;
    let course_id = section_course(&mut tx, section_id).await?;
    require_staff(&mut tx, &Viewer::new(&me), course_id).await?;
    let rows: Vec<EnrollmentView> = sqlx::query_as(&format!(
        "{ENROLLMENT_SELECT} WHERE e.section_id = $1 AND e.id > $2 ORDER BY e.id LIMIT $3"
    ))
    .bind(section_id)
    .bind(after)
    .bind(limit + 1)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(Page::from_rows(rows, limit, |e| e.id)))
}

/// Body of `POST /api/v1/sections/{id}/enrollments`: one or many users at once.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEnrollments {
    /// 1 to 1000 user ids; users already enrolled in the section are skipped.
    pub user_ids: Vec<i64>,
    /// `teacher`, `student`, `ta` or `observer`.
    pub role: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct CreatedEnrollments {
    pub created: Vec<EnrollmentView>,
    pub skipped_user_ids: Vec<i64>,
}

/// `POST /api/v1/sections/{id}/enrollments`: one statement however many users.
pub async fn create_enrollments(
    TenantScope { me, db }: TenantScope,
    meta: RequestMeta,
    ApiPath(section_id): ApiPath<i64>,
    ApiJson(body): ApiJson<CreateEnrollments>,
) -> ApiResult<(StatusCode, Json<CreatedEnrollments>)> {
    if !matches!(
        body.role.as_str(),
        "teacher" | "student" | "ta" | "observer"
    ) {
        return Err(ApiError::invalid(
            "role",
            "must be teacher, student, ta or observer",
        ));
    }
    if body.user_ids.is_empty() || body.user_ids.len() > 1000 {
        return Err(ApiError::invalid("user_ids", "must list 1 to 1000 users"));
    }
    let mut tx = db.begin().await?;
    let course_id = section_course(&mut tx, section_id).await?;
    require_staff(&mut tx, &Viewer::new(&me), course_id).await?;
    let (known,): (i64,) = sqlx::query_as("SELECT count(*) FROM users WHERE id = ANY($1)")
        .bind(&body.user_ids)
        .fetch_one(&mut *tx)
        .await?;
    let mut distinct = body.user_ids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    if known != distinct.len() as i64 {
        return Err(ApiError::invalid(
            "user_ids",
            "lists users that do not exist",
        ));
    }
    let ids: Vec<(i64,)> = sqlx::query_as(
        "INSERT INTO enrollments (tenant_id, user_id, section_id, course_id, role)
         SELECT current_tenant_id(), u, $1, $2, $3 FROM unnest($4::bigint[]) AS u
         ON CONFLICT (tenant_id, user_id, section_id) DO NOTHING RETURNING id",
    )
    .bind(section_id)
    .bind(course_id)
    .bind(&body.role)
    .bind(&distinct)
    .fetch_all(&mut *tx)
    .await?;
    let ids: Vec<i64> = ids.into_iter().map(|r| r.0).collect();
    let created: Vec<EnrollmentView> = sqlx::query_as(&format!(
        "{ENROLLMENT_SELECT} WHERE e.id = ANY($1) ORDER BY e.id"
    ))
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    let skipped_user_ids = distinct
        .into_iter()
        .filter(|u| !created.iter().any(|e| e.user_id == *u))
        .collect();
    audit::record_tenant(&mut tx, TenantActor::User(me.user_id), &meta,
        AuditEvent::new("enrollments.created").on("section", section_id)
            .with(json!({ "role": body.role, "user_ids": created.iter().map(|e| e.user_id).collect::<Vec<_>>() }))).await?;
    if !created.is_empty() {
        // One event per request, listing the enrollments made (a bulk add is one event).
        let enrollments: Vec<_> = created
            .iter()
            .map(|e| json!({ "enrollment_id": e.id, "user_id": e.user_id }))
            .collect();
        let data = json!({ "section_id": section_id, "course_id": course_id,
                           "role": body.role, "enrollments": enrollments });
        crate::webhooks::emit(&mut tx, "enrollment.created", data).await?;
    }
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedEnrollments {
            created,
            skipped_user_ids,
        }),
    ))
}

/// `DELETE /api/v1/enrollments/{id}`
pub async fn delete_enrollment(
    TenantScope { me, db }: TenantScope,
    meta: RequestMeta,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    let mut tx = db.begin().await?;
    let row: Option<(i64, i64)> =
        sqlx::query_as("SELECT course_id, user_id FROM enrollments WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let (course_id, user_id) = row.ok_or(ApiError::NotFound)?;
    require_staff(&mut tx, &Viewer::new(&me), course_id).await?;
    sqlx::query("DELETE FROM enrollments WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::record_tenant(
        &mut tx,
        TenantActor::User(me.user_id),
        &meta,
        AuditEvent::new("enrollment.deleted")
            .on("enrollment", id)
            .with(json!({ "user_id": user_id, "course_id": course_id })),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
