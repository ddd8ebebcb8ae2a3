//! Steps the tenant admin CRUD modules share (AI providers and task policies, webhook
//! endpoints, integrations): a page of rows, one row, and an audited delete, each in a
//! transaction of its own in the caller's tenant.

use axum::http::StatusCode;
use axum::Json;

use crate::audit::{self, AuditEvent, TenantActor};
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{TenantDb, TenantScope};
use crate::http::page::{page_by_id, row_by_id, Page, PageParams};
use crate::request::RequestMeta;

/// Deletes the row `id` of `table` in the caller's tenant (row-level security keeps
/// other tenants' rows out of reach, so theirs are 404 like missing ones) and audits
/// `event` on `(entity, id)` in the same transaction; 204 when it went.
pub async fn delete_by_id(
    TenantScope { me, db }: TenantScope,
    meta: &RequestMeta,
    table: &'static str,
    id: i64,
    event: &'static str,
    entity: &'static str,
) -> ApiResult<StatusCode> {
    let mut tx = db.begin().await?;
    let gone = sqlx::query(&format!("DELETE FROM {table} WHERE id = $1"))
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if gone.rows_affected() == 0 {
        return Err(ApiError::NotFound);
    }
    audit::record_tenant(
        &mut tx,
        TenantActor::User(me.user_id),
        meta,
        AuditEvent::new(event).on(entity, id),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One page of `select` in the caller's tenant, in a transaction of its own
/// ([`page_by_id`]).
pub async fn list_by_id<T>(
    db: &TenantDb,
    select: &str,
    params: &PageParams,
    id: impl Fn(&T) -> i64,
) -> ApiResult<Json<Page<T>>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let mut tx = db.begin().await?;
    let page = page_by_id(&mut tx, select, params, id).await?;
    tx.commit().await?;
    Ok(Json(page))
}

/// The row `id` of `select` in the caller's tenant, in a transaction of its own; 404
/// when there is none ([`row_by_id`]).
pub async fn show_by_id<T>(db: &TenantDb, select: &str, id: i64) -> ApiResult<Json<T>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let mut tx = db.begin().await?;
    let row = row_by_id(&mut tx, select, id).await?;
    tx.commit().await?;
    Ok(Json(row))
}
