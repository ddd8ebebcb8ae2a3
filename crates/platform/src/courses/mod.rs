//! Courses, sections and enrollments, and the visibility policy every teaching feature
//! builds on ([`access`]).

pub mod access;
pub mod enrollments;
pub mod routes;

use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::audit::{self, AuditEvent, TenantActor};
use crate::db::TenantTx;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, TenantScope};
use crate::http::page::{Page, PageParams};
use crate::http::validate;
use crate::request::RequestMeta;
use access::{course_role, require_staff, Viewer, VISIBLE_COURSE_IDS_SQL};

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct AcademicYearRef {
    pub id: i64,
    pub name: String,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub current: bool,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct SectionSummary {
    pub id: i64,
    pub name: String,
    pub term_id: Option<i64>,
    pub enrollments_count: i32,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct CourseCounters {
    pub assignments_count: i32,
    pub discussions_count: i32,
    pub quizzes_count: i32,
    pub enrollments_count: i32,
}

/// A course with its academic year, sections and counters embedded.
#[derive(Debug, Serialize, JsonSchema, sqlx::FromRow)]
pub struct CourseView {
    pub id: i64,
    pub name: String,
    pub code: String,
    pub description: String,
    pub settings: Value,
    pub archived_at: Option<DateTime<Utc>>,
    #[sqlx(json)]
    pub academic_year: Option<AcademicYearRef>,
    #[sqlx(json)]
    pub sections: Vec<SectionSummary>,
    #[sqlx(json)]
    pub counters: CourseCounters,
    pub created_by_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COURSE_VIEW_SELECT: &str = "
    SELECT c.id, c.name, c.code, c.description, c.settings, c.archived_at, c.created_by_id,
           c.created_at, c.updated_at,
           CASE WHEN y.id IS NULL THEN 'null'::jsonb
                ELSE jsonb_build_object('id', y.id, 'name', y.name, 'start_date', y.start_date,
                                        'end_date', y.end_date, 'current', y.current) END AS academic_year,
           coalesce((SELECT jsonb_agg(jsonb_build_object('id', s.id, 'name', s.name, 'term_id', s.term_id,
                                                         'enrollments_count', s.enrollments_count) ORDER BY s.id)
                       FROM sections s WHERE s.course_id = c.id), '[]'::jsonb) AS sections,
           jsonb_build_object('assignments_count', c.assignments_count,
                              'discussions_count', c.discussions_count,
                              'quizzes_count', c.quizzes_count,
                              'enrollments_count', c.enrollments_count) AS counters
      FROM courses c
      LEFT JOIN academic_years y ON y.id = c.academic_year_id";

/// One course view by id (`$1`).
pub fn find_sql() -> String {
    format!("{COURSE_VIEW_SELECT} WHERE c.id = $1")
}

pub async fn find(tx: &mut TenantTx, id: i64) -> Result<Option<CourseView>, sqlx::Error> {
    sqlx::query_as(&find_sql())
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
}

/// Query parameters of the course list.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CourseListParams {
    #[serde(flatten)]
    pub page: PageParams,
    /// Include archived courses (staff only; students never see them).
    pub include_archived: Option<bool>,
    /// Only courses of this academic year.
    pub academic_year_id: Option<i64>,
}

/// The course list query: `$1` viewer id, `$2` include archived, `$3` academic year,
/// `$4`/`$5` cursor (name, id), `$6` limit + 1.
pub fn list_sql(sees_all_courses: bool) -> String {
    let visibility = if sees_all_courses {
        "$1::bigint IS NOT NULL".to_string()
    } else {
        format!("c.id IN ({VISIBLE_COURSE_IDS_SQL})")
    };
    format!(
        "{COURSE_VIEW_SELECT}
          WHERE {visibility}
            AND ($2::boolean OR c.archived_at IS NULL)
            AND ($3::bigint IS NULL OR c.academic_year_id = $3)
            AND ($4::text IS NULL OR (c.name, c.id) > ($4, $5))
          ORDER BY c.name, c.id LIMIT $6"
    )
}

/// `GET /api/v1/courses`: the courses the caller may see, by name.
pub async fn list(
    TenantScope { me, db }: TenantScope,
    ApiQuery(params): ApiQuery<CourseListParams>,
) -> ApiResult<Json<Page<CourseView>>> {
    let page = &params.page;
    let limit = page.limit()?;
    let after: Option<(String, i64)> = page.after()?;
    let viewer = Viewer::new(&me);
    let mut tx = db.begin().await?;
    let rows: Vec<CourseView> = sqlx::query_as(&list_sql(viewer.sees_all_courses))
        .bind(viewer.user_id)
        .bind(params.include_archived.unwrap_or(false))
        .bind(params.academic_year_id)
        .bind(after.as_ref().map(|a| a.0.clone()))
        .bind(after.as_ref().map(|a| a.1))
        .bind(limit + 1)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Json(Page::from_rows(rows, limit, |c| {
        (c.name.clone(), c.id)
    })))
}

/// `GET /api/v1/courses/{id}`
pub async fn show(
    TenantScope { me, db }: TenantScope,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<CourseView>> {
    let mut tx = db.begin().await?;
    course_role(&mut tx, &Viewer::new(&me), id).await?;
    let course = find(&mut tx, id).await?.ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    Ok(Json(course))
}

/// Body of `POST /api/v1/courses`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCourse {
    pub name: String,
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub description: String,
    pub academic_year_id: Option<i64>,
    #[serde(default)]
    pub settings: Option<Value>,
    /// Section names to create (default: one section, "Section 1").
    pub sections: Option<Vec<String>>,
}

/// `POST /api/v1/courses`: a teacher who creates a course teaches its first section.
pub async fn create(
    TenantScope { me, db }: TenantScope,
    ApiJson(body): ApiJson<CreateCourse>,
) -> ApiResult<(StatusCode, Json<CourseView>)> {
    validate::text("name", &body.name, 1, 200)?;
    validate::text("code", &body.code, 0, 50)?;
    validate::text("description", &body.description, 0, 20000)?;
    let settings = body.settings.unwrap_or_else(|| json!({}));
    if !settings.is_object() {
        return Err(ApiError::invalid("settings", "must be an object"));
    }
    let sections = body
        .sections
        .unwrap_or_else(|| vec!["Section 1".to_string()]);
    if sections.is_empty() || sections.len() > 50 {
        return Err(ApiError::invalid(
            "sections",
            "must list 1 to 50 section names",
        ));
    }
    for s in &sections {
        validate::text("sections", s, 1, 200)?;
    }
    let viewer = Viewer::new(&me);
    let mut tx = db.begin().await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO courses (tenant_id, academic_year_id, created_by_id, name, code, description, settings)
         VALUES (current_tenant_id(), $1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(body.academic_year_id)
    .bind(me.user_id)
    .bind(body.name.trim())
    .bind(body.code.trim())
    .bind(&body.description)
    .bind(&settings)
    .fetch_one(&mut *tx)
    .await?;
    let names: Vec<&str> = sections.iter().map(|s| s.trim()).collect();
    sqlx::query(
        "INSERT INTO sections (tenant_id, course_id, name)
         SELECT current_tenant_id(), $1, n FROM unnest($2::text[]) WITH ORDINALITY AS x(n, i) ORDER BY i",
    )
    .bind(id)
    .bind(&names)
    .execute(&mut *tx)
    .await?;
    if !viewer.sees_all_courses {
        sqlx::query(
            "INSERT INTO enrollments (tenant_id, user_id, section_id, course_id, role)
             SELECT current_tenant_id(), $2, min(id), $1, 'teacher' FROM sections WHERE course_id = $1",
        )
        .bind(id)
        .bind(me.user_id)
        .execute(&mut *tx)
        .await?;
    }
    let course = find(&mut tx, id).await?.ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(course)))
}

/// Body of `PUT /api/v1/courses/{id}`: only the fields present change.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCourse {
    pub name: Option<String>,
    pub code: Option<String>,
    pub description: Option<String>,
    pub academic_year_id: Option<i64>,
    pub settings: Option<Value>,
}

/// `PUT /api/v1/courses/{id}`
pub async fn update(
    TenantScope { me, db }: TenantScope,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<UpdateCourse>,
) -> ApiResult<Json<CourseView>> {
    if let Some(n) = &body.name {
        validate::text("name", n, 1, 200)?;
    }
    if let Some(c) = &body.code {
        validate::text("code", c, 0, 50)?;
    }
    if let Some(d) = &body.description {
        validate::text("description", d, 0, 20000)?;
    }
    if body.settings.as_ref().is_some_and(|s| !s.is_object()) {
        return Err(ApiError::invalid("settings", "must be an object"));
    }
    let mut tx = db.begin().await?;
    require_staff(&mut tx, &Viewer::new(&me), id).await?;
    sqlx::query(
        "UPDATE courses SET name = coalesce($2, name), code = coalesce($3, code),
                description = coalesce($4, description),
                academic_year_id = coalesce($5, academic_year_id), settings = coalesce($6, settings)
          WHERE id = $1",
    )
    .bind(id)
    .bind(body.name.as_deref().map(str::trim))
    .bind(body.code.as_deref().map(str::trim))
    .bind(&body.description)
    .bind(body.academic_year_id)
    .bind(&body.settings)
    .execute(&mut *tx)
    .await?;
    let course = find(&mut tx, id).await?.ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    Ok(Json(course))
}

/// `POST /api/v1/courses/{id}/archive`: hides the course from students and guardians.
pub async fn archive(
    TenantScope { me, db }: TenantScope,
    meta: RequestMeta,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<CourseView>> {
    let mut tx = db.begin().await?;
    require_staff(&mut tx, &Viewer::new(&me), id).await?;
    sqlx::query("UPDATE courses SET archived_at = coalesce(archived_at, now()) WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::record_tenant(
        &mut tx,
        TenantActor::User(me.user_id),
        &meta,
        AuditEvent::new("course.archived").on("course", id),
    )
    .await?;
    let course = find(&mut tx, id).await?.ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    Ok(Json(course))
}

/// `DELETE /api/v1/courses/{id}`: refused while the course has submissions and is not
/// archived (archive first, so nobody loses graded work by accident).
pub async fn delete(
    TenantScope { me, db }: TenantScope,
    meta: RequestMeta,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    let mut tx = db.begin().await?;
    require_staff(&mut tx, &Viewer::new(&me), id).await?;
    let (archived, has_submissions): (bool, bool) = sqlx::query_as(
        "SELECT c.archived_at IS NOT NULL,
                EXISTS (SELECT 1 FROM assignments a JOIN submissions s ON s.assignment_id = a.id
                         WHERE a.course_id = c.id)
           FROM courses c WHERE c.id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    if has_submissions && !archived {
        return Err(ApiError::conflict(
            "archive_first",
            "this course has submissions; archive it before deleting it",
        ));
    }
    sqlx::query("DELETE FROM courses WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::record_tenant(
        &mut tx,
        TenantActor::User(me.user_id),
        &meta,
        AuditEvent::new("course.deleted")
            .on("course", id)
            .with(json!({ "had_submissions": has_submissions })),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
