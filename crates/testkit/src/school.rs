//! A small school built through the API: the fixture most teaching tests start from.

use serde_json::{json, Value};

use crate::app::{TestApp, TestUser};

/// Tenant `slug` with one course taught by `teacher`, `student` enrolled (and linked to
/// `guardian`), `outsider` (a student not enrolled) and `other_teacher` (teaches nothing).
pub struct School {
    pub tenant_id: i64,
    pub admin: TestUser,
    pub teacher: TestUser,
    pub other_teacher: TestUser,
    pub student: TestUser,
    pub outsider: TestUser,
    pub guardian: TestUser,
    pub course_id: i64,
    pub section_id: i64,
    /// Published, due in a week, 10 points.
    pub assignment_id: i64,
    /// A draft: staff only.
    pub draft_assignment_id: i64,
    /// `student`'s submission to `assignment_id`.
    pub submission_id: i64,
    pub discussion_id: i64,
    pub post_id: i64,
}

pub(crate) fn created(what: &str, (status, body): (u16, Value)) -> Value {
    assert_eq!(status, 201, "creating {what}: {body}");
    body
}

impl School {
    pub async fn build(app: &TestApp, slug: &str) -> Self {
        let tenant_id = app.create_tenant(slug, None).await;
        let admin = app.create_user(slug, "admin", &["admin"], false).await;
        let teacher = app.create_user(slug, "teacher", &["teacher"], false).await;
        let other_teacher = app
            .create_user(slug, "other-teacher", &["teacher"], false)
            .await;
        let student = app.create_user(slug, "student", &["student"], false).await;
        let outsider = app.create_user(slug, "outsider", &["student"], false).await;
        let guardian = app
            .create_user(slug, "guardian", &["guardian"], false)
            .await;
        let mut tx = app.tenant_tx(tenant_id).await;
        sqlx::query(
            "INSERT INTO guardian_links (tenant_id, guardian_id, student_id) VALUES ($1, $2, $3)",
        )
        .bind(tenant_id)
        .bind(guardian.id)
        .bind(student.id)
        .execute(&mut *tx)
        .await
        .expect("guardian link");
        tx.commit().await.expect("commit");

        let course = created(
            "course",
            app.post(
                "/api/v1/courses",
                &teacher.token,
                json!({"name": "Biology 7", "code": "BIO7"}),
            )
            .await,
        );
        let course_id = course["id"].as_i64().unwrap();
        let section_id = course["sections"][0]["id"].as_i64().unwrap();
        created(
            "enrollment",
            app.post(
                &format!("/api/v1/sections/{section_id}/enrollments"),
                &teacher.token,
                json!({"user_ids": [student.id], "role": "student"}),
            )
            .await,
        );
        let due = (chrono::Utc::now() + chrono::Duration::days(7)).to_rfc3339();
        let assignment = created(
            "assignment",
            app.post(
                &format!("/api/v1/courses/{course_id}/assignments"),
                &teacher.token,
                json!({"title": "Cells", "points_possible": 10, "due_at": due, "publish": true}),
            )
            .await,
        );
        let assignment_id = assignment["id"].as_i64().unwrap();
        let draft = created(
            "draft",
            app.post(
                &format!("/api/v1/courses/{course_id}/assignments"),
                &teacher.token,
                json!({"title": "Draft"}),
            )
            .await,
        );
        let submission = created(
            "submission",
            app.post(
                &format!("/api/v1/assignments/{assignment_id}/submissions"),
                &student.token,
                json!({"body": "Cells are the unit of life."}),
            )
            .await,
        );
        let discussion = created(
            "discussion",
            app.post(
                &format!("/api/v1/courses/{course_id}/discussions"),
                &teacher.token,
                json!({"title": "Questions"}),
            )
            .await,
        );
        let discussion_id = discussion["id"].as_i64().unwrap();
        let post = created(
            "post",
            app.post(
                &format!("/api/v1/discussions/{discussion_id}/posts"),
                &student.token,
                json!({"content": "What is a cell wall?"}),
            )
            .await,
        );
        Self {
            tenant_id,
            admin,
            teacher,
            other_teacher,
            student,
            outsider,
            guardian,
            course_id,
            section_id,
            assignment_id,
            draft_assignment_id: draft["id"].as_i64().unwrap(),
            submission_id: submission["id"].as_i64().unwrap(),
            discussion_id,
            post_id: post["id"].as_i64().unwrap(),
        }
    }
}

/// Two schools on a fresh app, for admin routes and isolation: `alpha` with an admin and
/// a teacher, `beta` with an admin, and a platform operator (bearer tokens).
pub struct TwoSchools {
    pub app: TestApp,
    pub alpha: i64,
    pub beta: i64,
    pub admin: String,
    pub beta_admin: String,
    pub teacher: String,
    pub operator: String,
}

impl TwoSchools {
    pub async fn spawn() -> Self {
        let app = TestApp::spawn().await;
        let alpha = app.create_tenant("alpha", None).await;
        let beta = app.create_tenant("beta", None).await;
        let token = |slug: &'static str, name: &'static str, role: &'static str| {
            let app = &app;
            async move { app.create_user(slug, name, &[role], true).await.token }
        };
        let admin = token("alpha", "admin", "admin").await;
        let teacher = token("alpha", "teacher", "teacher").await;
        let beta_admin = token("beta", "admin", "admin").await;
        let operator = app.create_operator("ops@example.org").await;
        TwoSchools {
            app,
            alpha,
            beta,
            admin,
            beta_admin,
            teacher,
            operator,
        }
    }
}
