//! Provisioning (spec 08): a new school in one request. [`provision`] validates every
//! field together (one 422 naming each bad field), then creates, in ONE transaction, the
//! tenant with its settings, the school and the five default roles
//! ([`tenancy::create_school`], the one way a school comes into being), the administrator
//! with a setup token, the current academic year and the placeholder standard frameworks.
//! Any failure rolls all of it back; the database's unique slug settles a race between
//! two requests for one subdomain.
//!
//! Operators provision into any district (or none), district admins into their own
//! district only; the onboarding checklist ([`onboarding`]) and the branding
//! ([`branding`]) live here too.

pub mod branding;
pub mod onboarding;
pub mod routes;

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{Datelike, NaiveDate, Utc};
use egress::GuardedResolver;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::audit::{self, AuditEvent, TenantActor};
use crate::auth::permission::DEFAULT_ROLES;
use crate::auth::session::{CurrentOperator, CurrentUser};
use crate::db::{Db, SystemTx};
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::page::{Page, PageParams};
use crate::http::AppState;
use crate::identity::users::{self, NewUser};
use crate::identity::Email;
use crate::request::RequestMeta;
use crate::tenancy::{self, NewSchool, Slug};

/// Subdomains no school may take: they name the platform's own hosts and paths.
pub const RESERVED_SUBDOMAINS: &[&str] = &[
    "admin",
    "api",
    "app",
    "assets",
    "auth",
    "cdn",
    "dashboard",
    "dev",
    "district",
    "docs",
    "ftp",
    "help",
    "k12",
    "localhost",
    "login",
    "mail",
    "operator",
    "root",
    "smtp",
    "staging",
    "static",
    "status",
    "support",
    "system",
    "test",
    "www",
];

/// The placeholder standard frameworks every new school starts with (no standards yet:
/// the checklist's `standards_imported` stays open until some are imported).
pub const PLACEHOLDER_FRAMEWORKS: &[(&str, &str)] = &[
    ("Common Core State Standards", "ELA and Mathematics"),
    ("Next Generation Science Standards", "Science"),
    ("C3 Framework", "Social Studies"),
];

pub const DEFAULT_TIMEZONE: &str = "America/New_York";
pub const DEFAULT_PRIMARY_COLOR: &str = "#1e40af";
pub const SAFETY_LEVELS: &[&str] = &["strict", "moderate", "standard"];
/// The most schools one bulk request may carry.
pub const MAX_BULK: usize = 200;

/// One school to provision. Every field is optional in the schema so that all missing
/// and invalid fields are reported together in one 422.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProvisionSchool {
    /// Required, 1-200 characters.
    pub school_name: Option<String>,
    /// Required: the tenant slug, 3-63 lowercase letters, digits and single hyphens, not
    /// reserved (`www`, `api`, `admin`, ...), not taken.
    pub subdomain: Option<String>,
    /// Required: the first administrator, who receives a setup token.
    pub admin_email: Option<String>,
    /// Required, 1-100 characters.
    pub admin_first_name: Option<String>,
    /// Required, 1-100 characters.
    pub admin_last_name: Option<String>,
    /// IANA time zone (default `America/New_York`).
    pub timezone: Option<String>,
    /// An https logo URL, checked by the URL guard.
    pub logo_url: Option<String>,
    /// `#rrggbb` (default `#1e40af`).
    pub primary_color: Option<String>,
    #[serde(default)]
    pub ai_enabled: Option<bool>,
    #[serde(default)]
    pub google_enabled: Option<bool>,
    /// `strict` (default), `moderate` or `standard`.
    pub safety_level: Option<String>,
    /// 1-12 (default 8): the month the academic year starts.
    pub academic_year_start_month: Option<i64>,
    /// The district the school belongs to (operators; a district admin's schools always
    /// join the admin's own district).
    pub district_id: Option<i64>,
}

/// A provisioned school.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Provisioned {
    pub tenant_id: i64,
    pub school_id: i64,
    pub slug: String,
    pub district_id: Option<i64>,
    pub roles: Vec<String>,
    pub admin: ProvisionedAdmin,
    pub academic_year: ProvisionedYear,
    /// Single use, valid 48 hours: the administrator sets a password with it.
    pub setup_token: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ProvisionedAdmin {
    pub id: i64,
    pub email: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ProvisionedYear {
    pub id: i64,
    pub name: String,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
}

/// Who provisions: recorded in the new tenant's audit log.
#[derive(Clone, Copy, Debug)]
pub enum Provisioner {
    Operator(i64),
    /// A district admin (a user of another tenant of `district_id`).
    DistrictAdmin {
        district_id: i64,
        user_id: i64,
    },
    /// `k12 provision` on the server.
    Cli,
}

/// The input after validation.
struct Valid {
    name: String,
    slug: Slug,
    email: Email,
    first_name: String,
    last_name: String,
    timezone: String,
    logo_url: Option<String>,
    primary_color: String,
    ai_enabled: bool,
    google_enabled: bool,
    safety_level: String,
    start_month: u32,
    district_id: Option<i64>,
}

/// `#rrggbb`, lowercase or uppercase hex.
pub fn valid_color(s: &str) -> bool {
    s.len() == 7 && s.starts_with('#') && s[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// The current academic year for `today` and a start month: named `YYYY-YYYY+1`, from the
/// 1st of the start month of this year (of last year while that month is still ahead)
/// to the day before the next start.
pub fn academic_year(today: NaiveDate, start_month: u32) -> (String, NaiveDate, NaiveDate) {
    let year = if today.month() >= start_month {
        today.year()
    } else {
        today.year() - 1
    };
    let start = NaiveDate::from_ymd_opt(year, start_month, 1).expect("month 1-12");
    let next = NaiveDate::from_ymd_opt(year + 1, start_month, 1).expect("month 1-12");
    let end = next.pred_opt().expect("a day before");
    (format!("{}-{}", year, year + 1), start, end)
}

fn required<'a>(
    errors: &mut BTreeMap<String, String>,
    field: &str,
    value: &'a Option<String>,
    max: usize,
) -> Option<&'a str> {
    match value.as_deref().map(str::trim) {
        None | Some("") => {
            errors.insert(field.into(), "is required".into());
            None
        }
        Some(v) if v.chars().count() > max || v.contains('\0') => {
            errors.insert(
                field.into(),
                format!("must be at most {max} characters, without NUL"),
            );
            None
        }
        Some(v) => Some(v),
    }
}

/// Checks every field without the database; a missing or bad field adds to `errors`.
fn validate_fields(
    input: &ProvisionSchool,
    errors: &mut BTreeMap<String, String>,
) -> Option<Valid> {
    let name = required(errors, "school_name", &input.school_name, 200);
    let slug = required(errors, "subdomain", &input.subdomain, 63).and_then(|s| {
        if s.len() < 3 {
            errors.insert("subdomain".into(), "must be 3 to 63 characters".into());
            return None;
        }
        match Slug::parse(s) {
            Err(e) => {
                errors.insert("subdomain".into(), e);
                None
            }
            Ok(_) if RESERVED_SUBDOMAINS.contains(&s) => {
                errors.insert("subdomain".into(), "is reserved".into());
                None
            }
            Ok(slug) => Some(slug),
        }
    });
    let email = required(errors, "admin_email", &input.admin_email, 254).and_then(|e| {
        match Email::parse(e) {
            Ok(email) => Some(email),
            Err(message) => {
                errors.insert("admin_email".into(), message);
                None
            }
        }
    });
    let first = required(errors, "admin_first_name", &input.admin_first_name, 100);
    let last = required(errors, "admin_last_name", &input.admin_last_name, 100);
    let timezone = input.timezone.as_deref().unwrap_or(DEFAULT_TIMEZONE);
    if timezone.parse::<chrono_tz::Tz>().is_err() {
        errors.insert("timezone".into(), "is not an IANA time zone".into());
    }
    let color = input
        .primary_color
        .as_deref()
        .unwrap_or(DEFAULT_PRIMARY_COLOR);
    if !valid_color(color) {
        errors.insert("primary_color".into(), "must be #rrggbb".into());
    }
    let safety = input.safety_level.as_deref().unwrap_or("strict");
    if !SAFETY_LEVELS.contains(&safety) {
        errors.insert(
            "safety_level".into(),
            "must be strict, moderate or standard".into(),
        );
    }
    let month = input.academic_year_start_month.unwrap_or(8);
    if !(1..=12).contains(&month) {
        errors.insert(
            "academic_year_start_month".into(),
            "must be between 1 and 12".into(),
        );
    }
    let logo_url = match input.logo_url.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(u) => Some(u.to_string()),
    };
    Some(Valid {
        name: name?.to_string(),
        slug: slug?,
        email: email?,
        first_name: first?.to_string(),
        last_name: last?.to_string(),
        timezone: timezone.to_string(),
        logo_url,
        primary_color: color.to_ascii_lowercase(),
        ai_enabled: input.ai_enabled.unwrap_or(false),
        google_enabled: input.google_enabled.unwrap_or(false),
        safety_level: safety.to_string(),
        start_month: u32::try_from(month).ok()?,
        district_id: input.district_id,
    })
}

/// Judges a user-supplied URL with the URL guard (DNS included); the refusal's rule name
/// on failure.
pub async fn guard_url(resolver: &GuardedResolver, url: &str) -> Result<(), String> {
    if url.len() > 2048 {
        return Err("must be at most 2048 characters".into());
    }
    let verdict = resolver.check(url).await;
    match verdict.reason {
        Some(reason) if !verdict.allowed => {
            Err(format!("the URL is not allowed ({})", reason.as_str()))
        }
        _ => Ok(()),
    }
}

fn unprocessable(errors: BTreeMap<String, String>) -> ApiError {
    let fields: Vec<&str> = errors.keys().map(String::as_str).collect();
    ApiError::Unprocessable {
        message: format!("invalid fields: {}", fields.join(", ")),
        details: json!(errors),
    }
}

/// Provisions one school in one transaction (see the module documentation).
pub async fn provision(
    db: &Db,
    resolver: &GuardedResolver,
    input: &ProvisionSchool,
    by: Provisioner,
    meta: &RequestMeta,
) -> ApiResult<Provisioned> {
    let mut errors = BTreeMap::new();
    if let Provisioner::DistrictAdmin { district_id, .. } = by {
        if input.district_id.is_some_and(|d| d != district_id) {
            errors.insert(
                "district_id".into(),
                "a district admin provisions into their own district only".into(),
            );
        }
    }
    let valid = validate_fields(input, &mut errors);
    if let Some(url) = input.logo_url.as_deref().filter(|u| !u.trim().is_empty()) {
        if let Err(message) = guard_url(resolver, url.trim()).await {
            errors.insert("logo_url".into(), message);
        }
    }
    let district_id = match by {
        Provisioner::DistrictAdmin { district_id, .. } => Some(district_id),
        _ => input.district_id,
    };
    let mut sys = db.system().await?;
    if let Some(slug) = input.subdomain.as_deref().map(str::trim) {
        let (taken,): (bool,) =
            sqlx::query_as("SELECT EXISTS (SELECT 1 FROM tenants WHERE slug = $1)")
                .bind(slug)
                .fetch_one(&mut *sys)
                .await?;
        if taken {
            errors.insert("subdomain".into(), "is already taken".into());
        }
    }
    if let Some(d) = district_id {
        let (exists,): (bool,) =
            sqlx::query_as("SELECT EXISTS (SELECT 1 FROM districts WHERE id = $1)")
                .bind(d)
                .fetch_one(&mut *sys)
                .await?;
        if !exists {
            errors.insert("district_id".into(), "no such district".into());
        }
    }
    let valid = match valid {
        Some(v) if errors.is_empty() => Valid { district_id, ..v },
        _ => return Err(unprocessable(errors)),
    };
    create(sys, &valid, by, meta).await
}

async fn create(
    sys: SystemTx,
    v: &Valid,
    by: Provisioner,
    meta: &RequestMeta,
) -> ApiResult<Provisioned> {
    let school = NewSchool {
        district_id: v.district_id,
        name: &v.name,
        slug: &v.slug,
        timezone: &v.timezone,
        address: None,
    };
    let (mut tx, school_id) = tenancy::create_school(sys, &school).await?;
    let tenant_id = tx.tenant_id().0;
    let settings = json!({
        "branding": {
            "school_name": v.name,
            "logo_url": v.logo_url,
            "primary_color": v.primary_color,
            "favicon_url": Value::Null,
        },
        "features": { "ai_enabled": v.ai_enabled, "google_enabled": v.google_enabled },
        "ai": { "safety_level": v.safety_level },
        "academic_year_start_month": v.start_month,
    });
    sqlx::query("UPDATE tenants SET settings = $1 WHERE id = current_tenant_id()")
        .bind(&settings)
        .execute(&mut *tx)
        .await?;
    let admin_id = users::insert(
        &mut tx,
        NewUser {
            email: &v.email,
            first_name: &v.first_name,
            last_name: &v.last_name,
            roles: &["admin".to_string()],
            password_hash: None,
            district_admin: false,
        },
    )
    .await?;
    let (setup_token, _) = users::issue_setup_token(&mut tx, admin_id).await?;
    let tz: chrono_tz::Tz = v.timezone.parse().unwrap_or(chrono_tz::America::New_York);
    let today = Utc::now().with_timezone(&tz).date_naive();
    let (year_name, start, end) = academic_year(today, v.start_month);
    let (year_id,): (i64,) = sqlx::query_as(
        "INSERT INTO academic_years (tenant_id, name, start_date, end_date, current)
         VALUES (current_tenant_id(), $1, $2, $3, true) RETURNING id",
    )
    .bind(&year_name)
    .bind(start)
    .bind(end)
    .fetch_one(&mut *tx)
    .await?;
    let names: Vec<&str> = PLACEHOLDER_FRAMEWORKS.iter().map(|f| f.0).collect();
    let subjects: Vec<&str> = PLACEHOLDER_FRAMEWORKS.iter().map(|f| f.1).collect();
    sqlx::query(
        "INSERT INTO standard_frameworks (tenant_id, name, subject, jurisdiction)
         SELECT current_tenant_id(), n, s, 'US' FROM unnest($1::text[], $2::text[]) AS x(n, s)",
    )
    .bind(&names)
    .bind(&subjects)
    .execute(&mut *tx)
    .await?;
    let (actor, via) = match by {
        Provisioner::Operator(id) => (TenantActor::Operator(id), json!({"operator_id": id})),
        Provisioner::DistrictAdmin {
            district_id,
            user_id,
        } => (
            TenantActor::Anonymous,
            json!({"district_admin_user_id": user_id, "district_id": district_id}),
        ),
        Provisioner::Cli => (TenantActor::Anonymous, json!({"cli": true})),
    };
    audit::record_tenant(
        &mut tx,
        actor,
        meta,
        AuditEvent::new("tenant.provisioned")
            .on("tenant", tenant_id)
            .with(json!({"slug": v.slug.as_str(), "school_id": school_id, "by": via})),
    )
    .await?;
    tx.commit().await?;
    Ok(Provisioned {
        tenant_id,
        school_id,
        slug: v.slug.as_str().to_string(),
        district_id: v.district_id,
        roles: DEFAULT_ROLES.iter().map(|r| r.0.to_string()).collect(),
        admin: ProvisionedAdmin {
            id: admin_id,
            email: v.email.as_str().to_string(),
        },
        academic_year: ProvisionedYear {
            id: year_id,
            name: year_name,
            start_date: start,
            end_date: end,
        },
        setup_token,
    })
}

/// Body of `bulk_create`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkCreate {
    pub schools: Vec<ProvisionSchool>,
}

/// The outcome of one school of a bulk request.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BulkResult {
    pub school_name: Option<String>,
    /// `created` or `failed`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    /// The setup token of the new administrator (created schools).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setup_token: Option<String>,
    /// `{code, message, details}`, as the single-school route would have answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct BulkReport {
    pub total: usize,
    pub created: usize,
    pub failed: usize,
    pub results: Vec<BulkResult>,
}

fn error_value(e: &ApiError) -> Value {
    let (code, details) = match e {
        ApiError::Unprocessable { details, .. } => ("validation_failed", details.clone()),
        ApiError::Conflict { code, .. } => (*code, Value::Null),
        ApiError::Database(_) | ApiError::Internal(_) => ("internal", Value::Null),
        _ => ("error", Value::Null),
    };
    let message = match e {
        ApiError::Database(_) | ApiError::Internal(_) => "internal error".to_string(),
        other => other.to_string(),
    };
    json!({"code": code, "message": message, "details": details})
}

/// Provisions each school in its own transaction, in order; a failure is reported and
/// the next school goes on.
pub async fn bulk(
    db: &Db,
    resolver: &GuardedResolver,
    schools: &[ProvisionSchool],
    by: Provisioner,
    meta: &RequestMeta,
) -> ApiResult<BulkReport> {
    if schools.is_empty() || schools.len() > MAX_BULK {
        return Err(ApiError::invalid(
            "schools",
            format!("must hold 1 to {MAX_BULK} schools"),
        ));
    }
    let mut results = Vec::with_capacity(schools.len());
    for school in schools {
        let outcome = provision(db, resolver, school, by, meta).await;
        if let Err(ApiError::Database(sqlx::Error::PoolTimedOut)) = &outcome {
            return Err(ApiError::Database(sqlx::Error::PoolTimedOut));
        }
        results.push(match outcome {
            Ok(p) => BulkResult {
                school_name: school.school_name.clone(),
                status: "created",
                tenant_id: Some(p.tenant_id),
                slug: Some(p.slug),
                setup_token: Some(p.setup_token),
                error: None,
            },
            Err(e) => {
                if matches!(e, ApiError::Database(_) | ApiError::Internal(_)) {
                    tracing::error!(error = %e, "bulk provisioning: one school failed");
                }
                BulkResult {
                    school_name: school.school_name.clone(),
                    status: "failed",
                    tenant_id: None,
                    slug: None,
                    setup_token: None,
                    error: Some(error_value(&e)),
                }
            }
        });
    }
    let created = results.iter().filter(|r| r.status == "created").count();
    Ok(BulkReport {
        total: results.len(),
        created,
        failed: results.len() - created,
        results,
    })
}

/// A district admin's district (the access rule guarantees one).
fn district_of(user: &crate::auth::session::UserActor) -> ApiResult<i64> {
    user.district_id.ok_or(ApiError::Forbidden)
}

/// `POST /api/v1/operator/provisioning/schools`
pub async fn operator_create(
    State(state): State<AppState>,
    CurrentOperator(op): CurrentOperator,
    meta: RequestMeta,
    ApiJson(body): ApiJson<ProvisionSchool>,
) -> ApiResult<(StatusCode, Json<Provisioned>)> {
    let resolver = state.config.outbound.client.resolver();
    let p = provision(
        &state.db,
        resolver,
        &body,
        Provisioner::Operator(op.operator_id),
        &meta,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(p)))
}

/// `POST /api/v1/district/provisioning/schools`
pub async fn district_create(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    meta: RequestMeta,
    ApiJson(body): ApiJson<ProvisionSchool>,
) -> ApiResult<(StatusCode, Json<Provisioned>)> {
    let by = Provisioner::DistrictAdmin {
        district_id: district_of(&user)?,
        user_id: user.user_id,
    };
    let resolver = state.config.outbound.client.resolver();
    let p = provision(&state.db, resolver, &body, by, &meta).await?;
    Ok((StatusCode::CREATED, Json(p)))
}

/// `POST /api/v1/operator/provisioning/bulk_create`
pub async fn operator_bulk(
    State(state): State<AppState>,
    CurrentOperator(op): CurrentOperator,
    meta: RequestMeta,
    ApiJson(body): ApiJson<BulkCreate>,
) -> ApiResult<Json<BulkReport>> {
    let resolver = state.config.outbound.client.resolver();
    let by = Provisioner::Operator(op.operator_id);
    Ok(Json(
        bulk(&state.db, resolver, &body.schools, by, &meta).await?,
    ))
}

/// `POST /api/v1/district/provisioning/bulk_create`
pub async fn district_bulk(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    meta: RequestMeta,
    ApiJson(body): ApiJson<BulkCreate>,
) -> ApiResult<Json<BulkReport>> {
    let by = Provisioner::DistrictAdmin {
        district_id: district_of(&user)?,
        user_id: user.user_id,
    };
    let resolver = state.config.outbound.client.resolver();
    Ok(Json(
        bulk(&state.db, resolver, &body.schools, by, &meta).await?,
    ))
}

/// A tenant in the provisioning list: counts and onboarding progress.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ProvisionedTenant {
    pub id: i64,
    pub district_id: Option<i64>,
    pub name: String,
    pub slug: String,
    pub users_count: i32,
    pub schools_count: i32,
    pub courses_count: i32,
    /// Onboarding checklist completion, 0-100.
    pub checklist_percent: i32,
    pub created_at: chrono::DateTime<Utc>,
}

/// A page of tenants with their counts and checklist percentage, in two statements
/// whatever the page size (the counts are counter caches on `tenants`; the checklists
/// come from one call of `onboarding_checklists`).
async fn list(
    db: &Db,
    district: Option<i64>,
    params: &PageParams,
) -> ApiResult<Page<ProvisionedTenant>> {
    let limit = params.limit()?;
    let after: i64 = params.after()?.unwrap_or(0);
    let mut tx = db.system().await?;
    let rows: Vec<tenancy::TenantSummary> = sqlx::query_as(
        "SELECT id, district_id, name, slug, users_count, schools_count, courses_count, created_at
           FROM tenants
          WHERE id > $1 AND ($2::bigint IS NULL OR district_id = $2)
          ORDER BY id LIMIT $3",
    )
    .bind(after)
    .bind(district)
    .bind(limit + 1)
    .fetch_all(&mut *tx)
    .await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let checklists = onboarding::checklists(&mut tx, &ids).await?;
    tx.commit().await?;
    let rows = rows
        .into_iter()
        .map(|t| ProvisionedTenant {
            checklist_percent: checklists
                .get(&t.id)
                .map(onboarding::Checklist::percent)
                .unwrap_or(0),
            id: t.id,
            district_id: t.district_id,
            name: t.name,
            slug: t.slug,
            users_count: t.users_count,
            schools_count: t.schools_count,
            courses_count: t.courses_count,
            created_at: t.created_at,
        })
        .collect();
    Ok(Page::from_rows(rows, limit, |t| t.id))
}

/// `GET /api/v1/operator/provisioning/tenants`
pub async fn operator_list(
    State(state): State<AppState>,
    CurrentOperator(_): CurrentOperator,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<ProvisionedTenant>>> {
    Ok(Json(list(&state.db, None, &params).await?))
}

/// `GET /api/v1/district/provisioning/tenants`
pub async fn district_list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<ProvisionedTenant>>> {
    let district = district_of(&user)?;
    Ok(Json(list(&state.db, Some(district), &params).await?))
}

/// The tenant named by `slug` if the caller may act on it: any tenant for operators
/// (`district` None), a tenant of the district for district admins; otherwise 404.
pub async fn tenant_in_scope(
    db: &Db,
    slug: &str,
    district: Option<i64>,
) -> ApiResult<crate::db::TenantId> {
    let mut tx = db.system().await?;
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT id FROM tenants WHERE slug = $1 AND ($2::bigint IS NULL OR district_id = $2)",
    )
    .bind(slug)
    .bind(district)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    row.map(|r| crate::db::TenantId(r.0))
        .ok_or(ApiError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn the_academic_year_starts_this_year_or_last() {
        assert_eq!(
            academic_year(d(2026, 12, 3), 8),
            ("2026-2027".into(), d(2026, 8, 1), d(2027, 7, 31))
        );
        assert_eq!(
            academic_year(d(2026, 3, 1), 8),
            ("2025-2026".into(), d(2025, 8, 1), d(2026, 7, 31))
        );
        assert_eq!(
            academic_year(d(2026, 8, 1), 8),
            ("2026-2027".into(), d(2026, 8, 1), d(2027, 7, 31))
        );
        assert_eq!(
            academic_year(d(2028, 2, 10), 3),
            ("2027-2028".into(), d(2027, 3, 1), d(2028, 2, 29))
        );
        assert_eq!(
            academic_year(d(2026, 5, 5), 1),
            ("2026-2027".into(), d(2026, 1, 1), d(2026, 12, 31))
        );
    }

    #[test]
    fn every_bad_field_is_reported_together() {
        let input = ProvisionSchool {
            subdomain: Some("www".into()),
            admin_email: Some("not-an-email".into()),
            primary_color: Some("blue".into()),
            safety_level: Some("lax".into()),
            academic_year_start_month: Some(13),
            timezone: Some("Mars/Olympus".into()),
            ..Default::default()
        };
        let mut errors = BTreeMap::new();
        assert!(validate_fields(&input, &mut errors).is_none());
        let fields: Vec<&str> = errors.keys().map(String::as_str).collect();
        assert_eq!(
            fields,
            [
                "academic_year_start_month",
                "admin_email",
                "admin_first_name",
                "admin_last_name",
                "primary_color",
                "safety_level",
                "school_name",
                "subdomain",
                "timezone"
            ]
        );
        assert_eq!(errors["subdomain"], "is reserved");
    }

    #[test]
    fn subdomains() {
        for (s, ok) in [
            ("lincoln-high", true),
            ("ab", false),
            ("Lincoln", false),
            ("-x-y", false),
            ("a--b", false),
            ("api", false),
        ] {
            let input = ProvisionSchool {
                subdomain: Some(s.into()),
                ..Default::default()
            };
            let mut errors = BTreeMap::new();
            validate_fields(&input, &mut errors);
            assert_eq!(!errors.contains_key("subdomain"), ok, "{s}");
        }
    }

    #[test]
    fn colors() {
        assert!(valid_color("#1e40af"));
        assert!(valid_color("#ABCDEF"));
        assert!(!valid_color("1e40af"));
        assert!(!valid_color("#1e40a"));
        assert!(!valid_color("#1e40ag"));
    }
}
