//! Cursor pagination: `?limit=` (default 50, 1..=200) and an opaque `?cursor=`; lists
//! answer `{data, next_cursor}`. A cursor is the sort key of the last row returned,
//! serialised and base64url-encoded; clients must treat it as opaque.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// The query parameters every list accepts.
// Lists with filters embed it as `#[serde(flatten)] pub page: PageParams`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct PageParams {
    /// Page size, 1 to 200 (default 50).
    #[serde(default, deserialize_with = "integer_param")]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageParams {
    pub fn limit(&self) -> Result<i64, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::invalid("limit", "must be between 1 and 200")),
        }
    }

    /// The decoded cursor, if any.
    pub fn after<K: DeserializeOwned>(&self) -> Result<Option<K>, ApiError> {
        let Some(cursor) = &self.cursor else {
            return Ok(None);
        };
        URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .map(Some)
            .ok_or_else(|| ApiError::invalid("cursor", "is not a cursor this list returned"))
    }
}

/// An integer query parameter, also inside a flattened struct (where serde hands the
/// value over as text rather than letting the query parser convert it).
fn integer_param<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Param {
        Integer(i64),
        Text(String),
    }
    match Option::<Param>::deserialize(de)? {
        None => Ok(None),
        Some(Param::Integer(n)) => Ok(Some(n)),
        Some(Param::Text(text)) => text
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("limit: `{text}` is not an integer"))),
    }
}

/// One page of a list.
// The schema is named after the item type, so the OpenAPI document does not change when
// routes are registered in another order.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "PageOf{T}")]
pub struct Page<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows: the extra row only says there is more.
    pub fn from_rows<K: Serialize>(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> K) -> Self {
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next_cursor = if more {
            rows.last().map(|last| {
                URL_SAFE_NO_PAD
                    .encode(serde_json::to_vec(&key(last)).expect("cursor key serialises"))
            })
        } else {
            None
        };
        Self {
            data: rows,
            next_cursor,
        }
    }
}

/// A page of `select` (a `SELECT ... FROM table` with no `WHERE`) in id order, after the
/// cursor's id: the list of a resource whose rows the transaction's tenant scopes.
pub async fn page_by_id<T>(
    conn: &mut sqlx::PgConnection,
    select: &str,
    params: &PageParams,
    id: impl Fn(&T) -> i64,
) -> Result<Page<T>, ApiError>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let limit = params.limit()?;
    let after: i64 = params.after()?.unwrap_or(0);
    let rows: Vec<T> = sqlx::query_as(&format!("{select} WHERE id > $1 ORDER BY id LIMIT $2"))
        .bind(after)
        .bind(limit + 1)
        .fetch_all(conn)
        .await?;
    Ok(Page::from_rows(rows, limit, id))
}

/// The row of `select` (as for [`page_by_id`]) with this id; 404 when there is none.
pub async fn row_by_id<T>(
    conn: &mut sqlx::PgConnection,
    select: &str,
    id: i64,
) -> Result<T, ApiError>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    sqlx::query_as(&format!("{select} WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or(ApiError::NotFound)
}

/// The cursor of lists ordered by a nullable instant (ascending, NULLs last) then id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TimeCursor(pub Option<chrono::DateTime<chrono::Utc>>, pub i64);

impl TimeCursor {
    /// The keyset condition for `ORDER BY {col} ASC NULLS LAST, {id_col}` with the cursor's
    /// instant in `$at` and id in `$id` (both NULL on the first page).
    pub fn condition(col: &str, id_col: &str, at: usize, id: usize) -> String {
        format!(
            "(${id}::bigint IS NULL
              OR (${at}::timestamptz IS NOT NULL AND (({col}, {id_col}) > (${at}, ${id}) OR {col} IS NULL))
              OR (${at}::timestamptz IS NULL AND {col} IS NULL AND {id_col} > ${id}))"
        )
    }
}

/// Deserialises a field that may be absent (`None`), `null` (`Some(None)`) or a value.
pub fn double_option<'de, T, D>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}
