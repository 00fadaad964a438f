use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::{sha256_hex, InputError, JobError, JobId};

/// What a job body may use while it runs.
#[derive(Debug, Clone)]
pub struct JobContext {
    pub job_id: JobId,
    pub attempt: u32,
    /// Fires when the job was cancelled, lost its lease or the worker is shutting down;
    /// long bodies should check it between steps.
    pub cancel: CancellationToken,
}

impl JobContext {
    pub fn detached() -> Self {
        JobContext {
            job_id: JobId::random(),
            attempt: 1,
            cancel: CancellationToken::new(),
        }
    }
}

/// A durable change a job asks for, written in the same transaction as its result, so it
/// happens exactly once even when a stale attempt also finishes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Effect {
    StoreMessage { data: String, template: String },
}

/// The successful outcome of a job body.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub result: Value,
    pub effects: Vec<Effect>,
}

impl Output {
    pub fn new(result: Value) -> Self {
        Output {
            result,
            effects: Vec::new(),
        }
    }
}

/// A kind of job: its payload type, limits and body. One implementation per kind, registered
/// once in a [`Registry`]; the rest of the system sees kinds only through [`DynKind`].
pub trait JobKind: Send + Sync + 'static {
    type Payload: Serialize + DeserializeOwned + Send + 'static;

    fn name(&self) -> &'static str;

    fn timeout(&self) -> Duration {
        Duration::from_secs(60)
    }

    fn max_attempts(&self) -> u32 {
        3
    }

    /// Heavy kinds keep whole cores busy; workers run fewer of them at once than light ones.
    fn heavy(&self) -> bool {
        false
    }

    /// Jobs of this kind with the same key and owner, submitted within the kind's dedup window,
    /// are answered with the existing job instead of a new one.
    fn dedup_key(&self, _payload: &Self::Payload) -> Option<String> {
        None
    }

    fn dedup_window(&self) -> Duration {
        Duration::ZERO
    }

    /// The SHA-256 recorded as the job's `input_sha256`: the uploaded file's for file kinds;
    /// `None` means the digest of the input JSON.
    fn content_sha256(&self, _payload: &Self::Payload) -> Option<String> {
        None
    }

    /// Whether the generic JSON submit route accepts this kind; kinds whose input is an
    /// uploaded file say no and have an upload route of their own.
    fn json_submissions(&self) -> bool {
        true
    }

    /// Whether the API may park a job of this kind in the broker while the database is
    /// unreachable, to be stored when it is back (seed 001). Only for kinds without dedup
    /// keys and whose input is all in the JSON.
    fn parks_while_database_down(&self) -> bool {
        false
    }

    /// Turns submitted JSON into a payload, refusing what can never succeed.
    fn parse(&self, input: Value) -> Result<Self::Payload, InputError> {
        serde_json::from_value(input)
            .map_err(|e| InputError::Invalid(format!("invalid {} input: {e}", self.name())))
    }

    /// Turns a command-line argument (`assay run KIND INPUT`) into submitted JSON.
    fn cli_input(&self, arg: &str) -> Result<Value, InputError> {
        serde_json::from_str(arg)
            .map_err(|e| InputError::Invalid(format!("{} expects JSON input: {e}", self.name())))
    }

    /// A short human-readable rendering of a result for the command line.
    fn describe(&self, result: &Value) -> String {
        serde_json::to_string_pretty(result).unwrap_or_default()
    }

    fn run(
        &self,
        ctx: JobContext,
        payload: Self::Payload,
    ) -> impl Future<Output = Result<Output, JobError>> + Send;
}

/// A submission after its kind accepted it: the normalised input and its dedup key.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub input: Value,
    pub input_sha256: String,
    pub dedup_key: Option<String>,
    pub dedup_window: Duration,
    pub max_attempts: u32,
}

/// The object-safe face of a [`JobKind`], working on JSON.
pub trait DynKind: Send + Sync {
    fn name(&self) -> &'static str;
    fn timeout(&self) -> Duration;
    fn heavy(&self) -> bool;
    fn json_submissions(&self) -> bool;
    fn parks_while_database_down(&self) -> bool;
    fn prepare(&self, input: Value) -> Result<Prepared, InputError>;
    fn cli_input(&self, arg: &str) -> Result<Value, InputError>;
    fn describe(&self, result: &Value) -> String;
    fn run(&self, ctx: JobContext, input: Value) -> BoxFuture<'static, Result<Output, JobError>>;
}

struct Erased<K>(Arc<K>);

impl<K: JobKind> DynKind for Erased<K> {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn timeout(&self) -> Duration {
        self.0.timeout()
    }

    fn json_submissions(&self) -> bool {
        self.0.json_submissions()
    }

    fn parks_while_database_down(&self) -> bool {
        self.0.parks_while_database_down()
    }

    fn heavy(&self) -> bool {
        self.0.heavy()
    }

    fn prepare(&self, input: Value) -> Result<Prepared, InputError> {
        let payload = self.0.parse(input)?;
        let dedup_key = self.0.dedup_key(&payload);
        let content_sha256 = self.0.content_sha256(&payload);
        let input =
            serde_json::to_value(&payload).map_err(|e| InputError::Invalid(e.to_string()))?;
        Ok(Prepared {
            input_sha256: content_sha256
                .unwrap_or_else(|| sha256_hex(input.to_string().as_bytes())),
            input,
            dedup_key,
            dedup_window: self.0.dedup_window(),
            max_attempts: self.0.max_attempts(),
        })
    }

    fn cli_input(&self, arg: &str) -> Result<Value, InputError> {
        self.0.cli_input(arg)
    }

    fn describe(&self, result: &Value) -> String {
        self.0.describe(result)
    }

    fn run(&self, ctx: JobContext, input: Value) -> BoxFuture<'static, Result<Output, JobError>> {
        let kind = Arc::clone(&self.0);
        Box::pin(async move {
            // Stored inputs were produced by `prepare`, so this only fails if a kind's payload
            // changed shape between releases: nothing a retry could fix.
            let payload = serde_json::from_value(input)
                .map_err(|e| JobError::permanent(format!("stored input no longer parses: {e}")))?;
            kind.run(ctx, payload).await
        })
    }
}

/// Every job kind this process knows, by name.
#[derive(Default, Clone)]
pub struct Registry {
    kinds: BTreeMap<&'static str, Arc<dyn DynKind>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register<K: JobKind>(&mut self, kind: K) -> &mut Self {
        self.kinds
            .insert(kind.name(), Arc::new(Erased(Arc::new(kind))));
        self
    }

    pub fn get(&self, name: &str) -> Result<&Arc<dyn DynKind>, InputError> {
        self.kinds.get(name).ok_or_else(|| InputError::UnknownKind {
            kind: name.to_owned(),
            valid: self.names().collect::<Vec<_>>().join(", "),
        })
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.kinds.keys().copied()
    }

    pub fn kinds(&self) -> impl Iterator<Item = &Arc<dyn DynKind>> + '_ {
        self.kinds.values()
    }
}
