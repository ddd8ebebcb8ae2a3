//! School analytics (spec 05): two materialized views, `tenant_daily_stats` and
//! `course_engagement_stats`, refreshed concurrently every hour by the `refresh_analytics`
//! job. Materialized views cannot carry row-level security, so the service role has no
//! privilege on them: it reads them only through the SECURITY DEFINER functions of
//! `migrations/0007_analytics.sql`, which filter by the transaction's tenant exactly like
//! the tenant isolation policy. Every answer says when the views were last refreshed.

pub mod routes;

use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::courses::access::{require_staff, Viewer};
use crate::db::{Db, TenantTx};
use crate::error::ApiResult;
use crate::http::extract::{ApiPath, ApiQuery, TenantScope};
use crate::http::page::{Page, PageParams};
use crate::http::validate::IntParam;
use crate::jobs::{Job, JobContext, Queue};

/// Default and bounds of `?days=`.
pub const DEFAULT_DAYS: i64 = 30;
pub const MAX_DAYS: i64 = 365;

/// `?days=` of the daily statistics.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct DailyParams {
    /// Days back from today (UTC), 1 to 365 (default 30). The view keeps 90 days.
    #[serde(default)]
    #[schemars(with = "Option<i64>")]
    pub days: Option<IntParam>,
}

impl DailyParams {
    pub fn days(&self) -> ApiResult<i64> {
        IntParam::within(self.days.as_ref(), "days", DEFAULT_DAYS, 1..=MAX_DAYS)
    }
}

/// One UTC day of a school's activity.
#[derive(Debug, Serialize, JsonSchema, sqlx::FromRow)]
pub struct DailyStat {
    pub stat_date: NaiveDate,
    /// Distinct students who submitted that day.
    pub active_students: i64,
    pub submissions_count: i64,
    /// Of those submissions, how many are graded (or returned).
    pub graded_count: i64,
}

/// `GET /api/v1/admin/analytics/daily`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DailyAnalytics {
    /// When the views were last refreshed (hourly); figures are as of then.
    pub refreshed_at: Option<DateTime<Utc>>,
    pub days: i64,
    /// Days with submissions, oldest first (days without any are absent).
    pub data: Vec<DailyStat>,
}

/// Engagement in one course.
#[derive(Debug, Serialize, JsonSchema, sqlx::FromRow)]
pub struct CourseStat {
    pub course_id: i64,
    pub name: String,
    pub code: String,
    /// Students enrolled in any section.
    pub enrolled_students: i64,
    /// Students who submitted or attempted a quiz in the last 30 days.
    pub active_students: i64,
    /// Mean grade of graded submissions, in percent of the assignment's points; null
    /// when nothing is graded.
    pub average_grade: Option<f64>,
    /// Students who attempted any quiz of the course.
    pub quiz_participants: i64,
}

/// `GET /api/v1/admin/analytics/courses`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CoursesAnalytics {
    pub refreshed_at: Option<DateTime<Utc>>,
    pub data: Vec<CourseStat>,
    pub next_cursor: Option<String>,
}

/// `GET /api/v1/courses/{id}/analytics`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CourseAnalytics {
    pub refreshed_at: Option<DateTime<Utc>>,
    pub course_id: i64,
    /// Null until a refresh after the course's creation includes it.
    pub stats: Option<CourseStat>,
}

async fn refreshed_at(tx: &mut TenantTx) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let (at,): (Option<DateTime<Utc>>,) = sqlx::query_as("SELECT analytics_refreshed_at()")
        .fetch_one(&mut **tx)
        .await?;
    Ok(at)
}

const COURSES_SQL: &str = "SELECT course_id, name, code, enrolled_students, active_students,
        average_grade, quiz_participants FROM analytics_courses($1, $2, $3)";

/// `GET /api/v1/admin/analytics/daily`
pub async fn daily(
    TenantScope { me: _, db }: TenantScope,
    ApiQuery(params): ApiQuery<DailyParams>,
) -> ApiResult<Json<DailyAnalytics>> {
    let days = params.days()?;
    let mut tx = db.begin_read().await?;
    let data: Vec<DailyStat> = sqlx::query_as(
        "SELECT stat_date, active_students, submissions_count, graded_count
           FROM analytics_daily($1)",
    )
    .bind(days as i32)
    .fetch_all(&mut *tx)
    .await?;
    let refreshed_at = refreshed_at(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(DailyAnalytics {
        refreshed_at,
        days,
        data,
    }))
}

/// `GET /api/v1/admin/analytics/courses`
pub async fn courses(
    TenantScope { me: _, db }: TenantScope,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<CoursesAnalytics>> {
    let limit = page.limit()?;
    let after: i64 = page.after()?.unwrap_or(0);
    let mut tx = db.begin_read().await?;
    let rows: Vec<CourseStat> = sqlx::query_as(COURSES_SQL)
        .bind(after)
        .bind((limit + 1) as i32)
        .bind(None::<i64>)
        .fetch_all(&mut *tx)
        .await?;
    let refreshed_at = refreshed_at(&mut tx).await?;
    tx.commit().await?;
    let page = Page::from_rows(rows, limit, |c| c.course_id);
    Ok(Json(CoursesAnalytics {
        refreshed_at,
        data: page.data,
        next_cursor: page.next_cursor,
    }))
}

/// `GET /api/v1/courses/{id}/analytics`: the course's staff (its teachers and TAs, admins
/// and curriculum leads); a course the caller cannot see is a 404.
pub async fn course(
    TenantScope { me, db }: TenantScope,
    ApiPath(course_id): ApiPath<i64>,
) -> ApiResult<Json<CourseAnalytics>> {
    let mut tx = db.begin_read().await?;
    require_staff(&mut tx, &Viewer::new(&me), course_id).await?;
    let stats: Option<CourseStat> = sqlx::query_as(COURSES_SQL)
        .bind(0_i64)
        .bind(1_i32)
        .bind(course_id)
        .fetch_optional(&mut *tx)
        .await?;
    let refreshed_at = refreshed_at(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(CourseAnalytics {
        refreshed_at,
        course_id,
        stats,
    }))
}

/// Refreshes both views (concurrently: readers are never blocked) and records the time.
pub async fn refresh(db: &Db) -> Result<DateTime<Utc>, sqlx::Error> {
    let mut sys = db.system().await?;
    let (at,): (DateTime<Utc>,) = sqlx::query_as("SELECT refresh_analytics()")
        .fetch_one(&mut *sys)
        .await?;
    sys.commit().await?;
    Ok(at)
}

/// `refresh_analytics`: the hourly refresh of the analytics views (`refresh-analytics`
/// in the catalog). Idempotent; at most one is pending at a time.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshAnalytics {}

impl Job for RefreshAnalytics {
    const KIND: &'static str = "refresh_analytics";
    const QUEUE: Queue = Queue::Low;
    const MAX_ATTEMPTS: i32 = 3;

    fn unique_key(&self) -> Option<String> {
        Some(Self::KIND.to_string())
    }

    async fn run(&self, ctx: &JobContext) -> anyhow::Result<()> {
        let at = refresh(&ctx.db).await?;
        tracing::info!(refreshed_at = %at, "analytics views refreshed");
        Ok(())
    }
}
