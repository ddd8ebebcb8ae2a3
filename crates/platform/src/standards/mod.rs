//! Standard frameworks (e.g. a state's mathematics standards) and their standards, a tree
//! per framework; and the standards an assignment addresses.
//!
//! Frameworks and standards are tenant-wide: everyone with `standards:read` reads them,
//! `standards:manage` (curriculum leads, admins) writes them. The standards of an
//! assignment are read by anyone who may see the assignment and changed by the staff of
//! its course.

pub mod routes;

use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::assignments;
use crate::courses::access::{require_staff, Viewer};
use crate::db::TenantTx;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, TenantScope};
use crate::http::page::{Page, PageParams};
use crate::http::validate;

/// A standard framework.
#[derive(Debug, Serialize, JsonSchema, sqlx::FromRow)]
pub struct FrameworkView {
    pub id: i64,
    pub name: String,
    pub jurisdiction: String,
    pub subject: String,
    pub version: String,
    /// `active` or `archived`.
    pub status: String,
    pub standards_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const FRAMEWORK_SELECT: &str = "
    SELECT f.id, f.name, f.jurisdiction, f.subject, f.version, f.status,
           (SELECT count(*) FROM standards s WHERE s.standard_framework_id = f.id) AS standards_count,
           f.created_at, f.updated_at
      FROM standard_frameworks f";

async fn find_framework(tx: &mut TenantTx, id: i64) -> ApiResult<FrameworkView> {
    sqlx::query_as(&format!("{FRAMEWORK_SELECT} WHERE f.id = $1"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(ApiError::NotFound)
}

/// `GET /api/v1/standard_frameworks`: oldest first.
pub async fn list_frameworks(
    TenantScope { me: _, db }: TenantScope,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<FrameworkView>>> {
    let limit = page.limit()?;
    let after: i64 = page.after()?.unwrap_or(0);
    let mut tx = db.begin().await?;
    let rows: Vec<FrameworkView> = sqlx::query_as(&format!(
        "{FRAMEWORK_SELECT} WHERE f.id > $1 ORDER BY f.id LIMIT $2"
    ))
    .bind(after)
    .bind(limit + 1)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(Page::from_rows(rows, limit, |f| f.id)))
}

/// `GET /api/v1/standard_frameworks/{id}`
pub async fn show_framework(
    TenantScope { me: _, db }: TenantScope,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<FrameworkView>> {
    let mut tx = db.begin().await?;
    let framework = find_framework(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(framework))
}

/// Body of `POST /api/v1/standard_frameworks`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFramework {
    /// 1 to 200 characters, e.g. "Common Core State Standards for Mathematics".
    pub name: String,
    /// Up to 100 characters, e.g. "US" or "Ontario".
    #[serde(default)]
    pub jurisdiction: String,
    /// Up to 100 characters.
    #[serde(default)]
    pub subject: String,
    /// Up to 50 characters, e.g. "2010".
    #[serde(default)]
    pub version: String,
}

/// `POST /api/v1/standard_frameworks`
pub async fn create_framework(
    TenantScope { me: _, db }: TenantScope,
    ApiJson(body): ApiJson<CreateFramework>,
) -> ApiResult<(StatusCode, Json<FrameworkView>)> {
    validate::text("name", &body.name, 1, 200)?;
    validate::text("jurisdiction", &body.jurisdiction, 0, 100)?;
    validate::text("subject", &body.subject, 0, 100)?;
    validate::text("version", &body.version, 0, 50)?;
    let mut tx = db.begin().await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO standard_frameworks (tenant_id, name, jurisdiction, subject, version)
         VALUES (current_tenant_id(), $1, $2, $3, $4) RETURNING id",
    )
    .bind(body.name.trim())
    .bind(body.jurisdiction.trim())
    .bind(body.subject.trim())
    .bind(body.version.trim())
    .fetch_one(&mut *tx)
    .await?;
    let framework = find_framework(&mut tx, id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(framework)))
}

/// A standard, with how many standards sit directly under it.
#[derive(Debug, Serialize, JsonSchema, sqlx::FromRow)]
pub struct StandardView {
    pub id: i64,
    pub standard_framework_id: i64,
    /// The standard this one refines; null for a root.
    pub parent_id: Option<i64>,
    /// Unique within the framework, e.g. "CCSS.MATH.CONTENT.7.RP.A.1".
    pub code: String,
    pub description: String,
    pub grade_band: String,
    pub children_count: i64,
    pub created_at: DateTime<Utc>,
}

const STANDARD_SELECT: &str = "
    SELECT s.id, s.standard_framework_id, s.parent_id, s.code, s.description, s.grade_band,
           (SELECT count(*) FROM standards c WHERE c.parent_id = s.id) AS children_count,
           s.created_at
      FROM standards s";

async fn find_standard(tx: &mut TenantTx, id: i64) -> ApiResult<StandardView> {
    sqlx::query_as(&format!("{STANDARD_SELECT} WHERE s.id = $1"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(ApiError::NotFound)
}

/// 404 unless the framework exists; 422 unless `parent_id` (when given) is a standard
/// of that framework.
async fn check_parent(
    tx: &mut TenantTx,
    framework_id: i64,
    parent_id: Option<i64>,
) -> ApiResult<()> {
    let (framework, parent_ok): (Option<i64>, bool) = sqlx::query_as(
        "SELECT (SELECT id FROM standard_frameworks WHERE id = $1),
                $2::bigint IS NULL
                OR EXISTS (SELECT 1 FROM standards WHERE id = $2 AND standard_framework_id = $1)",
    )
    .bind(framework_id)
    .bind(parent_id)
    .fetch_one(&mut **tx)
    .await?;
    framework.ok_or(ApiError::NotFound)?;
    if !parent_ok {
        return Err(ApiError::invalid(
            "parent_id",
            "is not a standard of this framework",
        ));
    }
    Ok(())
}

/// Query parameters of a framework's standards.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct StandardListParams {
    #[serde(flatten)]
    pub page: PageParams,
    /// The children of this standard; the framework's roots when absent.
    pub parent_id: Option<i64>,
}

/// `GET /api/v1/standard_frameworks/{id}/standards`: one level of the tree, by code. Walk
/// down with `?parent_id=` where `children_count` is not 0.
pub async fn list_standards(
    TenantScope { me: _, db }: TenantScope,
    ApiPath(framework_id): ApiPath<i64>,
    ApiQuery(params): ApiQuery<StandardListParams>,
) -> ApiResult<Json<Page<StandardView>>> {
    let page = &params.page;
    let limit = page.limit()?;
    let after: Option<(String, i64)> = page.after()?;
    let mut tx = db.begin().await?;
    check_parent(&mut tx, framework_id, params.parent_id).await?;
    let (after_code, after_id) = after.unzip();
    // Two spellings rather than `IS NOT DISTINCT FROM`, which no index serves.
    let level = if params.parent_id.is_some() {
        "s.parent_id = $2"
    } else {
        "s.parent_id IS NULL AND $2::bigint IS NULL"
    };
    let rows: Vec<StandardView> = sqlx::query_as(&format!(
        "{STANDARD_SELECT}
          WHERE s.standard_framework_id = $1 AND {level}
            AND ($3::text IS NULL OR (s.code, s.id) > ($3, $4))
          ORDER BY s.code, s.id LIMIT $5"
    ))
    .bind(framework_id)
    .bind(params.parent_id)
    .bind(after_code)
    .bind(after_id)
    .bind(limit + 1)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(Page::from_rows(rows, limit, |s| {
        (s.code.clone(), s.id)
    })))
}

/// Body of `POST /api/v1/standard_frameworks/{id}/standards`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateStandard {
    /// 1 to 100 characters, unique within the framework.
    pub code: String,
    /// Up to 5000 characters.
    #[serde(default)]
    pub description: String,
    /// Up to 20 characters, e.g. "6-8".
    #[serde(default)]
    pub grade_band: String,
    /// A standard of the same framework to nest under; a root when absent.
    pub parent_id: Option<i64>,
}

/// `POST /api/v1/standard_frameworks/{id}/standards`
pub async fn create_standard(
    TenantScope { me: _, db }: TenantScope,
    ApiPath(framework_id): ApiPath<i64>,
    ApiJson(body): ApiJson<CreateStandard>,
) -> ApiResult<(StatusCode, Json<StandardView>)> {
    validate::text("code", &body.code, 1, 100)?;
    validate::text("description", &body.description, 0, 5000)?;
    validate::text("grade_band", &body.grade_band, 0, 20)?;
    let mut tx = db.begin().await?;
    check_parent(&mut tx, framework_id, body.parent_id).await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO standards (tenant_id, standard_framework_id, parent_id, code, description, grade_band)
         VALUES (current_tenant_id(), $1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(framework_id)
    .bind(body.parent_id)
    .bind(body.code.trim())
    .bind(&body.description)
    .bind(body.grade_band.trim())
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match ApiError::from(e) {
        ApiError::Conflict { .. } => ApiError::conflict(
            "already_exists",
            "this framework already has a standard with this code",
        ),
        other => other,
    })?;
    let standard = find_standard(&mut tx, id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(standard)))
}

/// A standard an assignment addresses, with its framework's name.
#[derive(Debug, Serialize, JsonSchema, sqlx::FromRow)]
pub struct AssignmentStandardView {
    pub assignment_id: i64,
    pub standard_id: i64,
    pub standard_framework_id: i64,
    pub framework_name: String,
    pub parent_id: Option<i64>,
    pub code: String,
    pub description: String,
    pub grade_band: String,
    /// When the standard was linked.
    pub linked_at: DateTime<Utc>,
}

const LINK_SELECT: &str = "
    SELECT l.assignment_id, s.id AS standard_id, s.standard_framework_id, f.name AS framework_name,
           s.parent_id, s.code, s.description, s.grade_band, l.created_at AS linked_at
      FROM assignment_standards l
      JOIN standards s ON s.id = l.standard_id
      JOIN standard_frameworks f ON f.id = s.standard_framework_id";

/// `GET /api/v1/assignments/{id}/standards`: by standard id. Anyone who may see the
/// assignment (learners and guardians: published assignments only).
pub async fn list_assignment_standards(
    TenantScope { me, db }: TenantScope,
    ApiPath(assignment_id): ApiPath<i64>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<AssignmentStandardView>>> {
    let limit = page.limit()?;
    let after: i64 = page.after()?.unwrap_or(0);
    let mut tx = db.begin().await?;
    assignments::visible(&mut tx, &Viewer::new(&me), assignment_id).await?;
    let rows: Vec<AssignmentStandardView> = sqlx::query_as(&format!(
        "{LINK_SELECT} WHERE l.assignment_id = $1 AND l.standard_id > $2
          ORDER BY l.standard_id LIMIT $3"
    ))
    .bind(assignment_id)
    .bind(after)
    .bind(limit + 1)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(Page::from_rows(rows, limit, |l| l.standard_id)))
}

/// 404 unless the assignment exists and its course is visible; 403 unless the caller is
/// the course's staff.
async fn require_assignment_staff(
    tx: &mut TenantTx,
    viewer: &Viewer,
    assignment_id: i64,
) -> ApiResult<()> {
    let course_id = assignments::course_of(tx, assignment_id).await?;
    require_staff(tx, viewer, course_id).await
}

/// Body of `POST /api/v1/assignments/{id}/standards`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkStandard {
    /// A standard of any of the school's frameworks.
    pub standard_id: i64,
}

/// `POST /api/v1/assignments/{id}/standards`: links a standard (409 if already linked).
pub async fn link_standard(
    TenantScope { me, db }: TenantScope,
    ApiPath(assignment_id): ApiPath<i64>,
    ApiJson(body): ApiJson<LinkStandard>,
) -> ApiResult<(StatusCode, Json<AssignmentStandardView>)> {
    let mut tx = db.begin().await?;
    require_assignment_staff(&mut tx, &Viewer::new(&me), assignment_id).await?;
    sqlx::query(
        "INSERT INTO assignment_standards (tenant_id, assignment_id, standard_id)
         VALUES (current_tenant_id(), $1, $2)",
    )
    .bind(assignment_id)
    .bind(body.standard_id)
    .execute(&mut *tx)
    .await
    .map_err(|e| match ApiError::from(e) {
        ApiError::Conflict { .. } => ApiError::conflict(
            "already_exists",
            "this standard is already linked to the assignment",
        ),
        ApiError::Unprocessable { .. } => {
            ApiError::invalid("standard_id", "is not a standard of this school")
        }
        other => other,
    })?;
    let link: AssignmentStandardView = sqlx::query_as(&format!(
        "{LINK_SELECT} WHERE l.assignment_id = $1 AND l.standard_id = $2"
    ))
    .bind(assignment_id)
    .bind(body.standard_id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(link)))
}

/// `DELETE /api/v1/assignments/{id}/standards/{standard_id}`: 404 if not linked.
pub async fn unlink_standard(
    TenantScope { me, db }: TenantScope,
    ApiPath((assignment_id, standard_id)): ApiPath<(i64, i64)>,
) -> ApiResult<StatusCode> {
    let mut tx = db.begin().await?;
    require_assignment_staff(&mut tx, &Viewer::new(&me), assignment_id).await?;
    let done = sqlx::query(
        "DELETE FROM assignment_standards WHERE assignment_id = $1 AND standard_id = $2",
    )
    .bind(assignment_id)
    .bind(standard_id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::NotFound);
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
