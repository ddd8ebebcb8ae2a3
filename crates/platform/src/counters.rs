//! Counter caches: discovery, checking and the backfill (`k12 maintenance recount`).
//!
//! The counters themselves are kept exact by statement-level triggers (migrations 0001
//! and 0003) in the same transaction as every insert and delete, bulk or cascaded. This
//! module reads the list of counters from those triggers in the catalog, so a counter
//! added by a migration is checked and recounted without touching this code.

use serde::Serialize;

use crate::db::{Db, TenantId, TenantTx};

/// One counter: `parent.counter` counts the `child` rows whose `fk` is the parent's id.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, sqlx::FromRow)]
pub struct Counter {
    pub child: String,
    pub parent: String,
    pub fk: String,
    pub counter: String,
}

/// A counter that disagreed with `COUNT(*)`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Drift {
    pub tenant_id: i64,
    pub table: String,
    pub id: i64,
    pub counter: String,
    pub stored: i64,
    pub actual: i64,
}

/// Every counter cache declared by a trigger.
pub async fn counters(tx: &mut TenantTx) -> Result<Vec<Counter>, sqlx::Error> {
    sqlx::query_as(
        "SELECT DISTINCT c.relname::text AS child,
                split_part(encode(t.tgargs, 'escape'), '\\000', 1) AS parent,
                split_part(encode(t.tgargs, 'escape'), '\\000', 2) AS fk,
                split_part(encode(t.tgargs, 'escape'), '\\000', 3) AS counter
           FROM pg_trigger t
           JOIN pg_class c ON c.oid = t.tgrelid
           JOIN pg_proc p ON p.oid = t.tgfoid
          WHERE p.proname = 'counter_cache_insert' AND NOT t.tgisinternal
          ORDER BY 1, 2, 4",
    )
    .fetch_all(&mut **tx)
    .await
}

fn ident(s: &str) -> String {
    crate::db::quote_ident(s)
}

/// Checks (and with `fix`, corrects) one counter in one tenant. Parent rows are locked
/// first, so a concurrent insert waits and then increments the corrected value.
async fn check(tx: &mut TenantTx, c: &Counter, fix: bool) -> Result<Vec<Drift>, sqlx::Error> {
    let (parent, child, fk, counter) = (
        ident(&c.parent),
        ident(&c.child),
        ident(&c.fk),
        ident(&c.counter),
    );
    let lock = if fix { "FOR UPDATE" } else { "" };
    sqlx::query(&format!("SELECT id FROM {parent} {lock}"))
        .execute(&mut **tx)
        .await?;
    let drift = format!(
        "SELECT p.id, p.{counter}::bigint AS stored,
                (SELECT count(*) FROM {child} x WHERE x.{fk} = p.id) AS actual
           FROM {parent} p"
    );
    let sql = if fix {
        format!(
            "WITH d AS ({drift}),
                  fixed AS (UPDATE {parent} p SET {counter} = d.actual FROM d
                             WHERE d.id = p.id AND d.stored <> d.actual
                            RETURNING p.id, d.stored, d.actual)
             SELECT id, stored, actual FROM fixed ORDER BY id"
        )
    } else {
        format!("SELECT id, stored, actual FROM ({drift}) d WHERE stored <> actual ORDER BY id")
    };
    let rows: Vec<(i64, i64, i64)> = sqlx::query_as(&sql).fetch_all(&mut **tx).await?;
    Ok(rows
        .into_iter()
        .map(|(id, stored, actual)| Drift {
            tenant_id: tx.tenant_id().0,
            table: c.parent.clone(),
            id,
            counter: c.counter.clone(),
            stored,
            actual,
        })
        .collect())
}

async fn all_tenants(db: &Db) -> Result<Vec<TenantId>, sqlx::Error> {
    let mut tx = db.system().await?;
    let ids: Vec<(i64,)> = sqlx::query_as("SELECT id FROM tenants ORDER BY id")
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(ids.into_iter().map(|r| TenantId(r.0)).collect())
}

/// Every counter that disagrees with `COUNT(*)`, in every tenant; changes nothing.
pub async fn drift(db: &Db) -> Result<Vec<Drift>, sqlx::Error> {
    run(db, false).await
}

/// Recomputes every counter in every tenant (one transaction per tenant) and answers
/// what it corrected.
pub async fn recount(db: &Db) -> Result<Vec<Drift>, sqlx::Error> {
    run(db, true).await
}

async fn run(db: &Db, fix: bool) -> Result<Vec<Drift>, sqlx::Error> {
    let mut found = Vec::new();
    for tenant in all_tenants(db).await? {
        let mut tx = db.tenant(tenant).await?;
        for c in counters(&mut tx).await? {
            found.extend(check(&mut tx, &c, fix).await?);
        }
        tx.commit().await?;
    }
    Ok(found)
}
