//! The school calendar: academic years and their terms. Courses belong to an academic
//! year and sections to a term; tenant admins set the calendar up, everyone reads it.

use axum::http::StatusCode;
use axum::Json;
use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{self, AuditEvent, TenantActor};
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, TenantScope};
use crate::http::page::{Page, PageParams};
use crate::http::validate;
use crate::request::RequestMeta;

#[derive(Debug, Serialize, JsonSchema, sqlx::FromRow)]
pub struct AcademicYearView {
    pub id: i64,
    pub name: String,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    /// The year new courses default to; at most one per school.
    pub current: bool,
    #[sqlx(json)]
    pub terms: Vec<TermView>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema, sqlx::FromRow)]
pub struct TermView {
    pub id: i64,
    pub academic_year_id: i64,
    pub name: String,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
}

const YEAR_SELECT: &str = "
    SELECT y.id, y.name, y.start_date, y.end_date, y.current,
           coalesce((SELECT jsonb_agg(jsonb_build_object('id', t.id, 'academic_year_id', t.academic_year_id,
                                                         'name', t.name, 'start_date', t.start_date,
                                                         'end_date', t.end_date) ORDER BY t.start_date, t.id)
                       FROM terms t WHERE t.academic_year_id = y.id), '[]'::jsonb) AS terms
      FROM academic_years y";

/// `GET /api/v1/academic_years`: newest first, terms embedded.
pub async fn list(
    TenantScope { me: _, db }: TenantScope,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<AcademicYearView>>> {
    let limit = params.limit()?;
    let after: Option<(NaiveDate, i64)> = params.after()?;
    let mut tx = db.begin().await?;
    let rows: Vec<AcademicYearView> = sqlx::query_as(&format!(
        "{YEAR_SELECT} WHERE ($1::date IS NULL OR (y.start_date, y.id) < ($1, $2))
          ORDER BY y.start_date DESC, y.id DESC LIMIT $3"
    ))
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(limit + 1)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(Page::from_rows(rows, limit, |y| (y.start_date, y.id))))
}

fn check_dates(start: NaiveDate, end: NaiveDate) -> ApiResult<()> {
    if end <= start {
        return Err(ApiError::invalid("end_date", "must be after start_date"));
    }
    Ok(())
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAcademicYear {
    pub name: String,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    /// Make this the current year (the previous current year stops being current).
    #[serde(default)]
    pub current: bool,
}

/// `POST /api/v1/academic_years`
pub async fn create(
    TenantScope { me, db }: TenantScope,
    meta: RequestMeta,
    ApiJson(body): ApiJson<CreateAcademicYear>,
) -> ApiResult<(StatusCode, Json<AcademicYearView>)> {
    validate::text("name", &body.name, 1, 100)?;
    check_dates(body.start_date, body.end_date)?;
    let mut tx = db.begin().await?;
    if body.current {
        sqlx::query("UPDATE academic_years SET current = false WHERE current")
            .execute(&mut *tx)
            .await?;
    }
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO academic_years (tenant_id, name, start_date, end_date, current)
         VALUES (current_tenant_id(), $1, $2, $3, $4) RETURNING id",
    )
    .bind(body.name.trim())
    .bind(body.start_date)
    .bind(body.end_date)
    .bind(body.current)
    .fetch_one(&mut *tx)
    .await?;
    audit::record_tenant(
        &mut tx,
        TenantActor::User(me.user_id),
        &meta,
        AuditEvent::new("academic_year.created")
            .on("academic_year", id)
            .with(json!({ "name": body.name.trim(), "current": body.current })),
    )
    .await?;
    let year: AcademicYearView = sqlx::query_as(&format!("{YEAR_SELECT} WHERE y.id = $1"))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(year)))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTerm {
    pub name: String,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
}

/// `POST /api/v1/academic_years/{id}/terms`: a term inside the year's dates.
pub async fn create_term(
    TenantScope { me, db }: TenantScope,
    meta: RequestMeta,
    ApiPath(year_id): ApiPath<i64>,
    ApiJson(body): ApiJson<CreateTerm>,
) -> ApiResult<(StatusCode, Json<TermView>)> {
    validate::text("name", &body.name, 1, 100)?;
    check_dates(body.start_date, body.end_date)?;
    let mut tx = db.begin().await?;
    let year: Option<(NaiveDate, NaiveDate)> =
        sqlx::query_as("SELECT start_date, end_date FROM academic_years WHERE id = $1")
            .bind(year_id)
            .fetch_optional(&mut *tx)
            .await?;
    let (start, end) = year.ok_or(ApiError::NotFound)?;
    if body.start_date < start || body.end_date > end {
        return Err(ApiError::invalid(
            "start_date",
            "the term must fall within its academic year",
        ));
    }
    let term: TermView = sqlx::query_as(
        "INSERT INTO terms (tenant_id, academic_year_id, name, start_date, end_date)
         VALUES (current_tenant_id(), $1, $2, $3, $4)
         RETURNING id, academic_year_id, name, start_date, end_date",
    )
    .bind(year_id)
    .bind(body.name.trim())
    .bind(body.start_date)
    .bind(body.end_date)
    .fetch_one(&mut *tx)
    .await?;
    audit::record_tenant(
        &mut tx,
        TenantActor::User(me.user_id),
        &meta,
        AuditEvent::new("term.created")
            .on("term", term.id)
            .with(json!({ "academic_year_id": year_id })),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(term)))
}
