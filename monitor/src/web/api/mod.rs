//! The REST API under `/api/v1/` (docs/rest.md), for people who live in curl and HTTP
//! clients. Everything it answers is JSON, refusals included.
//!
//! Layout:
//! - this file: the routes, and the checks they share: a token for every route when one
//!   is configured (`Authorization: Bearer`, or as the page sends it, [`crate::web::auth`]),
//!   and for a POST the page's command checks (same-origin, `application/json`).
//! - [`clients`]: the clients' state and variables, and their commands (through the
//!   page's dispatch and the client's relay, as `send`).
//! - [`alarms`]: the alarms, and their acknowledgement (`ack`).
//! - [`openapi`]: `GET /api/v1/openapi.json`, an OpenAPI 3.1 document with every
//!   client's commands and their arguments, from the daemons' `help`.
//! - [`help`]: the daemons' `help`, asked through the relay and kept a minute.
//! - [`errors`]: the JSON refusals, and the HTTP status of a daemon's reply.

pub mod alarms;
pub mod clients;
pub mod errors;
pub mod help;
pub mod openapi;

use super::{command, Web};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Extension, Router};
use errors::ApiError;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The API's routes, merged into the web router (which adds its host check and headers).
pub fn routes(web: Arc<Web>) -> Router<Arc<Web>> {
    let read = Router::new()
        .route("/api/v1/clients", get(clients::list))
        .route("/api/v1/clients/{client}", get(clients::one))
        .route("/api/v1/alarms", get(alarms::list))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route_layer(axum::middleware::from_fn_with_state(web, require_token));
    Router::new()
        .route("/api/v1/clients/{client}/{command}", post(clients::run))
        .route("/api/v1/alarms/{name}/ack", post(alarms::ack))
        .merge(read)
        .route("/api/v1/{*rest}", any(no_route))
        .layer(Extension(Arc::new(help::HelpCache::default())))
}

/// The web port's token on a read route; the refusal in the API's JSON.
async fn require_token(State(web): State<Arc<Web>>, request: Request, next: Next) -> Response {
    match super::auth::check(&web, request.headers()) {
        Ok(()) => next.run(request).await,
        Err(why) => ApiError::refused(StatusCode::UNAUTHORIZED, why).into_response(),
    }
}

/// A POST's checks, as the page's commands pass them; refusals are counted with theirs.
fn admit(web: &Web, headers: &HeaderMap) -> Result<(), ApiError> {
    command::admit(
        web,
        headers,
        "send the arguments as application/json: {\"name\": value}",
    )
    .map_err(|(status, why)| {
        web.counters
            .commands_refused
            .fetch_add(1, Ordering::Relaxed);
        ApiError::refused(status, why)
    })
}

fn too_busy() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "busy",
        format!(
            "{} commands are already running; try again",
            command::MAX_IN_FLIGHT
        ),
    )
}

async fn no_route() -> ApiError {
    ApiError::not_found(
        "not_found",
        "no such API route; GET /api/v1/openapi.json lists them",
    )
}
