//! Standard frameworks, the standards tree, and standards linked to assignments, through
//! the API as each role.

use reqwest::Method;
use serde_json::{json, Value};
use testkit::{Actor, School, TestApp};

fn id(body: &Value) -> i64 {
    body["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no id in {body}"))
}

fn created(what: &str, (status, body): (u16, Value)) -> Value {
    assert_eq!(status, 201, "creating {what}: {body}");
    body
}

fn codes(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {page}"))
        .iter()
        .map(|s| s["code"].as_str().unwrap().to_string())
        .collect()
}

async fn delete(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    app.request(Method::DELETE, path, Actor::Token(token), None)
        .await
}

async fn framework(app: &TestApp, token: &str, name: &str) -> i64 {
    id(&created(
        "framework",
        app.post(
            "/api/v1/standard_frameworks",
            token,
            json!({"name": name, "jurisdiction": "US", "subject": "Math", "version": "2010"}),
        )
        .await,
    ))
}

async fn standard(
    app: &TestApp,
    token: &str,
    framework: i64,
    code: &str,
    parent: Option<i64>,
) -> i64 {
    id(&created(
        code,
        app.post(
            &format!("/api/v1/standard_frameworks/{framework}/standards"),
            token,
            json!({"code": code, "description": format!("About {code}"), "grade_band": "6-8", "parent_id": parent}),
        )
        .await,
    ))
}

#[tokio::test]
async fn frameworks_are_read_by_everyone_and_written_by_curriculum_staff() {
    let app = TestApp::spawn().await;
    let s = School::build(&app, "alpha").await;
    let other = School::build(&app, "beta").await;
    let lead = app
        .create_user("alpha", "lead", &["curriculum_lead"], false)
        .await;
    let body = json!({"name": "State Math"});
    for (who, token, status) in [
        ("teacher", &s.teacher.token, 403),
        ("student", &s.student.token, 403),
        ("guardian", &s.guardian.token, 403),
    ] {
        let (st, _) = app
            .post("/api/v1/standard_frameworks", token, body.clone())
            .await;
        assert_eq!(st, status, "{who}");
    }
    let by_lead = framework(&app, &lead.token, "State Math").await;
    let by_admin = framework(&app, &s.admin.token, "State Science").await;
    let (st, err) = app
        .post(
            "/api/v1/standard_frameworks",
            &s.admin.token,
            json!({"name": ""}),
        )
        .await;
    assert_eq!(
        (st, err["error"]["code"].as_str()),
        (422, Some("validation_failed"))
    );

    for token in [
        &s.student.token,
        &s.guardian.token,
        &s.teacher.token,
        &s.admin.token,
    ] {
        let (st, page) = app.get("/api/v1/standard_frameworks", token).await;
        assert_eq!(st, 200);
        let ids: Vec<i64> = page["data"].as_array().unwrap().iter().map(id).collect();
        assert_eq!(ids, [by_lead, by_admin]);
        let (st, shown) = app
            .get(&format!("/api/v1/standard_frameworks/{by_lead}"), token)
            .await;
        assert_eq!(st, 200);
        assert_eq!(shown["jurisdiction"], "US");
    }
    let (_, theirs) = app
        .get("/api/v1/standard_frameworks", &other.admin.token)
        .await;
    assert_eq!(theirs["data"], json!([]));
    for path in [
        format!("/api/v1/standard_frameworks/{by_lead}"),
        format!("/api/v1/standard_frameworks/{by_lead}/standards"),
    ] {
        let (st, body) = app.get(&path, &other.admin.token).await;
        assert_eq!(
            (st, body["error"]["code"].as_str()),
            (404, Some("not_found")),
            "{path}"
        );
    }
    let (st, _) = app
        .post(
            &format!("/api/v1/standard_frameworks/{by_lead}/standards"),
            &other.admin.token,
            json!({"code": "X"}),
        )
        .await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn standards_form_a_tree_listed_one_level_at_a_time() {
    let app = TestApp::spawn().await;
    let s = School::build(&app, "alpha").await;
    let t = &s.admin.token;
    let math = framework(&app, t, "Math").await;
    let science = framework(&app, t, "Science").await;
    let rp = standard(&app, t, math, "7.RP", None).await;
    let ns = standard(&app, t, math, "7.NS", None).await;
    let ee = standard(&app, t, math, "7.EE", None).await;
    let rp_a = standard(&app, t, math, "7.RP.A", Some(rp)).await;
    let rp_a1 = standard(&app, t, math, "7.RP.A.1", Some(rp_a)).await;
    let rp_a2 = standard(&app, t, math, "7.RP.A.2", Some(rp_a)).await;
    let ls1 = standard(&app, t, science, "MS-LS1", None).await;

    let list = format!("/api/v1/standard_frameworks/{math}/standards");
    let (_, roots) = app.get(&list, &s.student.token).await;
    assert_eq!(codes(&roots), ["7.EE", "7.NS", "7.RP"], "roots by code");
    let counts: Vec<i64> = roots["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["children_count"].as_i64().unwrap())
        .collect();
    assert_eq!(counts, [0, 0, 1]);
    let (_, children) = app
        .get(&format!("{list}?parent_id={rp}"), &s.student.token)
        .await;
    assert_eq!(codes(&children), ["7.RP.A"]);
    assert_eq!(children["data"][0]["children_count"], 2);
    assert_eq!(children["data"][0]["parent_id"], rp);
    let (_, leaves) = app
        .get(&format!("{list}?parent_id={rp_a}&limit=1"), t)
        .await;
    assert_eq!(codes(&leaves), ["7.RP.A.1"]);
    let cursor = leaves["next_cursor"].as_str().unwrap();
    let (_, rest) = app
        .get(
            &format!("{list}?parent_id={rp_a}&limit=1&cursor={cursor}"),
            t,
        )
        .await;
    assert_eq!(codes(&rest), ["7.RP.A.2"]);
    assert!(rest["next_cursor"].is_null());
    let _ = (ns, ee, rp_a1, rp_a2);

    // A parent must belong to the same framework, in lists and when adding.
    let (st, err) = app
        .get(&format!("{list}?parent_id={ls1}"), &s.student.token)
        .await;
    assert_eq!(
        (st, err["error"]["code"].as_str()),
        (422, Some("validation_failed"))
    );
    let (st, err) = app
        .post(&list, t, json!({"code": "7.X", "parent_id": ls1}))
        .await;
    assert_eq!(st, 422, "{err}");
    assert_eq!(err["error"]["details"]["field"], "parent_id");
    // Codes are unique within a framework, not across frameworks.
    let (st, err) = app.post(&list, t, json!({"code": "7.RP"})).await;
    assert_eq!(
        (st, err["error"]["code"].as_str()),
        (409, Some("already_exists"))
    );
    standard(&app, t, science, "7.RP", None).await;
    // Curriculum staff only.
    let (st, _) = app
        .post(&list, &s.teacher.token, json!({"code": "7.Y"}))
        .await;
    assert_eq!(st, 403);
    let (_, shown) = app
        .get(&format!("/api/v1/standard_frameworks/{math}"), t)
        .await;
    assert_eq!(shown["standards_count"], 6);
}

#[tokio::test]
async fn assignment_standards_follow_the_assignment_visibility() {
    let app = TestApp::spawn().await;
    let s = School::build(&app, "alpha").await;
    let other = School::build(&app, "beta").await;
    let math = framework(&app, &s.admin.token, "Math").await;
    let rp = standard(&app, &s.admin.token, math, "7.RP", None).await;
    let ns = standard(&app, &s.admin.token, math, "7.NS", None).await;
    let their_framework = framework(&app, &other.admin.token, "Theirs").await;
    let theirs = standard(&app, &other.admin.token, their_framework, "T.1", None).await;

    let links = format!("/api/v1/assignments/{}/standards", s.assignment_id);
    let link = created(
        "link",
        app.post(&links, &s.teacher.token, json!({"standard_id": rp}))
            .await,
    );
    assert_eq!(link["standard_id"], rp);
    assert_eq!(link["code"], "7.RP");
    assert_eq!(link["framework_name"], "Math");
    created(
        "admin link",
        app.post(&links, &s.admin.token, json!({"standard_id": ns}))
            .await,
    );
    let (st, err) = app
        .post(&links, &s.teacher.token, json!({"standard_id": rp}))
        .await;
    assert_eq!(
        (st, err["error"]["code"].as_str()),
        (409, Some("already_exists"))
    );
    let (st, err) = app
        .post(&links, &s.teacher.token, json!({"standard_id": theirs}))
        .await;
    assert_eq!(st, 422, "another school's standard: {err}");

    // Reads: anyone who sees the (published) assignment.
    for (who, token, status) in [
        ("teacher", &s.teacher.token, 200),
        ("admin", &s.admin.token, 200),
        ("student", &s.student.token, 200),
        ("guardian", &s.guardian.token, 200),
        ("outsider", &s.outsider.token, 404),
        ("other teacher", &s.other_teacher.token, 404),
        ("other tenant admin", &other.admin.token, 404),
    ] {
        let (st, page) = app.get(&links, token).await;
        assert_eq!(st, status, "{who}: {page}");
        if status == 200 {
            let linked: Vec<i64> = page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["standard_id"].as_i64().unwrap())
                .collect();
            assert_eq!(linked, [rp, ns], "{who}");
        }
    }
    // A draft's standards are staff-only, like the draft.
    let draft_links = format!("/api/v1/assignments/{}/standards", s.draft_assignment_id);
    created(
        "draft link",
        app.post(&draft_links, &s.teacher.token, json!({"standard_id": rp}))
            .await,
    );
    assert_eq!(app.get(&draft_links, &s.teacher.token).await.0, 200);
    assert_eq!(app.get(&draft_links, &s.student.token).await.0, 404);
    assert_eq!(app.get(&draft_links, &s.guardian.token).await.0, 404);

    // Writes: the course's staff only.
    for (who, token, status) in [
        ("student", &s.student.token, 403),
        ("guardian", &s.guardian.token, 403),
        ("other teacher", &s.other_teacher.token, 404),
        ("other tenant admin", &other.admin.token, 404),
    ] {
        let (st, _) = app.post(&links, token, json!({"standard_id": rp})).await;
        assert_eq!(st, status, "{who} linking");
        let (st, _) = delete(&app, &format!("{links}/{rp}"), token).await;
        assert_eq!(st, status, "{who} unlinking");
    }
    assert_eq!(
        delete(&app, &format!("{links}/{rp}"), &s.teacher.token)
            .await
            .0,
        204
    );
    assert_eq!(
        delete(&app, &format!("{links}/{rp}"), &s.teacher.token)
            .await
            .0,
        404
    );
    let (_, page) = app.get(&links, &s.student.token).await;
    assert_eq!(codes(&page), ["7.NS"]);
    assert_eq!(
        app.get("/api/v1/assignments/999999999/standards", &s.teacher.token)
            .await
            .0,
        404
    );
}
