//! The route registry. A route is added with its method, path, access rule and
//! documentation in one call; the registry wires the authorization check in front of the
//! handler and records the operation for the OpenAPI document. There is no other way to
//! add an API route, so no route exists without a declared permission or without docs.

use axum::extract::{Request, State};
use axum::handler::Handler;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter};
use axum::Router;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{json, Map, Value};

use super::AppState;
use crate::auth::permission::Access;
use crate::auth::session::{self, Actor};
use crate::error::ApiError;
use crate::ratelimit::{self, Limit};

/// One documented operation.
pub struct Operation {
    method: Method,
    path: &'static str,
    access: Access,
    summary: &'static str,
    tag: &'static str,
    status: StatusCode,
    request: Option<fn(&mut SchemaGenerator) -> Schema>,
    query: Option<fn(&mut SchemaGenerator) -> Schema>,
    response: Option<fn(&mut SchemaGenerator) -> Schema>,
    /// Other success answers (e.g. 202 for work queued instead of done).
    also: Vec<(StatusCode, SchemaFn)>,
    /// Error answers particular to the route (JSON `Error`), with their meaning.
    errors: Vec<(StatusCode, &'static str)>,
    limits: Vec<Limit>,
    /// `multipart/form-data` with one binary part of this name, instead of a JSON body.
    multipart_file: Option<&'static str>,
    /// A raw body of one of these media types (e.g. `text/csv`), instead of a JSON body.
    raw_body: Vec<&'static str>,
    /// A success body of this media type (e.g. `text/csv`), instead of JSON.
    raw_response: Option<&'static str>,
    /// A body limit other than the global [`super::BODY_LIMIT_BYTES`].
    body_limit: Option<usize>,
}

/// Builds a type's JSON schema into the document's generator.
type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

fn schema_of<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

impl Operation {
    fn new(method: Method, path: &'static str, access: Access) -> Self {
        Self {
            method,
            path,
            access,
            summary: "",
            tag: "",
            status: StatusCode::OK,
            request: None,
            query: None,
            response: None,
            also: Vec::new(),
            errors: Vec::new(),
            limits: Vec::new(),
            multipart_file: None,
            raw_body: Vec::new(),
            raw_response: None,
            body_limit: None,
        }
    }
    pub fn get(path: &'static str, access: Access) -> Self {
        Self::new(Method::GET, path, access)
    }
    pub fn post(path: &'static str, access: Access) -> Self {
        Self::new(Method::POST, path, access)
    }
    pub fn put(path: &'static str, access: Access) -> Self {
        Self::new(Method::PUT, path, access)
    }
    pub fn delete(path: &'static str, access: Access) -> Self {
        Self::new(Method::DELETE, path, access)
    }
    pub fn summary(mut self, tag: &'static str, summary: &'static str) -> Self {
        self.tag = tag;
        self.summary = summary;
        self
    }
    pub fn request<T: JsonSchema>(mut self) -> Self {
        self.request = Some(schema_of::<T>);
        self
    }
    pub fn query<T: JsonSchema>(mut self) -> Self {
        self.query = Some(schema_of::<T>);
        self
    }
    pub fn response<T: JsonSchema>(mut self, status: StatusCode) -> Self {
        self.status = status;
        self.response = Some(schema_of::<T>);
        self
    }
    /// Documents a second success answer (JSON) besides the one of [`Self::response`].
    pub fn also_response<T: JsonSchema>(mut self, status: StatusCode) -> Self {
        self.also.push((status, schema_of::<T>));
        self
    }
    /// Documents an error answer particular to the route (e.g. 409 and when).
    pub fn error_response(mut self, status: StatusCode, description: &'static str) -> Self {
        self.errors.push((status, description));
        self
    }
    /// Puts the route under a named rate limit (besides `api`, which covers every
    /// route); checked after authentication, so user- and tenant-keyed limits see who
    /// is calling.
    pub fn limit(mut self, limit: Limit) -> Self {
        self.limits.push(limit);
        self
    }

    /// The body is `multipart/form-data` with a binary part named `field` (documented as
    /// such; the handler reads it with axum's `Multipart`).
    pub fn multipart_file(mut self, field: &'static str) -> Self {
        self.multipart_file = Some(field);
        self
    }
    /// The body may be a raw document of `media_type` (documented as such; the handler
    /// reads the bytes and checks the type itself). Call once per accepted type.
    pub fn raw_body(mut self, media_type: &'static str) -> Self {
        self.raw_body.push(media_type);
        self
    }
    /// The success answer is a document of `media_type` (e.g. `text/csv`), not JSON;
    /// errors stay JSON.
    pub fn raw_response(mut self, status: StatusCode, media_type: &'static str) -> Self {
        self.status = status;
        self.raw_response = Some(media_type);
        self
    }
    /// Replaces the global body limit for this route (uploads).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = Some(bytes);
        self
    }
    pub fn method(&self) -> &Method {
        &self.method
    }
    pub fn path(&self) -> &'static str {
        self.path
    }
    pub fn access(&self) -> Access {
        self.access
    }
}

/// Routes under construction plus their documentation.
pub struct Api {
    state: AppState,
    router: Router<AppState>,
    operations: Vec<Operation>,
}

fn filter(method: &Method) -> MethodFilter {
    match *method {
        Method::GET => MethodFilter::GET,
        Method::POST => MethodFilter::POST,
        Method::PUT => MethodFilter::PUT,
        Method::PATCH => MethodFilter::PATCH,
        Method::DELETE => MethodFilter::DELETE,
        _ => unreachable!("the registry only builds GET/POST/PUT/PATCH/DELETE operations"),
    }
}

impl Api {
    pub fn new(state: AppState) -> Self {
        Self {
            state,
            router: Router::new(),
            operations: Vec::new(),
        }
    }

    /// Adds a route: the handler runs only after the access rule admits the caller.
    pub fn add<H, T>(&mut self, op: Operation, handler: H)
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let access = op.access;
        let mut route = on(filter(&op.method), handler);
        for &limit in &op.limits {
            let limiter = self.state.limiter.clone();
            route = route.route_layer(axum::middleware::from_fn(
                move |req: Request, next: Next| {
                    ratelimit::limit_route(limiter.clone(), limit, req, next)
                },
            ));
        }
        let mut route = route.route_layer(axum::middleware::from_fn_with_state(
            self.state.clone(),
            move |state: State<AppState>, req: Request, next: Next| {
                authorize(state, access, req, next)
            },
        ));
        if let Some(bytes) = op.body_limit {
            // Set after the app-wide limit, so it replaces that one for this route.
            route = route.layer(axum::extract::DefaultBodyLimit::max(bytes));
        }
        let router = std::mem::take(&mut self.router);
        self.router = router.route(op.path, route);
        self.operations.push(op);
    }

    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    /// The router and the OpenAPI document describing it.
    pub fn finish(self) -> (Router<AppState>, Value) {
        let doc = openapi(&self.operations);
        (self.router, doc)
    }
}

/// Authenticates (401), then checks the route's access rule (403), then runs the handler
/// with the [`Actor`] in the request extensions.
///
/// A `GET` by a tenant user runs its session lookup and its handler in one transaction:
/// the lookup's transaction is handed on ([`crate::db::Db::hand_on`]) and the handler's
/// first transaction of the same tenant continues it; row-level security is the same, the
/// tenant is set for the transaction in both. Requests with a body keep two transactions,
/// so no connection is held while the body arrives.
async fn authorize(
    State(state): State<AppState>,
    access: Access,
    req: Request,
    next: Next,
) -> Response {
    if access == Access::Public {
        return next.run(req).await;
    }
    let hand_on = req.method() == Method::GET;
    if hand_on {
        crate::db::Db::with_hand_on(authenticate(state, access, req, next, true)).await
    } else {
        authenticate(state, access, req, next, false).await
    }
}

async fn authenticate(
    state: AppState,
    access: Access,
    mut req: Request,
    next: Next,
    hand_on: bool,
) -> Response {
    let Some(token) = session::presented_token(req.headers(), state.config.env) else {
        return ApiError::Unauthenticated.into_response();
    };
    if let Access::TenantMemberOrKey(scope) = access {
        if crate::api_keys::key::is_api_key(&token) {
            return match state
                .flags
                .api_keys()
                .authenticate(&state.db, &token, scope)
                .await
            {
                Ok(key) => {
                    req.extensions_mut().insert(key);
                    next.run(req).await
                }
                Err(e) => e.into_response(),
            };
        }
    }
    let actor = match session::resolve(&state.db, &token, hand_on).await {
        Ok(actor) => actor,
        Err(e) => return e.into_response(),
    };
    let allowed = match (&access, &actor) {
        (Access::Public | Access::Authenticated, _) => true,
        (Access::TenantMember | Access::TenantMemberOrKey(_), Actor::User(_)) => true,
        (Access::Tenant(p), Actor::User(u)) => u.can(*p),
        (Access::DistrictAdmin, Actor::User(u)) => u.district_admin && u.district_id.is_some(),
        (Access::Operator, Actor::Operator(_)) => true,
        _ => false,
    };
    if !allowed {
        return ApiError::Forbidden.into_response();
    }
    req.extensions_mut().insert(actor);
    next.run(req).await
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    })
}

fn openapi(operations: &[Operation]) -> Value {
    let mut generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| s.definitions_path = "#/components/schemas/".into())
        .into_generator();
    let mut paths = Map::new();
    for op in operations {
        let mut parameters: Vec<Value> = op
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| {
                let schema = if name == "id" || name.ends_with("_id") {
                    json!({ "type": "integer", "format": "int64" })
                } else {
                    json!({ "type": "string" })
                };
                json!({ "name": name, "in": "path", "required": true, "schema": schema })
            })
            .collect();
        if let Some(query) = op.query {
            let schema = query(&mut generator);
            let resolved = resolve_ref(&generator, schema.as_value());
            let required: Vec<&str> = resolved
                .get("required")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if let Some(props) = resolved.get("properties").and_then(Value::as_object) {
                for (name, schema) in props {
                    parameters.push(json!({ "name": name, "in": "query",
                        "required": required.contains(&name.as_str()), "schema": schema }));
                }
            }
        }
        let mut operation = Map::new();
        operation.insert("operationId".into(), json!(operation_id(op)));
        operation.insert("summary".into(), json!(op.summary));
        operation.insert("tags".into(), json!([op.tag]));
        operation.insert("x-access".into(), json!(op.access.describe()));
        if !parameters.is_empty() {
            operation.insert("parameters".into(), json!(parameters));
        }
        if let Some(request) = op.request {
            let schema = request(&mut generator);
            operation.insert(
                "requestBody".into(),
                json!({ "required": true, "content": { "application/json": { "schema": schema } } }),
            );
        }
        if let Some(field) = op.multipart_file {
            operation.insert(
                "requestBody".into(),
                json!({ "required": true, "content": { "multipart/form-data": { "schema": {
                    "type": "object",
                    "required": [field],
                    "properties": { field: { "type": "string", "format": "binary" } }
                } } } }),
            );
        }
        if !op.raw_body.is_empty() {
            let content: Map<String, Value> = op
                .raw_body
                .iter()
                .map(|&media_type| {
                    // Text stays a string; anything else (a zip) is bytes.
                    let schema = if media_type.starts_with("text/") {
                        json!({ "type": "string" })
                    } else {
                        json!({ "type": "string", "format": "binary" })
                    };
                    (media_type.to_string(), json!({ "schema": schema }))
                })
                .collect();
            operation.insert(
                "requestBody".into(),
                json!({ "required": true, "content": content }),
            );
        }
        let mut responses = Map::new();
        let success = match op.response {
            // 204 No Content has no body to describe.
            _ if op.status == StatusCode::NO_CONTENT => {
                json!({ "description": op.status.canonical_reason().unwrap_or("No Content") })
            }
            _ if op.raw_response.is_some() => {
                let media_type = op.raw_response.unwrap_or_default();
                json!({
                    "description": op.status.canonical_reason().unwrap_or("OK"),
                    "content": { media_type: { "schema": { "type": "string" } } }
                })
            }
            Some(response) => json!({
                "description": op.status.canonical_reason().unwrap_or("OK"),
                "content": { "application/json": { "schema": response(&mut generator) } }
            }),
            None => json!({ "description": op.status.canonical_reason().unwrap_or("OK") }),
        };
        responses.insert(op.status.as_u16().to_string(), success);
        for (status, schema) in &op.also {
            responses.insert(
                status.as_u16().to_string(),
                json!({
                    "description": status.canonical_reason().unwrap_or("OK"),
                    "content": { "application/json": { "schema": schema(&mut generator) } }
                }),
            );
        }
        if op.request.is_some() {
            responses.insert("400".into(), error_response("Malformed JSON"));
            responses.insert(
                "415".into(),
                error_response("Content-Type is not application/json"),
            );
            responses.insert("422".into(), error_response("Invalid or unknown fields"));
        }
        if op.multipart_file.is_some() {
            responses.insert("400".into(), error_response("Malformed multipart body"));
            responses.insert("413".into(), error_response("The file is too large"));
            responses.insert(
                "415".into(),
                error_response("Type not accepted, or declared and detected types differ"),
            );
            responses.insert("422".into(), error_response("Refused name or content"));
        }
        if !op.raw_body.is_empty() {
            responses.insert(
                "400".into(),
                error_response("Unusable file or query (nothing was written)"),
            );
            responses.insert("413".into(), error_response("The file is too large"));
            responses.insert(
                "415".into(),
                error_response("Content-Type does not match the declared type"),
            );
        }
        for (status, description) in &op.errors {
            responses.insert(status.as_u16().to_string(), error_response(description));
        }
        if op.access != Access::Public {
            responses.insert("401".into(), error_response("Not signed in"));
            responses.insert(
                "403".into(),
                error_response("Signed in without the permission"),
            );
            operation.insert(
                "security".into(),
                json!([{ "bearer": [] }, { "cookie": [] }]),
            );
        }
        if op.path.contains('{') {
            responses.insert(
                "404".into(),
                error_response("No such record in your tenant"),
            );
        }
        if !op.limits.is_empty() {
            responses.insert(
                "429".into(),
                error_response("Rate limited; see Retry-After and the RateLimit headers"),
            );
            operation.insert(
                "x-rate-limits".into(),
                json!(op.limits.iter().map(|l| l.name()).collect::<Vec<_>>()),
            );
        }
        operation.insert("responses".into(), Value::Object(responses));
        let entry = paths
            .entry(op.path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[op.method.as_str().to_ascii_lowercase()] = Value::Object(operation);
    }
    let mut schemas: Map<String, Value> = generator.take_definitions(true).into_iter().collect();
    schemas.insert(
        "Error".into(),
        json!({
            "type": "object",
            "required": ["error"],
            "properties": { "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": { "type": "string" },
                    "message": { "type": "string" },
                    "details": {}
                }
            }}
        }),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "K-12 platform API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Multi-tenant K-12 school platform. Errors use the Error schema; lists take ?limit= (1-200, default 50) and ?cursor= and answer {data, next_cursor}."
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer" },
                "cookie": { "type": "apiKey", "in": "cookie", "name": "__Host-k12_session" }
            }
        }
    })
}

fn resolve_ref<'a>(generator: &'a SchemaGenerator, schema: &'a Value) -> &'a Value {
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
        .and_then(|name| generator.definitions().get(name))
        .unwrap_or(schema)
}

fn operation_id(op: &Operation) -> String {
    let mut id = op.method.as_str().to_ascii_lowercase();
    for seg in op.path.trim_start_matches("/api/v1/").split('/') {
        id.push('_');
        let seg = seg.trim_start_matches('{').trim_end_matches('}');
        id.push_str(&seg.replace(['-', '.'], "_"));
    }
    id
}
