//! `GET /api/v1/ready` (public readiness for load balancers),
//! `GET /api/v1/operator/health` (the operator's report), and the alert rules and events
//! (operators: system-wide rules; tenant admins with `settings:manage`: their school's).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use schemars::JsonSchema;
use serde::Serialize;

use super::alerts::{
    self as a, AlertConfigView, AlertEventView, CreateAlertConfig, UpdateAlertConfig,
};
use super::health::{self, HealthReport};
use crate::auth::permission::{perm, Access};
use crate::error::ApiResult;
use crate::http::api::{Api, Operation as Op};
use crate::http::page::{Page, PageParams};
use crate::http::AppState;

pub fn register(api: &mut Api) {
    let ok = StatusCode::OK;
    api.add(
        Op::get("/api/v1/ready", Access::Public)
            .summary(
                "meta",
                "Readiness: database reachable and every migration this build knows applied (503 otherwise)",
            )
            .response::<Readiness>(ok),
        ready,
    );
    api.add(
        Op::get("/api/v1/operator/health", Access::Operator)
            .summary(
                "monitoring",
                "Every dependency checked concurrently (each within 5 s) and the numeric metrics alert rules read",
            )
            .response::<HealthReport>(ok),
        operator_health,
    );
    register_alerts(api);
}

fn register_alerts(api: &mut Api) {
    let (ok, created, gone) = (StatusCode::OK, StatusCode::CREATED, StatusCode::NO_CONTENT);
    let manage = || Access::Tenant(perm::SETTINGS_MANAGE);
    let op = || Access::Operator;
    let rules = "/api/v1/operator/alert_configurations";
    let rule = "/api/v1/operator/alert_configurations/{id}";
    api.add(
        Op::get(rules, op())
            .summary("monitoring", "The system-wide alert rules")
            .query::<PageParams>()
            .response::<Page<AlertConfigView>>(ok),
        a::operator_list,
    );
    api.add(
        Op::post(rules, op())
            .summary(
                "monitoring",
                "Add a system-wide alert rule (422 lists the allowed metrics, comparisons, severities and channels)",
            )
            .request::<CreateAlertConfig>()
            .response::<AlertConfigView>(created),
        a::operator_create,
    );
    api.add(
        Op::get(rule, op())
            .summary("monitoring", "One system-wide alert rule")
            .response::<AlertConfigView>(ok),
        a::operator_show,
    );
    api.add(
        Op::put(rule, op())
            .summary("monitoring", "Change a system-wide alert rule")
            .request::<UpdateAlertConfig>()
            .response::<AlertConfigView>(ok),
        a::operator_update,
    );
    api.add(
        Op::delete(rule, op())
            .summary(
                "monitoring",
                "Remove a system-wide alert rule (its events stay)",
            )
            .response::<()>(gone),
        a::operator_delete,
    );
    api.add(
        Op::get("/api/v1/operator/alert_events", op())
            .summary(
                "monitoring",
                "Firings and resolutions of the system-wide rules, newest first",
            )
            .query::<PageParams>()
            .response::<Page<AlertEventView>>(ok),
        a::operator_events,
    );
    let rules = "/api/v1/admin/alert_configurations";
    let rule = "/api/v1/admin/alert_configurations/{id}";
    api.add(
        Op::get(rules, manage())
            .summary("monitoring", "The school's alert rules")
            .query::<PageParams>()
            .response::<Page<AlertConfigView>>(ok),
        a::admin_list,
    );
    api.add(
        Op::post(rules, manage())
            .summary(
                "monitoring",
                "Add an alert rule for the school (a target is required)",
            )
            .request::<CreateAlertConfig>()
            .response::<AlertConfigView>(created),
        a::admin_create,
    );
    api.add(
        Op::get(rule, manage())
            .summary("monitoring", "One of the school's alert rules")
            .response::<AlertConfigView>(ok),
        a::admin_show,
    );
    api.add(
        Op::put(rule, manage())
            .summary("monitoring", "Change one of the school's alert rules")
            .request::<UpdateAlertConfig>()
            .response::<AlertConfigView>(ok),
        a::admin_update,
    );
    api.add(
        Op::delete(rule, manage())
            .summary("monitoring", "Remove one of the school's alert rules")
            .response::<()>(gone),
        a::admin_delete,
    );
    api.add(
        Op::get("/api/v1/admin/alert_events", manage())
            .summary(
                "monitoring",
                "Firings and resolutions of the school's rules, newest first",
            )
            .query::<PageParams>()
            .response::<Page<AlertEventView>>(ok),
        a::admin_events,
    );
    api.add(
        Op::post("/api/v1/operator/alerts/evaluate", op())
            .summary(
                "monitoring",
                "Evaluate every enabled alert rule now; answers the events recorded (notifications go through the outbox)",
            )
            .response::<super::evaluate::Evaluation>(ok),
        super::evaluate::evaluate_route,
    );
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    /// The newest migration applied to the database (`null` if unreachable).
    pub schema_version: Option<i64>,
    /// The newest migration this build carries.
    pub expected_schema_version: i64,
    pub detail: String,
}

async fn ready(State(state): State<AppState>) -> Response {
    let expected = crate::db::MIGRATOR
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0);
    let applied = tokio::time::timeout(
        health::CHECK_TIMEOUT,
        sqlx::query_scalar::<_, Option<i64>>("SELECT applied_schema_version()")
            .fetch_one(state.db.pool()),
    )
    .await;
    let (status, schema_version, detail) = match applied {
        Ok(Ok(Some(v))) if v >= expected => (StatusCode::OK, Some(v), "ready".to_owned()),
        Ok(Ok(v)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            v,
            format!("migrations pending: the database is at {v:?}, this build needs {expected}"),
        ),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "ready: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                "database unreachable".to_owned(),
            )
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            "database did not answer in time".to_owned(),
        ),
    };
    let body = Readiness {
        status: if status == StatusCode::OK {
            "ready"
        } else {
            "not_ready"
        },
        schema_version,
        expected_schema_version: expected,
        detail,
    };
    (status, Json(body)).into_response()
}

async fn operator_health(State(state): State<AppState>) -> ApiResult<Json<HealthReport>> {
    Ok(Json(health::report(&state).await))
}
