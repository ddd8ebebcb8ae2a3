//! The demo district that `k12 dev` seeds on first run: tenants `demo` and `demo-north`,
//! each with an admin, a teacher, two students and a guardian, plus one platform operator.
//! Seeding is skipped when the demo district already exists, so a second run does not
//! create duplicates.

use serde::{Deserialize, Serialize};

use platform::auth::token::random_password;
use platform::db::{Db, TenantTx};
use platform::identity::users::{self, NewUser};
use platform::identity::Email;
use platform::tenancy::{self, NewSchool, Slug};

/// One demo login.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Login {
    pub role: String,
    pub email: String,
    pub password: String,
}

/// The logins of one demo tenant.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TenantLogins {
    pub slug: String,
    pub logins: Vec<Login>,
}

/// Everything a person (or a script) needs to sign in to the demo.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DemoLogins {
    pub operator: OperatorLogin,
    pub tenants: Vec<TenantLogins>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct OperatorLogin {
    pub email: String,
    pub password: String,
}

const DEMO_TENANTS: &[(&str, &str)] = &[
    ("demo", "Demo Elementary School"),
    ("demo-north", "Demo North Middle School"),
];

/// (role, local part, first name, last name)
const DEMO_PEOPLE: &[(&str, &str, &str, &str)] = &[
    ("admin", "admin", "Alex", "Admin"),
    ("teacher", "teacher", "Terry", "Teacher"),
    ("student", "student1", "Sam", "Student"),
    ("student", "student2", "Sasha", "Student"),
    ("guardian", "guardian", "Gale", "Guardian"),
];

/// Whether the demo district exists already.
pub async fn is_seeded(db: &Db) -> anyhow::Result<bool> {
    let mut tx = db.system().await?;
    let (exists,): (bool,) =
        sqlx::query_as("SELECT EXISTS (SELECT 1 FROM districts WHERE slug = 'demo')")
            .fetch_one(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok(exists)
}

/// Seeds the demo district with fresh random passwords and answers the logins.
pub async fn seed_demo(db: &Db) -> anyhow::Result<DemoLogins> {
    let mut tx = db.system().await?;
    let district = tenancy::create_district(
        &mut tx,
        "Demo District",
        &Slug::parse("demo").expect("valid"),
    )
    .await?;
    let operator_password = random_password();
    let operator_email = Email::parse("operator@demo.k12.test").expect("valid");
    platform::operators::create(
        &mut tx,
        &operator_email,
        "Demo Operator",
        Some(users::hash_password(&operator_password).await?),
    )
    .await?;
    tx.commit().await?;

    let mut tenants = Vec::new();
    for (slug, name) in DEMO_TENANTS {
        let sys = db.system().await?;
        let (mut tx, _) = tenancy::create_school(
            sys,
            &NewSchool {
                district_id: Some(district),
                name,
                slug: &Slug::parse(slug).expect("valid"),
                timezone: "America/New_York",
                address: Some("1 School Lane"),
            },
        )
        .await?;
        let mut logins = Vec::new();
        let mut ids = Vec::new();
        for (role, local, first, last) in DEMO_PEOPLE {
            let password = random_password();
            let email = format!("{local}@{slug}.k12.test");
            let id = users::insert(
                &mut tx,
                NewUser {
                    email: &Email::parse(&email).expect("valid"),
                    first_name: first,
                    last_name: last,
                    roles: &[role.to_string()],
                    password_hash: Some(users::hash_password(&password).await?),
                    district_admin: *slug == "demo" && *role == "admin",
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("seeding {email}: {e}"))?;
            ids.push((*role, id));
            logins.push(Login {
                role: role.to_string(),
                email,
                password,
            });
        }
        let guardian = ids.iter().find(|(r, _)| *r == "guardian").map(|p| p.1);
        let student = ids.iter().find(|(r, _)| *r == "student").map(|p| p.1);
        sqlx::query(
            "INSERT INTO guardian_links (tenant_id, guardian_id, student_id) VALUES (current_tenant_id(), $1, $2)",
        )
        .bind(guardian)
        .bind(student)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO academic_years (tenant_id, name, start_date, end_date, current)
             VALUES (current_tenant_id(), '2026-2027', '2026-08-24', '2027-06-18', true)",
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO terms (tenant_id, academic_year_id, name, start_date, end_date)
             SELECT current_tenant_id(), id, t.name, t.s::date, t.e::date FROM academic_years,
                    (VALUES ('Fall', '2026-08-24', '2027-01-15'), ('Spring', '2027-01-19', '2027-06-18')) AS t(name, s, e)",
        )
        .execute(&mut *tx)
        .await?;
        let ids_of = |role: &str| {
            ids.iter()
                .filter(|(r, _)| *r == role)
                .map(|p| p.1)
                .collect::<Vec<i64>>()
        };
        seed_school(&mut tx, slug, ids_of("teacher")[0], &ids_of("student")).await?;
        tx.commit().await?;
        tenants.push(TenantLogins {
            slug: slug.to_string(),
            logins,
        });
    }
    Ok(DemoLogins {
        operator: OperatorLogin {
            email: operator_email.as_str().to_string(),
            password: operator_password,
        },
        tenants,
    })
}

/// The teaching data of one demo school: courses with two sections each, every student
/// enrolled with the demo teacher, assignments (one with submissions, one graded), a
/// discussion with a threaded conversation, a question bank, a published quiz with an
/// attempt, and a small standards framework linked to an assignment.
async fn seed_school(
    tx: &mut TenantTx,
    slug: &str,
    teacher: i64,
    students: &[i64],
) -> Result<(), sqlx::Error> {
    let grade = if slug == "demo" { "5" } else { "7" };
    let subjects = [
        "Mathematics",
        "Science",
        "English Language Arts",
        "Social Studies",
    ];
    let names: Vec<String> = subjects.iter().map(|s| format!("{s} {grade}")).collect();
    let codes: Vec<String> = subjects
        .iter()
        .map(|s| format!("{}{grade}", &s[..3].to_uppercase()))
        .collect();
    let courses: Vec<(i64,)> = sqlx::query_as(
        "INSERT INTO courses (tenant_id, academic_year_id, created_by_id, name, code, description)
         SELECT current_tenant_id(), (SELECT id FROM academic_years WHERE current), $1, n, c,
                'A demo course: explore it through the API.'
           FROM unnest($2::text[], $3::text[]) AS x(n, c)
         RETURNING id",
    )
    .bind(teacher)
    .bind(&names)
    .bind(&codes)
    .fetch_all(&mut **tx)
    .await?;
    let course_ids: Vec<i64> = courses.into_iter().map(|c| c.0).collect();
    sqlx::query(
        "INSERT INTO sections (tenant_id, course_id, term_id, name)
         SELECT current_tenant_id(), c, (SELECT id FROM terms WHERE name = 'Fall'), s
           FROM unnest($1::bigint[]) AS c, (VALUES ('Period 1'), ('Period 2')) AS v(s)",
    )
    .bind(&course_ids)
    .execute(&mut **tx)
    .await?;
    // The teacher teaches every section; every student is in Period 1 of every course.
    sqlx::query(
        "INSERT INTO enrollments (tenant_id, user_id, section_id, course_id, role)
         SELECT current_tenant_id(), $1, s.id, s.course_id, 'teacher' FROM sections s
         UNION ALL
         SELECT current_tenant_id(), u, s.id, s.course_id, 'student'
           FROM sections s, unnest($2::bigint[]) AS u WHERE s.name = 'Period 1'",
    )
    .bind(teacher)
    .bind(students)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO assignments (tenant_id, course_id, created_by_id, title, description, assignment_type,
                                  points_possible, due_at, allow_late_submission, status)
         SELECT current_tenant_id(), c, $1, a.title, a.description, a.kind, a.points,
                now() + a.due_days * interval '1 day', a.late, a.status
           FROM unnest($2::bigint[]) AS c,
                (VALUES ('Week 1 reflection', 'What did you learn this week?', 'homework', 10, -3, true, 'published'),
                        ('Project proposal', 'One page: your question and how you will answer it.', 'project', 20, 7, false, 'published'),
                        ('Unit test review', 'Practice problems for the unit test.', 'homework', 15, 14, false, 'draft'))
                AS a(title, description, kind, points, due_days, late, status)",
    )
    .bind(teacher)
    .bind(&course_ids)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO submissions (tenant_id, assignment_id, user_id, attempt_number, body, status, late,
                                  submitted_at, grade, feedback, graded_by_id, graded_at)
         SELECT current_tenant_id(), a.id, u, 1,
                'My reflection: I learned to check my work twice.',
                CASE WHEN u = $2 THEN 'graded' ELSE 'submitted' END, false, now() - interval '4 days',
                CASE WHEN u = $2 THEN 9 END, CASE WHEN u = $2 THEN 'Thoughtful work.' END,
                CASE WHEN u = $2 THEN $1::bigint END, CASE WHEN u = $2 THEN now() - interval '2 days' END
           FROM assignments a, unnest($3::bigint[]) AS u
          WHERE a.title = 'Week 1 reflection'",
    )
    .bind(teacher)
    .bind(students[0])
    .bind(students)
    .execute(&mut **tx)
    .await?;
    let discussions: Vec<(i64,)> = sqlx::query_as(
        "INSERT INTO discussions (tenant_id, course_id, created_by_id, title, description, pinned)
         SELECT current_tenant_id(), c, $1, 'Welcome! Introduce yourself', 'Tell us one thing you are curious about.', true
           FROM unnest($2::bigint[]) AS c RETURNING id",
    )
    .bind(teacher)
    .bind(&course_ids)
    .fetch_all(&mut **tx)
    .await?;
    for (discussion,) in discussions {
        let (top,): (i64,) = sqlx::query_as(
            "INSERT INTO discussion_posts (tenant_id, discussion_id, created_by_id, content)
             VALUES (current_tenant_id(), $1, $2, 'Welcome, everyone! I am curious about how bridges carry weight.')
             RETURNING id",
        )
        .bind(discussion)
        .bind(teacher)
        .fetch_one(&mut **tx)
        .await?;
        let (reply,): (i64,) = sqlx::query_as(
            "INSERT INTO discussion_posts (tenant_id, discussion_id, created_by_id, parent_post_id, content)
             VALUES (current_tenant_id(), $1, $2, $3, 'Hi! I want to know why the sky is blue.') RETURNING id",
        )
        .bind(discussion)
        .bind(students[0])
        .bind(top)
        .fetch_one(&mut **tx)
        .await?;
        sqlx::query(
            "INSERT INTO discussion_posts (tenant_id, discussion_id, created_by_id, parent_post_id, content)
             VALUES (current_tenant_id(), $1, $2, $3, 'Me too! Maybe it is about light?')",
        )
        .bind(discussion)
        .bind(students[students.len() - 1])
        .bind(reply)
        .execute(&mut **tx)
        .await?;
    }
    let (bank,): (i64,) = sqlx::query_as(
        "INSERT INTO question_banks (tenant_id, created_by_id, title, subject, grade_level)
         VALUES (current_tenant_id(), $1, 'Fractions check-in', 'Mathematics', $2) RETURNING id",
    )
    .bind(teacher)
    .bind(grade)
    .fetch_one(&mut **tx)
    .await?;
    sqlx::query(
        r#"INSERT INTO questions (tenant_id, question_bank_id, type, prompt, choices, correct_answer, points, position)
           VALUES (current_tenant_id(), $1, 'multiple_choice', 'Which fraction equals 1/2?',
                   '[{"id": "a", "text": "2/4"}, {"id": "b", "text": "1/3"}, {"id": "c", "text": "3/4"}]', '"a"', 1, 1),
                  (current_tenant_id(), $1, 'multiple_choice', 'What is 1/4 + 1/4?',
                   '[{"id": "a", "text": "1/8"}, {"id": "b", "text": "1/2"}, {"id": "c", "text": "2/8"}]', '"b"', 1, 2),
                  (current_tenant_id(), $1, 'true_false', '3/3 is equal to 1.', '[]', 'true', 1, 3),
                  (current_tenant_id(), $1, 'short_answer', 'Explain how you compare two fractions.', '[]', NULL, 2, 4)"#,
    )
    .bind(bank)
    .execute(&mut **tx)
    .await?;
    let (quiz,): (i64,) = sqlx::query_as(
        "INSERT INTO quizzes (tenant_id, course_id, created_by_id, title, instructions, time_limit_minutes,
                              attempts_allowed, due_at, status)
         VALUES (current_tenant_id(), $1, $2, 'Fractions quiz', 'Answer every question.', 20, 2,
                 now() + interval '10 days', 'published') RETURNING id",
    )
    .bind(course_ids[0])
    .bind(teacher)
    .fetch_one(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO quiz_items (tenant_id, quiz_id, question_id, position, points)
         SELECT current_tenant_id(), $1, id, position, points FROM questions WHERE question_bank_id = $2",
    )
    .bind(quiz)
    .bind(bank)
    .execute(&mut **tx)
    .await?;
    let (attempt,): (i64,) = sqlx::query_as(
        "INSERT INTO quiz_attempts (tenant_id, quiz_id, user_id, attempt_number, status, started_at,
                                    submitted_at, score)
         VALUES (current_tenant_id(), $1, $2, 1, 'submitted', now() - interval '1 day',
                 now() - interval '1 day' + interval '12 minutes', 2) RETURNING id",
    )
    .bind(quiz)
    .bind(students[0])
    .fetch_one(&mut **tx)
    .await?;
    sqlx::query(
        r#"INSERT INTO attempt_answers (tenant_id, quiz_attempt_id, question_id, answer, correct, points_awarded)
           SELECT current_tenant_id(), $1, q.id,
                  CASE q.position WHEN 1 THEN '"a"' WHEN 2 THEN '"c"' WHEN 3 THEN 'true'
                       ELSE '"Make the denominators the same."' END::jsonb,
                  CASE q.position WHEN 1 THEN true WHEN 2 THEN false WHEN 3 THEN true END,
                  CASE q.position WHEN 1 THEN 1 WHEN 2 THEN 0 WHEN 3 THEN 1 END
             FROM questions q WHERE q.question_bank_id = $2"#,
    )
    .bind(attempt)
    .bind(bank)
    .execute(&mut **tx)
    .await?;
    let (framework,): (i64,) = sqlx::query_as(
        "INSERT INTO standard_frameworks (tenant_id, name, jurisdiction, subject, version)
         VALUES (current_tenant_id(), 'Demo Math Standards', 'Demo State', 'Mathematics', '2026') RETURNING id",
    )
    .fetch_one(&mut **tx)
    .await?;
    let (domain,): (i64,) = sqlx::query_as(
        "INSERT INTO standards (tenant_id, standard_framework_id, code, description, grade_band)
         VALUES (current_tenant_id(), $1, 'NF', 'Number and operations: fractions', $2) RETURNING id",
    )
    .bind(framework)
    .bind(grade)
    .fetch_one(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO standards (tenant_id, standard_framework_id, parent_id, code, description, grade_band)
         VALUES (current_tenant_id(), $1, $2, 'NF.1', 'Explain why fractions are equivalent', $3),
                (current_tenant_id(), $1, $2, 'NF.2', 'Compare two fractions with different denominators', $3)",
    )
    .bind(framework)
    .bind(domain)
    .bind(grade)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO assignment_standards (tenant_id, assignment_id, standard_id)
         SELECT current_tenant_id(), a.id, s.id FROM assignments a, standards s
          WHERE a.course_id = $1 AND a.title = 'Project proposal' AND s.code = 'NF.2'",
    )
    .bind(course_ids[0])
    .execute(&mut **tx)
    .await?;
    Ok(())
}
