//! CSV exports a district needs around its imports: the row errors of an import, and the
//! school's roster. Values are stored as typed (a name may be `=HYPERLINK(...)`); every
//! cell of every export goes through `roster::export_row`, which prefixes a
//! formula-leading cell (`= + - @`, tab, CR) with `'` so a spreadsheet shows it as text
//! (OWASP "CSV injection"). Errors before the first byte are the API's JSON errors.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, Stream};

use super::RowError;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiPath, TenantDb, TenantScope};

/// Users per statement (and per chunk of the body) of the roster export: memory stays
/// bounded by one page whatever the school's size.
pub const EXPORT_PAGE: i64 = 1_000;

const ERRORS_HEADER: [&str; 4] = ["file", "row", "column", "message"];
const USERS_HEADER: [&str; 4] = ["email", "first_name", "last_name", "roles"];

/// A CSV download: `text/csv`, a file name, not cached, not sniffed.
fn csv_response(filename: &str, body: Body) -> ApiResult<Response> {
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e)))?;
    Ok((
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        body,
    )
        .into_response())
}

/// The CSV of an import's row errors (at most the 10,000 its report keeps).
pub fn errors_csv(errors: &[RowError]) -> String {
    let mut out = String::with_capacity(64 * (errors.len() + 1));
    roster::export_row(&mut out, &ERRORS_HEADER);
    for e in errors {
        roster::export_row(
            &mut out,
            &[&e.file, &e.row.to_string(), &e.column, &e.message],
        );
    }
    out
}

/// `GET /api/v1/admin/imports/{id}/errors.csv`: the row errors of a finished import
/// (409 while it is queued or running, or when it failed as a whole).
pub async fn errors(
    TenantScope { me: _, db }: TenantScope,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Response> {
    let mut tx = db.begin().await?;
    let row: Option<(String, Option<serde_json::Value>)> =
        sqlx::query_as("SELECT state, report -> 'errors' FROM imports WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    tx.commit().await?;
    let (state, errors) = row.ok_or(ApiError::NotFound)?;
    let errors: Vec<RowError> = match (state.as_str(), errors) {
        ("completed", Some(errors)) => {
            serde_json::from_value(errors).map_err(anyhow::Error::from)?
        }
        ("completed", None) => Vec::new(),
        ("failed", _) => {
            return Err(ApiError::Conflict {
                code: "import_failed",
                message: "the import failed as a whole and has no row errors; \
                          GET the import for the reason"
                    .into(),
            })
        }
        _ => {
            return Err(ApiError::Conflict {
                code: "import_not_finished",
                message: format!("the import is {state}; its errors are ready once it completes"),
            })
        }
    };
    csv_response(
        &format!("import-{id}-errors.csv"),
        Body::from(errors_csv(&errors)),
    )
}

/// One user of the roster export.
#[derive(sqlx::FromRow)]
struct RosterRow {
    id: i64,
    email: String,
    first_name: String,
    last_name: String,
    roles: String,
}

/// One page of active users after `after` (by id), with their roles.
async fn roster_page(db: &TenantDb, after: i64) -> Result<Vec<RosterRow>, sqlx::Error> {
    let mut tx = db.begin_read().await?;
    let rows = sqlx::query_as(
        "SELECT u.id, u.email, u.first_name, u.last_name,
                coalesce((SELECT string_agg(r.name, ' ' ORDER BY r.name)
                            FROM user_roles ur JOIN roles r ON r.id = ur.role_id
                           WHERE ur.user_id = u.id), '') AS roles
           FROM users u
          WHERE u.disabled_at IS NULL AND u.id > $1
          ORDER BY u.id
          LIMIT $2",
    )
    .bind(after)
    .bind(EXPORT_PAGE)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows)
}

fn roster_chunk(rows: &[RosterRow]) -> Bytes {
    let mut out = String::with_capacity(96 * rows.len());
    for u in rows {
        roster::export_row(&mut out, &[&u.email, &u.first_name, &u.last_name, &u.roles]);
    }
    Bytes::from(out)
}

/// Where the roster stream stands: the last id sent, or done.
enum Cursor {
    After(i64),
    Done,
}

/// The pages after `after`, a chunk of CSV each, fetched as the client reads.
fn roster_stream(db: TenantDb, after: i64) -> impl Stream<Item = Result<Bytes, sqlx::Error>> {
    stream::try_unfold(Cursor::After(after), move |cursor| {
        let db = db.clone();
        async move {
            let Cursor::After(after) = cursor else {
                return Ok(None);
            };
            let rows = roster_page(&db, after).await.inspect_err(|e| {
                tracing::error!(error = %e, "roster export: a page failed; the download is cut")
            })?;
            let next = match rows.last() {
                Some(last) if rows.len() as i64 == EXPORT_PAGE => Cursor::After(last.id),
                Some(_) => Cursor::Done,
                None => return Ok(None),
            };
            Ok(Some((roster_chunk(&rows), next)))
        }
    })
}

/// `GET /api/v1/admin/users/export.csv`: the school's active users (email, first and
/// last name, roles separated by spaces), streamed a page at a time.
pub async fn users(TenantScope { me: _, db }: TenantScope) -> ApiResult<Response> {
    // The first page is read before answering, so a database error is still a JSON 500
    // rather than a cut download.
    let first = roster_page(&db, 0).await?;
    let mut head = String::new();
    roster::export_row(&mut head, &USERS_HEADER);
    let head = Bytes::from(head);
    let rest = match first.last() {
        Some(last) if first.len() as i64 == EXPORT_PAGE => Some(last.id),
        _ => None,
    };
    let first = roster_chunk(&first);
    let start = stream::iter([Ok::<_, sqlx::Error>(head), Ok(first)]);
    let body = match rest {
        Some(after) => {
            Body::from_stream(futures::StreamExt::chain(start, roster_stream(db, after)))
        }
        None => Body::from_stream(start),
    };
    csv_response("users.csv", body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_rows_are_escaped_like_every_export() {
        let errors = [
            RowError {
                file: "users.csv".into(),
                row: 3,
                column: "email".into(),
                message: "is not a valid email address".into(),
            },
            RowError {
                file: "=cmd|' /C calc'!A0".into(),
                row: 4,
                column: "@SUM(1)".into(),
                message: "-2+3, \"quoted\"".into(),
            },
        ];
        assert_eq!(
            errors_csv(&errors),
            "file,row,column,message\r\n\
             users.csv,3,email,is not a valid email address\r\n\
             '=cmd|' /C calc'!A0,4,'@SUM(1),\"'-2+3, \"\"quoted\"\"\"\r\n"
        );
    }
}
