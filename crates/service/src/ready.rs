//! `/ready`: whether the server can store what it is sent. `/health` is
//! liveness (the process answers); readiness checks the storage with one
//! cheap call, cached for [`TTL`] so that a load balancer probing every
//! second costs a storage call every few seconds, and answers 503 while
//! the store fails, so the server leaves the rotation until it is back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use crate::AppState;

/// How long a storage check answers probes.
pub const TTL: Duration = Duration::from_secs(5);

/// The last storage check: when, and how it went.
#[derive(Debug, Default)]
pub struct Readiness {
    last: tokio::sync::Mutex<Option<(Instant, Result<(), String>)>>,
}

impl Readiness {
    /// The storage check's outcome, from the cache while it is fresh; one
    /// check runs at a time, and probes meanwhile wait for its outcome.
    async fn check(&self, state: &AppState) -> Result<(), String> {
        let mut last = self.last.lock().await;
        if let Some((at, outcome)) = last.as_ref()
            && at.elapsed() < TTL
        {
            return outcome.clone();
        }
        let outcome = state.archive.store().check().await.map_err(|e| {
            tracing::warn!(error = %e, "Not ready: the storage check failed.");
            e.to_string()
        });
        *last = Some((Instant::now(), outcome.clone()));
        outcome
    }
}

pub(crate) async fn handle(State(state): State<Arc<AppState>>) -> Response {
    match state.readiness.check(&state).await {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"status":"ready"}"#,
        )
            .into_response(),
        Err(_) => {
            let mut response = (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"status":"not ready","reason":"storage unavailable"}"#,
            )
                .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            response
        }
    }
}
