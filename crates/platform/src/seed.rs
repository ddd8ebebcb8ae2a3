//! The demo district that `k12 dev` seeds on first run: tenants `demo` and `demo-north`,
//! each with an admin, a teacher, two students and a guardian, plus one platform operator.
//! Seeding is skipped when the demo district already exists, so a second run does not
//! create duplicates.

use serde::{Deserialize, Serialize};

use crate::auth::token::random_password;
use crate::db::Db;
use crate::identity::users::{self, NewUser};
use crate::identity::Email;
use crate::tenancy::{self, Slug};

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
    crate::operators::create(
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
        let mut tx = tenancy::create_tenant(
            sys,
            Some(district),
            name,
            &Slug::parse(slug).expect("valid"),
        )
        .await?;
        sqlx::query(
            "INSERT INTO schools (tenant_id, name, timezone, address) VALUES (current_tenant_id(), $1, 'America/New_York', '1 School Lane')",
        )
        .bind(name)
        .execute(&mut *tx)
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
