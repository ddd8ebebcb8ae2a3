//! `k12 url-check`: the server's own URL guard on the command line, so an operator can
//! see why a webhook or integration URL was refused. Needs no database and no secret.

use std::process::ExitCode;

use clap::Args;

#[derive(Args, Debug)]
pub struct UrlCheckArgs {
    /// The URLs to judge.
    #[arg(required = true, value_name = "URL")]
    urls: Vec<String>,
    /// One JSON object per line: {"url", "allowed", "reason", "addresses"}.
    #[arg(long)]
    json: bool,
}

/// Exit 0 when every URL is allowed, 1 when any is refused, 2 on a configuration error.
pub async fn run(args: UrlCheckArgs) -> ExitCode {
    let development = std::env::var("K12_ENV").is_ok_and(|v| v == "development");
    let config = match egress::EgressConfig::from_lookup(|k| std::env::var(k).ok(), development) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let verdicts = match egress::check_urls(&config, &args.urls).await {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    for v in &verdicts {
        if args.json {
            match serde_json::to_string(v) {
                Ok(line) => println!("{line}"),
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            }
        } else if v.allowed {
            let addresses: Vec<String> = v.addresses.iter().map(|a| a.to_string()).collect();
            let exempt = if v.allow_listed {
                " (allow-listed)"
            } else {
                ""
            };
            println!("allowed  {}  -> {}{exempt}", v.url, addresses.join(", "));
        } else {
            let reason = v.reason.map_or("refused", |r| r.as_str());
            let why = v.reason.map_or("", |r| r.description());
            println!("refused  {}  {reason}: {why}", v.url);
        }
    }
    if verdicts.iter().all(|v| v.allowed) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
