//! `k12 provision`: one school from the command line, through the same service as
//! `POST /api/v1/operator/provisioning/schools` (one transaction, every bad field reported
//! together). Prints the ids and the administrator's single-use setup token.

use anyhow::Context;
use clap::Args;
use platform::error::ApiError;
use platform::provisioning::{self, ProvisionSchool, Provisioner};
use platform::request::RequestMeta;

use crate::dbargs::DbArgs;

#[derive(Args, Debug)]
pub struct ProvisionArgs {
    /// The school's name.
    #[arg(long)]
    name: String,
    /// The tenant slug: 3-63 lowercase letters, digits and single hyphens.
    #[arg(long)]
    subdomain: String,
    #[arg(long)]
    admin_email: String,
    #[arg(long, default_value = "School")]
    admin_first_name: String,
    #[arg(long, default_value = "Administrator")]
    admin_last_name: String,
    /// IANA time zone.
    #[arg(long, default_value = provisioning::DEFAULT_TIMEZONE)]
    timezone: String,
    /// An https logo URL (checked by the URL guard: K12_DNS_SERVERS, K12_URL_*).
    #[arg(long)]
    logo_url: Option<String>,
    #[arg(long, default_value = provisioning::DEFAULT_PRIMARY_COLOR)]
    primary_color: String,
    #[arg(long)]
    ai_enabled: bool,
    #[arg(long)]
    google_enabled: bool,
    /// strict, moderate or standard.
    #[arg(long, default_value = "strict")]
    safety_level: String,
    /// The month (1-12) the academic year starts.
    #[arg(long, default_value_t = 8)]
    start_month: i64,
    /// The district's slug, if the school belongs to one.
    #[arg(long)]
    district: Option<String>,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    db: DbArgs,
}

pub async fn run(args: ProvisionArgs) -> anyhow::Result<()> {
    let development = std::env::var("K12_ENV").is_ok_and(|v| v == "development");
    let egress = egress::EgressConfig::from_lookup(|k| std::env::var(k).ok(), development)
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    let resolver = egress::GuardedResolver::new(&egress)?;
    let connected = args.db.connect().await?;
    let db = &connected.db;
    let district_id = match &args.district {
        None => None,
        Some(slug) => {
            let mut sys = db.system().await?;
            let row: Option<(i64,)> = sqlx::query_as("SELECT id FROM districts WHERE slug = $1")
                .bind(slug)
                .fetch_optional(&mut *sys)
                .await?;
            sys.commit().await?;
            Some(row.with_context(|| format!("no district {slug:?}"))?.0)
        }
    };
    let input = ProvisionSchool {
        school_name: Some(args.name),
        subdomain: Some(args.subdomain),
        admin_email: Some(args.admin_email),
        admin_first_name: Some(args.admin_first_name),
        admin_last_name: Some(args.admin_last_name),
        timezone: Some(args.timezone),
        logo_url: args.logo_url,
        primary_color: Some(args.primary_color),
        ai_enabled: Some(args.ai_enabled),
        google_enabled: Some(args.google_enabled),
        safety_level: Some(args.safety_level),
        academic_year_start_month: Some(args.start_month),
        district_id,
    };
    let outcome = provisioning::provision(
        db,
        &resolver,
        &input,
        Provisioner::Cli,
        &RequestMeta::default(),
    )
    .await;
    connected.finish()?;
    let p = match outcome {
        Ok(p) => p,
        Err(ApiError::Unprocessable { details, .. }) => {
            let lines: Vec<String> = details
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("  {k}: {}", v.as_str().unwrap_or_default()))
                        .collect()
                })
                .unwrap_or_default();
            anyhow::bail!("invalid fields:\n{}", lines.join("\n"));
        }
        Err(e) => anyhow::bail!("provisioning failed: {e}"),
    };
    if args.json {
        println!("{}", serde_json::to_string(&p)?);
    } else {
        println!(
            "provisioned {} (tenant {}, school {}), academic year {}",
            p.slug, p.tenant_id, p.school_id, p.academic_year.name
        );
        println!("roles: {}", p.roles.join(", "));
        println!("admin: {} (user {})", p.admin.email, p.admin.id);
        println!("setup token (single use, 48 hours):");
        println!("{}", p.setup_token);
    }
    Ok(())
}
