//! The job kinds a worker can run, by name.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::Value;

use super::{Job, JobContext, Permanent};

type RunFn = fn(Value, JobContext) -> BoxFuture<'static, anyhow::Result<()>>;

#[derive(Clone, Copy)]
struct Kind {
    run: RunFn,
    timeout: Duration,
}

/// Job kinds by `KIND`; a worker runs only kinds registered here (see
/// [`super::catalog::registry`]).
#[derive(Clone, Default)]
pub struct Registry {
    kinds: BTreeMap<&'static str, Kind>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.kinds.keys()).finish()
    }
}

fn run_typed<J: Job>(payload: Value, ctx: JobContext) -> BoxFuture<'static, anyhow::Result<()>> {
    Box::pin(async move {
        let job: J = serde_json::from_value(payload)
            .map_err(|e| Permanent(format!("the payload is not a valid {}: {e}", J::KIND)))?;
        job.run(&ctx).await
    })
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a kind; panics if its name is taken (two kinds with one name is a bug).
    pub fn register<J: Job>(&mut self) -> &mut Self {
        let previous = self.kinds.insert(
            J::KIND,
            Kind {
                run: run_typed::<J>,
                timeout: J::TIMEOUT,
            },
        );
        assert!(previous.is_none(), "job kind {} registered twice", J::KIND);
        self
    }

    pub fn kinds(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.kinds.keys().copied()
    }

    pub fn contains(&self, kind: &str) -> bool {
        self.kinds.contains_key(kind)
    }

    /// The attempt's future and its time limit; `None` for an unknown kind.
    pub(crate) fn start(
        &self,
        kind: &str,
        payload: Value,
        ctx: JobContext,
    ) -> Option<(BoxFuture<'static, anyhow::Result<()>>, Duration)> {
        let k = self.kinds.get(kind)?;
        Some(((k.run)(payload, ctx), k.timeout))
    }
}
