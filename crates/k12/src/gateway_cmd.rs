//! `k12 gateway`: the AI gateway process (configuration from its environment; see the
//! README "AI gateway"). Stops on Ctrl-C or SIGTERM.

use anyhow::Context;

pub async fn run() -> anyhow::Result<()> {
    let config = gateway::Config::from_lookup(|k| std::env::var(k).ok())?;
    gateway::log_providers(&config);
    // The safety pipeline is compiled once (a quarter of a second), before the first call.
    let router = tokio::task::spawn_blocking({
        let config = config.clone();
        move || gateway::router(&config)
    })
    .await??;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("K12_GATEWAY_LISTEN: cannot listen on {}", config.listen))?;
    tracing::info!(listen = %listener.local_addr()?, "AI gateway listening");
    gateway::serve(listener, router, crate::shutdown_signal()).await?;
    Ok(())
}
