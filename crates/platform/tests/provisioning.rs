//! Provisioning, the onboarding checklist and branding (spec 08), through the API against
//! a real PostgreSQL: one request makes a working school; every bad field is reported
//! together; a subdomain race ends with one tenant; bulk goes on past a bad school;
//! district admins reach their own district only; the tenant list runs a fixed number
//! of statements.

use reqwest::Method;
use serde_json::{json, Value};
use testkit::{Actor, School, TestApp};

fn school(name: &str, subdomain: &str) -> Value {
    json!({
        "school_name": name,
        "subdomain": subdomain,
        "admin_email": format!("principal@{subdomain}.example.org"),
        "admin_first_name": "Pat",
        "admin_last_name": "Principal",
        "timezone": "America/Chicago",
        "primary_color": "#112233",
        "ai_enabled": true,
        "academic_year_start_month": 8,
    })
}

async fn tenants_with_slug(app: &TestApp, slug: &str) -> i64 {
    let mut sys = app.pool().system().await.unwrap();
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM tenants WHERE slug = $1")
        .bind(slug)
        .fetch_one(&mut *sys)
        .await
        .unwrap();
    sys.commit().await.unwrap();
    n
}

async fn tenant_count(app: &TestApp) -> i64 {
    let mut sys = app.pool().system().await.unwrap();
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM tenants")
        .fetch_one(&mut *sys)
        .await
        .unwrap();
    sys.commit().await.unwrap();
    n
}

#[tokio::test]
async fn one_request_makes_a_working_school() {
    let app = TestApp::spawn().await;
    let op = app.create_operator("ops@example.org").await;
    let (st, b) = app
        .post(
            "/api/v1/operator/provisioning/schools",
            &op,
            school("Lincoln High", "lincoln-high"),
        )
        .await;
    assert_eq!(st, 201, "{b}");
    let tenant = b["tenant_id"].as_i64().unwrap();
    assert_eq!(b["slug"], "lincoln-high");
    assert_eq!(
        b["roles"],
        json!(["admin", "teacher", "curriculum_lead", "student", "guardian"])
    );
    assert_eq!(b["admin"]["email"], "principal@lincoln-high.example.org");
    let year = &b["academic_year"];
    let name = year["name"].as_str().unwrap();
    assert!(
        year["start_date"].as_str().unwrap().ends_with("-08-01"),
        "{year}"
    );
    assert!(
        year["end_date"].as_str().unwrap().ends_with("-07-31"),
        "{year}"
    );
    assert_eq!(&name[..4], &year["start_date"].as_str().unwrap()[..4]);

    // What the transaction created, seen from inside the tenant.
    let mut tx = app.tenant_tx(tenant).await;
    let (roles, perms, years, frameworks, schools, audits): (i64, i64, i64, i64, i64, i64) =
        sqlx::query_as(
            "SELECT (SELECT count(*) FROM roles), (SELECT count(*) FROM permissions),
                    (SELECT count(*) FROM academic_years WHERE current),
                    (SELECT count(*) FROM standard_frameworks),
                    (SELECT count(*) FROM schools WHERE timezone = 'America/Chicago'),
                    (SELECT count(*) FROM audit_logs WHERE event_type = 'tenant.provisioned'
                        AND actor_operator_id IS NOT NULL)",
        )
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    let (settings,): (Value,) =
        sqlx::query_as("SELECT settings FROM tenants WHERE id = current_tenant_id()")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    tx.commit().await.unwrap();
    assert_eq!((roles, years, frameworks, schools, audits), (5, 1, 3, 1, 1));
    assert!(perms > 0);
    assert_eq!(settings["branding"]["primary_color"], "#112233");
    assert_eq!(settings["features"]["ai_enabled"], true);
    assert_eq!(settings["ai"]["safety_level"], "strict");

    // The admin's setup token sets a password; the admin then signs in as admin.
    let (st, body) = app
        .request(
            Method::POST,
            "/api/v1/auth/setup",
            Actor::Anonymous,
            Some(json!({"token": b["setup_token"], "password": "a-long-unguessable-passphrase"})),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    let token = app
        .login(
            "lincoln-high",
            "principal@lincoln-high.example.org",
            "a-long-unguessable-passphrase",
        )
        .await;
    let (st, me) = app.get("/api/v1/me", &token).await;
    assert_eq!(st, 200);
    assert!(me.to_string().contains("admin"), "{me}");

    // The new school's checklist: the admin and the school are there, nothing else yet
    // (the year has no term).
    let (st, c) = app.get("/api/v1/admin/onboarding", &token).await;
    assert_eq!(st, 200, "{c}");
    let done: Vec<&str> = c["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["done"] == true)
        .map(|i| i["key"].as_str().unwrap())
        .collect();
    assert_eq!(done, ["admin_created", "school_configured"]);
    assert_eq!(c["percent"], 20);
    assert_eq!(c["required_done"], false);
    let (st, c2) = app
        .get("/api/v1/operator/tenants/lincoln-high/onboarding", &op)
        .await;
    assert_eq!((st, &c2["percent"]), (200, &json!(20)));
}

#[tokio::test]
async fn every_bad_field_is_reported_together_and_nothing_is_created() {
    let app = TestApp::spawn().await;
    let op = app.create_operator("ops@example.org").await;
    app.create_tenant("taken-school", None).await;
    let before = tenant_count(&app).await;
    let (st, b) = app
        .post(
            "/api/v1/operator/provisioning/schools",
            &op,
            json!({
                "subdomain": "taken-school",
                "admin_email": "nope",
                "timezone": "Mars/Olympus",
                "primary_color": "red",
                "safety_level": "lax",
                "academic_year_start_month": 0,
                "logo_url": "http://127.0.0.1/logo.png",
            }),
        )
        .await;
    assert_eq!(st, 422, "{b}");
    assert_eq!(b["error"]["code"], "validation_failed");
    let mut fields: Vec<&str> = b["error"]["details"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "academic_year_start_month",
            "admin_email",
            "admin_first_name",
            "admin_last_name",
            "logo_url",
            "primary_color",
            "safety_level",
            "school_name",
            "subdomain",
            "timezone"
        ]
    );
    assert_eq!(b["error"]["details"]["subdomain"], "is already taken");
    // Reserved names and unknown fields.
    let (st, b) = app
        .post(
            "/api/v1/operator/provisioning/schools",
            &op,
            school("The API", "api"),
        )
        .await;
    assert_eq!(
        (st, &b["error"]["details"]["subdomain"]),
        (422, &json!("is reserved"))
    );
    let mut body = school("X", "x-school");
    body["colour"] = json!("#000000");
    let (st, _) = app
        .post("/api/v1/operator/provisioning/schools", &op, body)
        .await;
    assert_eq!(st, 422);
    assert_eq!(tenant_count(&app).await, before);
}

#[tokio::test]
async fn twenty_concurrent_requests_for_one_subdomain_make_exactly_one_tenant() {
    let app = TestApp::spawn().await;
    let op = app.create_operator("ops@example.org").await;
    let requests = (0..20).map(|i| {
        let (client, url, op) = (
            app.client.clone(),
            format!("{}/api/v1/operator/provisioning/schools", app.base_url),
            op.clone(),
        );
        async move {
            let res = client
                .post(url)
                .bearer_auth(op)
                .json(&school(&format!("Race {i}"), "race-school"))
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap();
            (status, body)
        }
    });
    let outcomes = futures::future::join_all(requests).await;
    let created = outcomes.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(created, 1, "{outcomes:?}");
    for (status, body) in &outcomes {
        assert!(
            [201, 409, 422].contains(status),
            "an unclean answer: {status} {body}"
        );
        if *status != 201 {
            assert!(body["error"]["code"].is_string(), "{body}");
        }
    }
    assert_eq!(tenants_with_slug(&app, "race-school").await, 1);
}

#[tokio::test]
async fn bulk_goes_on_past_a_bad_school() {
    let app = TestApp::spawn().await;
    let op = app.create_operator("ops@example.org").await;
    let (st, b) = app
        .post(
            "/api/v1/operator/provisioning/bulk_create",
            &op,
            json!({"schools": [
                school("North", "north-school"),
                school("Bad", "www"),
                school("South", "south-school"),
                school("North again", "north-school"),
            ]}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(
        (
            b["total"].as_i64(),
            b["created"].as_i64(),
            b["failed"].as_i64()
        ),
        (Some(4), Some(2), Some(2))
    );
    let statuses: Vec<&str> = b["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["created", "failed", "created", "failed"]);
    assert_eq!(
        b["results"][1]["error"]["details"]["subdomain"],
        "is reserved"
    );
    assert_eq!(b["results"][0]["school_name"], "North");
    assert!(b["results"][2]["tenant_id"].is_i64());
    assert_eq!(tenants_with_slug(&app, "north-school").await, 1);
    assert_eq!(tenants_with_slug(&app, "south-school").await, 1);
    let (st, _) = app
        .post(
            "/api/v1/operator/provisioning/bulk_create",
            &op,
            json!({"schools": []}),
        )
        .await;
    assert_eq!(st, 422);
}

#[tokio::test]
async fn district_admins_reach_their_own_district_only() {
    let app = TestApp::spawn().await;
    let mine = app.create_district("district-one").await;
    let theirs = app.create_district("district-two").await;
    app.create_tenant("home-school", Some(mine)).await;
    app.create_tenant("far-school", Some(theirs)).await;
    let admin = app
        .create_user("home-school", "super", &["teacher"], true)
        .await;
    let (st, b) = app
        .post(
            "/api/v1/district/provisioning/schools",
            &admin.token,
            school("New One", "new-one"),
        )
        .await;
    assert_eq!(st, 201, "{b}");
    assert_eq!(b["district_id"].as_i64(), Some(mine));
    let mut other = school("Elsewhere", "elsewhere");
    other["district_id"] = json!(theirs);
    let (st, b) = app
        .post("/api/v1/district/provisioning/schools", &admin.token, other)
        .await;
    assert_eq!(st, 422, "{b}");
    assert!(b["error"]["details"]["district_id"].is_string());

    let (st, list) = app
        .get("/api/v1/district/provisioning/tenants", &admin.token)
        .await;
    assert_eq!(st, 200);
    let mut slugs: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slug"].as_str().unwrap())
        .collect();
    slugs.sort_unstable();
    assert_eq!(slugs, ["home-school", "new-one"]);

    let (st, _) = app
        .get("/api/v1/district/tenants/new-one/onboarding", &admin.token)
        .await;
    assert_eq!(st, 200);
    let (st, b) = app
        .get(
            "/api/v1/district/tenants/far-school/onboarding",
            &admin.token,
        )
        .await;
    assert_eq!(st, 404, "{b}");
    let (st, _) = app
        .get("/api/v1/district/tenants/no-such/onboarding", &admin.token)
        .await;
    assert_eq!(st, 404);
}

fn statements(res: &reqwest::Response) -> u64 {
    let timing = res
        .headers()
        .get("server-timing")
        .expect("Server-Timing header in development")
        .to_str()
        .unwrap();
    timing
        .trim_start_matches("db;desc=\"")
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn the_tenant_list_runs_the_same_statements_for_1_and_many_tenants() {
    let app = TestApp::spawn().await;
    let op = app.create_operator("ops@example.org").await;
    let s = School::build(&app, "alpha").await;
    for i in 0..6 {
        app.create_tenant(&format!("school-{i}"), None).await;
    }
    let mut counts = Vec::new();
    for limit in [1, 200] {
        let res = app
            .client
            .get(format!(
                "{}/api/v1/operator/provisioning/tenants?limit={limit}",
                app.base_url
            ))
            .bearer_auth(&op)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        counts.push(statements(&res));
        let page: Value = res.json().await.unwrap();
        assert_eq!(page["data"].as_array().unwrap().len(), limit.min(7));
        if limit == 200 {
            let alpha = page["data"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["slug"] == "alpha")
                .unwrap();
            // alpha: admin, school, teachers, students and a course = 5 of 10.
            assert_eq!(alpha["checklist_percent"], 50, "{alpha}");
            assert_eq!(alpha["users_count"], 6);
            assert_eq!(alpha["courses_count"], 1);
        }
    }
    assert_eq!(counts[0], counts[1], "statements for limit=1 and limit=200");
    // A tenant user cannot read another tenant's checklist through the function.
    let mut tx = app.tenant_tx(s.tenant_id).await;
    let err = sqlx::query("SELECT * FROM onboarding_checklists(ARRAY[$1::bigint])")
        .bind(s.tenant_id + 1)
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("own checklist"), "{err}");
}

#[tokio::test]
async fn branding_is_validated_and_served_publicly() {
    let app = TestApp::spawn().await;
    let s = School::build(&app, "alpha").await;
    let put = |body: Value| app.put("/api/v1/admin/branding", &s.admin.token, body);
    let (st, b) = put(json!({"primary_color": "blue"})).await;
    assert_eq!(
        (st, &b["error"]["details"]["field"]),
        (422, &json!("primary_color"))
    );
    let (st, _) = put(json!({"font": "Comic Sans"})).await;
    assert_eq!(st, 422);
    let (st, b) = put(json!({"logo_url": "http://127.0.0.1:8080/logo.png"})).await;
    assert_eq!(st, 422, "{b}");
    let (st, b) = put(
        json!({"school_name": "Alpha Academy", "primary_color": "#AA0000",
                             "logo_url": "https://93.184.215.14/logo.png"}),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["primary_color"], "#aa0000");
    let (st, public) = app
        .request(
            Method::GET,
            "/api/v1/tenants/alpha/branding",
            Actor::Anonymous,
            None,
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(
        public,
        json!({"school_name": "Alpha Academy", "logo_url": "https://93.184.215.14/logo.png",
               "favicon_url": null, "primary_color": "#aa0000"})
    );
    let (st, c) = app.get("/api/v1/admin/onboarding", &s.admin.token).await;
    assert_eq!(st, 200);
    let branding = c["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["key"] == "branding_set")
        .unwrap();
    assert_eq!(branding["done"], true);
    // Clearing the logo.
    let (st, b) = put(json!({"logo_url": null})).await;
    assert_eq!((st, &b["logo_url"]), (200, &Value::Null));
    let (st, _) = app
        .request(
            Method::GET,
            "/api/v1/tenants/no-such-school/branding",
            Actor::Anonymous,
            None,
        )
        .await;
    assert_eq!(st, 404);
    // Teachers may not change it.
    let (st, _) = app
        .put(
            "/api/v1/admin/branding",
            &s.teacher.token,
            json!({"primary_color": "#000000"}),
        )
        .await;
    assert_eq!(st, 403);
}

/// `ai_configured` (spec 08): at least one enabled AI task policy and an active provider;
/// a daily token budget of 0 turns the tenant's AI off. The operator tenant list shows the
/// same through its one checklist statement.
#[tokio::test]
async fn ai_configured_needs_an_enabled_task_policy_and_an_active_provider() {
    let app = TestApp::spawn().await;
    let op = app.create_operator("ops@example.org").await;
    let s = School::build(&app, "alpha").await;
    let t = &s.admin.token;
    let ai_done = || async {
        let (st, c) = app.get("/api/v1/admin/onboarding", t).await;
        assert_eq!(st, 200, "{c}");
        let item = c["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["key"] == "ai_configured")
            .unwrap()
            .clone();
        assert_eq!(item["required"], true);
        let (st, list) = app
            .get("/api/v1/operator/provisioning/tenants?limit=200", &op)
            .await;
        assert_eq!(st, 200, "{list}");
        let listed = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["slug"] == "alpha")
            .unwrap()["checklist_percent"]
            .clone();
        assert_eq!(listed, c["percent"], "the list and the checklist agree");
        (item["done"] == true, c["percent"].as_i64().unwrap())
    };
    // Every tenant starts with enabled default policies but no provider.
    let (done, without) = ai_done().await;
    assert!(!done);
    let (st, p) = app
        .post(
            "/api/v1/admin/ai/providers",
            t,
            json!({"provider": "demo", "default_model": "demo-1"}),
        )
        .await;
    assert_eq!(st, 201, "{p}");
    let (done, with) = ai_done().await;
    assert!(done);
    assert_eq!(with, without + 10);

    // A budget of 0 is AI turned off.
    let (st, b) = app
        .put(
            "/api/v1/admin/safety/config",
            t,
            json!({"daily_token_budget": 0}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    assert!(!ai_done().await.0);
    let (st, _) = app
        .put(
            "/api/v1/admin/safety/config",
            t,
            json!({"daily_token_budget": 5000}),
        )
        .await;
    assert_eq!(st, 200);
    assert!(ai_done().await.0);

    // Every task policy disabled: not configured.
    let (st, policies) = app.get("/api/v1/admin/ai/task_policies?limit=200", t).await;
    assert_eq!(st, 200, "{policies}");
    let ids: Vec<i64> = policies["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["enabled"] == true)
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert!(!ids.is_empty());
    for id in &ids {
        let (st, b) = app
            .put(
                &format!("/api/v1/admin/ai/task_policies/{id}"),
                t,
                json!({"enabled": false}),
            )
            .await;
        assert_eq!(st, 200, "{b}");
    }
    assert!(!ai_done().await.0);
    let (st, _) = app
        .put(
            &format!("/api/v1/admin/ai/task_policies/{}", ids[0]),
            t,
            json!({"enabled": true}),
        )
        .await;
    assert_eq!(st, 200);
    assert!(ai_done().await.0);

    // The only provider disabled: not configured.
    let (st, b) = app
        .put(
            &format!("/api/v1/admin/ai/providers/{}", p["id"]),
            t,
            json!({"status": "disabled"}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    assert!(!ai_done().await.0);
}

/// The curriculum_lead default role (README "Default permissions"): curriculum work on
/// every course, never students' work. Spec 08 gives curriculum leads no submissions and
/// no discussions, and since they see every course, a grant would open every student's.
#[tokio::test]
async fn curriculum_leads_author_but_never_read_students_work() {
    let app = TestApp::spawn().await;
    let s = School::build(&app, "alpha").await;
    let lead = app
        .create_user("alpha", "lead", &["curriculum_lead"], false)
        .await;
    let (st, me) = app.get("/api/v1/me", &lead.token).await;
    assert_eq!(st, 200);
    let mut held: Vec<&str> = me["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    held.sort_unstable();
    assert_eq!(
        held,
        [
            "ai:use",
            "assignments:manage",
            "assignments:read",
            "courses:manage",
            "courses:read",
            "question_banks:manage",
            "question_banks:read",
            "quizzes:manage",
            "quizzes:read",
            "standards:manage",
            "standards:read",
        ]
    );
    let get = |path: String| {
        let token = lead.token.clone();
        let app = &app;
        async move { app.get(&path, &token).await.0 }
    };
    assert_eq!(get(format!("/api/v1/courses/{}", s.course_id)).await, 200);
    assert_eq!(
        get(format!("/api/v1/submissions/{}", s.submission_id)).await,
        403
    );
    assert_eq!(
        get(format!(
            "/api/v1/assignments/{}/submissions",
            s.assignment_id
        ))
        .await,
        403
    );
    assert_eq!(
        get(format!("/api/v1/courses/{}/discussions", s.course_id)).await,
        403
    );
    assert_eq!(
        get(format!("/api/v1/discussions/{}", s.discussion_id)).await,
        403
    );
}

/// Migration 0018 takes the same three grants away from the curriculum_lead role of every
/// school that existed before it, and from no other role.
#[tokio::test]
async fn migration_0018_narrows_the_curriculum_leads_of_existing_schools() {
    use sqlx::Connection;
    let app = TestApp::spawn().await;
    let alpha = School::build(&app, "alpha").await;
    let beta = School::build(&app, "beta").await;
    // What the old default gave curriculum leads, in both schools.
    for tenant in [alpha.tenant_id, beta.tenant_id] {
        let mut tx = app.tenant_tx(tenant).await;
        sqlx::query(
            "INSERT INTO permissions (tenant_id, role_id, resource, action)
             SELECT current_tenant_id(), r.id, x.resource, x.action
               FROM roles r,
                    (VALUES ('submissions', 'read'), ('discussions', 'read'),
                            ('discussions', 'post')) AS x(resource, action)
              WHERE r.name = 'curriculum_lead'",
        )
        .execute(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let grants = |tenant: i64| {
        let app = &app;
        async move {
            let mut tx = app.tenant_tx(tenant).await;
            let rows: Vec<(String, String)> = sqlx::query_as(
                "SELECT r.name, p.resource || ':' || p.action FROM permissions p
                   JOIN roles r ON r.id = p.role_id
                  WHERE (p.resource, p.action) IN (('submissions', 'read'),
                        ('discussions', 'read'), ('discussions', 'post'))
                  ORDER BY 1, 2",
            )
            .fetch_all(&mut *tx)
            .await
            .unwrap();
            tx.commit().await.unwrap();
            rows
        }
    };
    assert!(grants(alpha.tenant_id)
        .await
        .contains(&("curriculum_lead".into(), "submissions:read".into())));
    // The migration's data step, run again as the migrations run it (the owner).
    let sql = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../migrations/0018_provisioning_gaps.sql"
    ))
    .unwrap();
    let step = &sql[sql.find("DO $$").expect("the data step")..];
    let mut owner = sqlx::PgConnection::connect(&app.db.owner_url())
        .await
        .unwrap();
    sqlx::raw_sql(step).execute(&mut owner).await.unwrap();
    owner.close().await.unwrap();
    for tenant in [alpha.tenant_id, beta.tenant_id] {
        let left = grants(tenant).await;
        assert!(
            left.iter().all(|(role, _)| role != "curriculum_lead"),
            "{left:?}"
        );
        // Teachers, students and guardians keep theirs.
        for (role, grant) in [
            ("teacher", "discussions:read"),
            ("teacher", "submissions:read"),
            ("student", "discussions:post"),
            ("guardian", "submissions:read"),
        ] {
            assert!(
                left.contains(&(role.to_string(), grant.to_string())),
                "{role} {grant}: {left:?}"
            );
        }
    }
}
