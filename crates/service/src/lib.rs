//! The otelvault HTTP application: routing, authentication, request
//! parsing and the mapping of every error to its status. What is stored
//! and how it is read belongs to the archive (`otelvault-archive`); the
//! query API's wire types to `otelvault-api`.
//!
//! One axum [`Router`] serves both the local server and the Lambda function:
//! OTLP/HTTP ingest on `/v1/{traces,metrics,logs}`, the query API on
//! `/api/{signal}/fetch` and `/api/traces/{traceId}`, and `/health`. Handlers
//! are written against `http` types only, so `lambda_http::run(router)` and
//! `axum::serve` run the same code.

pub mod auth;
mod body;
pub mod emf;
pub mod error;
pub mod forward;
pub mod grpc;
mod ingest;
pub mod query;
mod ready;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{Method, StatusCode};
use otelvault_archive::Archive;
use otelvault_codec::{Format, Signal};

pub use auth::{Auth, Scope};
pub use error::ApiError;
pub use ingest::{MAX_BODY_BYTES, MAX_DECOMPRESSED_BYTES};

/// Everything a request handler needs; built once at start.
#[derive(Debug)]
pub struct AppState {
    /// The archive ingest writes to and queries read.
    pub archive: Archive,
    /// Key checks.
    pub auth: Auth,
    /// Seals query cursors.
    pub sealer: query::cursor::CursorSealer,
    /// Places for queries running at once on this instance: every query
    /// key holder shares them.
    pub queries: Arc<tokio::sync::Semaphore>,
    /// How many places `queries` has.
    pub query_slots: usize,
    /// Memory one ingest request may take once decoded (estimated: see
    /// `otelvault_codec::cost`).
    pub max_request_bytes: usize,
    /// Work one fetch page may take ([`query::PAGE_TIME`]).
    pub page_time: std::time::Duration,
    /// Where accepted batches are also sent.
    pub forward: Option<Arc<forward::Forwarder>>,
    /// EMF output.
    pub emf: Option<Arc<emf::Emf>>,
    /// The last storage check of `/ready`.
    pub readiness: ready::Readiness,
    /// Memory all ingest requests in flight may take at once, in MiB of
    /// their decoded-size estimates: a request that does not fit waits
    /// briefly, then is answered 503 (gRPC `UNAVAILABLE`) with a retry hint.
    pub ingest_memory: Arc<tokio::sync::Semaphore>,
    /// How many MiB `ingest_memory` has.
    pub ingest_memory_mib: u32,
}

/// Queries (fetch pages, trace lookups) one instance runs at once by
/// default; more are answered 429 with `Retry-After`, so a few expensive
/// queries cannot stack up and starve ingest. A Lambda instance serves one
/// request at a time.
pub const MAX_CONCURRENT_QUERIES: usize = 4;

impl AppState {
    /// State over an open archive.
    pub fn new(archive: Archive, auth: Auth, cursor_key: &[u8; 32]) -> Self {
        AppState {
            archive,
            auth,
            sealer: query::cursor::CursorSealer::new(cursor_key),
            queries: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_QUERIES)),
            query_slots: MAX_CONCURRENT_QUERIES,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            page_time: query::PAGE_TIME,
            forward: None,
            emf: None,
            readiness: ready::Readiness::default(),
            ingest_memory: Arc::new(tokio::sync::Semaphore::new(
                DEFAULT_INGEST_MEMORY_MIB as usize,
            )),
            ingest_memory_mib: DEFAULT_INGEST_MEMORY_MIB,
        }
    }

    /// Lets ingest requests in flight take `mib` MiB at once.
    pub fn with_ingest_memory(mut self, mib: u32) -> Self {
        self.ingest_memory = Arc::new(tokio::sync::Semaphore::new(mib as usize));
        self.ingest_memory_mib = mib;
        self
    }

    /// Allows `slots` queries at once.
    pub fn with_query_slots(mut self, slots: usize) -> Self {
        self.queries = Arc::new(tokio::sync::Semaphore::new(slots));
        self.query_slots = slots;
        self
    }
}

/// Memory one ingest request may take once decoded, unless set otherwise.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 128 << 20;

/// Memory all ingest requests in flight may take, unless set otherwise.
pub const DEFAULT_INGEST_MEMORY_MIB: u32 = 512;

/// The key that seals query cursors when none is given: one derived from
/// the query keys (so every Lambda instance agrees without more
/// configuration); `None` without query keys.
pub fn derived_cursor_key(query_keys: &auth::KeySet) -> Option<[u8; 32]> {
    use sha2::{Digest, Sha256};
    if query_keys.is_empty() {
        return None;
    }
    let mut h = Sha256::new();
    h.update(b"otelvault cursor key v1");
    h.update(query_keys.fingerprint());
    Some(h.finalize().into())
}

/// A random cursor key: cursors sealed with it work only on this process.
pub fn random_cursor_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    aes_gcm::aead::rand_core::RngCore::fill_bytes(&mut aes_gcm::aead::OsRng, &mut key);
    key
}

/// What a handler reports for the request log line (and the request's
/// EMF figures).
#[derive(Debug, Clone, Default)]
pub struct RequestLog {
    /// The signal the request is about.
    pub signal: Option<Signal>,
    /// Items accepted or returned.
    pub items: usize,
    /// Items refused (partial success).
    pub rejected: i64,
    /// Objects written or read.
    pub objects: usize,
    /// Bytes of the request body.
    pub received_bytes: usize,
    /// Written by ingest.
    pub stored_bytes: usize,
    /// Read from storage by a query.
    pub read_bytes: usize,
    /// The id of the key that authorized the request.
    pub key_id: Option<String>,
    /// Internal detail of a failure, for operators only.
    pub detail: Option<String>,
    /// How forwarding went: `ok`, or why it failed.
    pub forward: Option<String>,
    /// How long the archive's writes took, in milliseconds.
    pub storage_ms: Option<f64>,
    /// How long forwarding took, in milliseconds.
    pub forward_ms: Option<f64>,
    /// A gRPC call's status (`OK`, `INVALID_ARGUMENT`, …).
    pub grpc_status: Option<&'static str>,
}

impl RequestLog {
    /// The handler's answer, with this log attached for the request log
    /// line; errors are rendered in `format`.
    pub fn attach(self, result: Result<Response, ApiError>, format: Format) -> Response {
        let mut response = result.unwrap_or_else(|e| e.into_response_as(format));
        response.extensions_mut().insert(self);
        response
    }
}

/// Stores a batch through the ingest pipeline, exactly as an OTLP request
/// carrying it would be (validation, partitions, content-addressed
/// objects, forwarding), and logs it as `source` (`xray import`, …). `Ok`
/// means it is durably stored.
pub async fn ingest_batch(
    state: &AppState,
    batch: otelvault_codec::Batch,
    source: &str,
) -> Result<otelvault_codec::ExportResponse, ApiError> {
    let started = Instant::now();
    let signal = batch.signal();
    let mut log = RequestLog {
        signal: Some(signal),
        ..Default::default()
    };
    let body = bytes::Bytes::from(batch.encode(Format::Protobuf));
    log.received_bytes = body.len();
    let result = ingest::store(
        state,
        signal,
        Format::Protobuf,
        otelvault_codec::ContentEncoding::Identity,
        body,
        &mut log,
    )
    .await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let error = result.as_ref().err().map(ToString::to_string);
    let status = result
        .as_ref()
        .map_or_else(|e| e.status().as_u16(), |_| 200);
    log.emit("import", source, status, latency_ms, error.as_deref());
    result
}

/// The application router.
pub fn router(state: Arc<AppState>) -> Router {
    router_with(state, [])
}

/// Runs the body of a handler of an API given to [`router_with`] (Tempo,
/// Loki) for a request that needs a query key: the key is checked, the
/// request logged as about `signal`, and an error answered as plain text,
/// which Grafana shows as it is.
pub async fn query_api(
    state: Arc<AppState>,
    headers: http::HeaderMap,
    signal: Signal,
    body: impl AsyncFnOnce(&AppState, &mut RequestLog) -> Result<Response, ApiError>,
) -> Response {
    let mut log = RequestLog {
        signal: Some(signal),
        ..Default::default()
    };
    let result = match state.auth.check(&headers, Scope::Query) {
        Ok(key) => {
            log.key_id = key;
            body(&state, &mut log).await
        }
        Err(e) => Err(e.into()),
    };
    log.attach(
        Ok(result.unwrap_or_else(ApiError::into_text_response)),
        Format::Json,
    )
}

/// [`router`] with more APIs beside the service's own (the Tempo API,
/// `otelvault_tempo::routes`): every route shares the request log, the
/// 404 and 405 answers and the state.
pub fn router_with(
    state: Arc<AppState>,
    apis: impl IntoIterator<Item = Router<Arc<AppState>>>,
) -> Router {
    let routes = [
        ingest::routes(),
        query::routes(),
        Router::new()
            .route("/health", get(health).fallback(method_not_allowed))
            .route("/ready", get(ready::handle).fallback(method_not_allowed)),
    ];
    routes
        .into_iter()
        .chain(apis)
        .fold(Router::new(), Router::merge)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), log_request))
        .with_state(state)
}

async fn health() -> impl IntoResponse {
    (
        StatusCode::OK,
        [(http::header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
}

async fn not_found(method: Method, uri: http::Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {method} {}", uri.path()))
}

/// 405 for a known path with another method: the fallback of every route.
pub async fn method_not_allowed(method: Method, uri: http::Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!("{method} is not allowed on {}", uri.path()))
}

/// The EMF `route` of a request that matched no route.
pub const UNMATCHED: &str = "unmatched";

/// One log line per request, with what the handler reported; and the
/// request's EMF event when otelvault reports its own figures.
async fn log_request(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    // The route template, not the path a client chose: EMF dimensions are
    // billed per value, so unknown paths share one.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let path = route.clone().unwrap_or_else(|| req.uri().path().to_owned());
    let response = next.run(req).await;
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let log = response
        .extensions()
        .get::<RequestLog>()
        .cloned()
        .unwrap_or_default();
    let error = response
        .extensions()
        .get::<ApiError>()
        .map(ToString::to_string);
    log.emit(method.as_str(), &path, status, latency_ms, error.as_deref());
    if let Some(emf) = &state.emf {
        emf.request(
            &log,
            route.as_deref().unwrap_or(UNMATCHED),
            status,
            latency_ms,
        );
    }
    response
}

impl RequestLog {
    /// The request's log line: error for a 5xx, warning for a 4xx, debug
    /// for health checks, info otherwise.
    pub(crate) fn emit(
        &self,
        method: &str,
        path: &str,
        status: u16,
        latency_ms: f64,
        error: Option<&str>,
    ) {
        let log = self;
        let signal = log.signal.map(Signal::as_str);
        // Absent (None) fields are left out of the line.
        macro_rules! line {
            ($level:ident, $msg:literal) => {
                tracing::$level!(
                    %method, path, status, latency_ms, signal, items = log.items, rejected = log.rejected,
                    objects = log.objects, received_bytes = log.received_bytes, stored_bytes = log.stored_bytes, read_bytes = log.read_bytes,
                    key = log.key_id.as_deref(), grpc_status = log.grpc_status, error, detail = log.detail.as_deref(), forward = log.forward.as_deref(),
                    $msg
                )
            };
        }
        match status {
            500..=599 => line!(error, "Request failed."),
            400..=499 => line!(warn, "Request refused."),
            _ if path == "/health" => line!(debug, "Handled request."),
            _ => line!(info, "Handled request."),
        }
    }
}

#[cfg(test)]
mod tests;
