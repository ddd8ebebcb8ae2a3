//! The onboarding checklist: ten items, four of them required, and the completion
//! percentage. The rules are evaluated in the database by `onboarding_checklists`
//! (migrations/0013_provisioning.sql, `ai_configured` as of 0018_provisioning_gaps.sql), one
//! statement for any number of tenants.

use std::collections::HashMap;

use axum::extract::State;
use axum::Json;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use crate::auth::session::{CurrentOperator, CurrentUser};
use crate::error::ApiResult;
use crate::http::extract::{ApiPath, TenantScope};
use crate::http::AppState;

/// (key, label, required), in the order the checklist shows them.
pub const ITEMS: [(&str, &str, bool); 10] = [
    ("admin_created", "An administrator account exists", true),
    ("school_configured", "The school is set up", true),
    (
        "academic_year",
        "An academic year with at least one term",
        true,
    ),
    ("teachers_added", "Teachers are added", true),
    ("students_added", "Students are added", false),
    ("course_created", "A course is created", false),
    (
        "standards_imported",
        "Standards are imported (not just a framework)",
        false,
    ),
    (
        "google_configured",
        "Google integration is configured",
        false,
    ),
    (
        "ai_configured",
        "An AI task policy is enabled and a provider configured",
        true,
    ),
    ("branding_set", "A logo is set", false),
];

/// One item of the checklist.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ChecklistItem {
    pub key: &'static str,
    pub label: &'static str,
    pub done: bool,
    pub required: bool,
}

/// A tenant's checklist.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Checklist {
    pub tenant_id: i64,
    pub items: Vec<ChecklistItem>,
    /// Items done over all ten, rounded to an integer percentage.
    pub percent: i32,
    /// Whether every required item is done.
    pub required_done: bool,
}

impl Checklist {
    /// Builds the checklist from the database's `{key: done}` object.
    pub fn from_flags(tenant_id: i64, flags: &Value) -> Self {
        let items: Vec<ChecklistItem> = ITEMS
            .iter()
            .map(|&(key, label, required)| ChecklistItem {
                key,
                label,
                required,
                done: flags.get(key).and_then(Value::as_bool).unwrap_or(false),
            })
            .collect();
        let done = items.iter().filter(|i| i.done).count();
        let percent = percent(done, items.len());
        let required_done = items.iter().all(|i| i.done || !i.required);
        Self {
            tenant_id,
            items,
            percent,
            required_done,
        }
    }

    pub fn percent(&self) -> i32 {
        self.percent
    }
}

/// `done` of `total`, as an integer percentage rounded half up.
pub fn percent(done: usize, total: usize) -> i32 {
    if total == 0 {
        return 100;
    }
    i32::try_from((done * 200 + total) / (2 * total)).unwrap_or(100)
}

/// The checklists of `tenants`, in one statement. In a tenant transaction only the
/// tenant's own id may be asked for (the function refuses others).
pub async fn checklists(
    conn: &mut sqlx::PgConnection,
    tenants: &[i64],
) -> Result<HashMap<i64, Checklist>, sqlx::Error> {
    let rows: Vec<(i64, Value)> =
        sqlx::query_as("SELECT tenant_id, items FROM onboarding_checklists($1)")
            .bind(tenants)
            .fetch_all(conn)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(id, flags)| (id, Checklist::from_flags(id, &flags)))
        .collect())
}

async fn one(conn: &mut sqlx::PgConnection, tenant: i64) -> ApiResult<Checklist> {
    let mut all = checklists(conn, &[tenant]).await?;
    Ok(all
        .remove(&tenant)
        .unwrap_or_else(|| Checklist::from_flags(tenant, &Value::Null)))
}

/// `GET /api/v1/admin/onboarding`: the caller's own school.
pub async fn mine(TenantScope { me, db }: TenantScope) -> ApiResult<Json<Checklist>> {
    let mut tx = db.begin().await?;
    let checklist = one(&mut tx, me.tenant_id.0).await?;
    tx.commit().await?;
    Ok(Json(checklist))
}

/// `GET /api/v1/operator/tenants/{slug}/onboarding`
pub async fn operator_show(
    State(state): State<AppState>,
    CurrentOperator(_): CurrentOperator,
    ApiPath(slug): ApiPath<String>,
) -> ApiResult<Json<Checklist>> {
    let tenant = super::tenant_in_scope(&state.db, &slug, None).await?;
    let mut tx = state.db.system().await?;
    let checklist = one(&mut tx, tenant.0).await?;
    tx.commit().await?;
    Ok(Json(checklist))
}

/// `GET /api/v1/district/tenants/{slug}/onboarding`: a school of the caller's district.
pub async fn district_show(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(slug): ApiPath<String>,
) -> ApiResult<Json<Checklist>> {
    let district = super::district_of(&user)?;
    let tenant = super::tenant_in_scope(&state.db, &slug, Some(district)).await?;
    let mut tx = state.db.system().await?;
    let checklist = one(&mut tx, tenant.0).await?;
    tx.commit().await?;
    Ok(Json(checklist))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round() {
        assert_eq!(percent(0, 10), 0);
        assert_eq!(percent(3, 10), 30);
        assert_eq!(percent(10, 10), 100);
        assert_eq!(percent(1, 3), 33);
        assert_eq!(percent(2, 3), 67);
        assert_eq!(percent(1, 8), 13);
    }

    #[test]
    fn flags_become_items() {
        let flags = serde_json::json!({"admin_created": true, "school_configured": true,
            "academic_year": true, "teachers_added": true, "ai_configured": true});
        let c = Checklist::from_flags(7, &flags);
        assert_eq!(c.items.len(), 10);
        assert_eq!(c.percent, 50);
        assert!(c.required_done);
        let c = Checklist::from_flags(7, &serde_json::json!({"admin_created": true}));
        assert_eq!(c.percent, 10);
        assert!(!c.required_done);
    }
}
