//! The monitor's web interface (docs/monitor.md, "The web page and its routes") on axum/hyper, HTTP/1.
//!
//! Layout, one module per route family:
//! - [`page`]: `GET /`, the page, rendered by askama from the repository's `templates/`
//!   (`monitor.html` around one block per client), and `GET /monitor/status`.
//! - [`blocks`]: the client blocks: built-in (`default.html`, `psu.html`, `gauge.html`, `clusterctrl.html`) or
//!   plain HTML files from `template_dir`, all fed the same generic data.
//! - [`assets`]: the page's script and style sheet, served by the monitor itself (no CDN).
//! - [`auth`]: the token rule: with a token, every route but the page shell and its
//!   assets needs it (header `X-Labwire-Token` or cookie `labwire_token`).
//! - [`events`]: `GET /monitor/events`, Server-Sent Events: status, logs, alarms.
//! - [`command`]: `POST /monitor/command`, monitor commands from the page; same-origin
//!   only, and with the command port's token when one is configured.
//! - [`api`]: the REST API, `/api/v1/...` (clients, their commands, alarms, an OpenAPI
//!   document), JSON throughout; its POSTs pass the same checks as the page's commands.
//! - [`plot`]: `GET /monitor/plot/<client>/<plot_id>`, PNGs drawn by `labwire-plot`;
//!   [`plan`]: a daemon's planned profile drawn in them.
//! - [`any_plot`]: `GET /monitor/plot?var=...`, any stored variables, one y axis per
//!   [`units`] group; [`variables`]: `GET /monitor/variables`, the stored variables to
//!   pick from; [`state_at`]: `GET /monitor/status?at=`, every variable as it was then;
//!   [`paging`]: the `offset`/`limit` of both.
//! - [`frames`]: `GET /monitor/frames` and `GET /monitor/frame/<n>.fits|.png|.json`:
//!   the stored camera frames, their index and previews.
//! - [`history`]: `GET /monitor/history`, stored samples as CSV or JSON.
//! - [`logs`]: `GET /monitor/logs`, the stored log filtered; [`alarm_history`]:
//!   `GET /monitor/alarms`, every alarm's raised, acknowledged and cleared times;
//!   [`listing`]: their pages as JSON, CSV or HTML; [`runtime`]: `GET /monitor/runtime`,
//!   the monitor's own health.
//! - [`metrics`]: `GET /metrics`, the Prometheus text exposition.
//! - [`blocking`]: the bounded pool that SQLite reads and plot rendering go through, so a
//!   slow page or plot never takes a thread the command port needs.
//! - [`series`]: plotted variables kept in memory, so a redraw reads only new samples.
//! - [`range`]: the `from`/`to` query parameters shared by plots and history.
//! - [`server`]: the connections: hyper HTTP/1 with header and idle timeouts, and a cap
//!   that closes stray sockets first.
//!
//! Every handler only reads the hub and the store (a plot with a plan also asks the daemon
//! its read-only `profile_status`, the API's document their `help`), except
//! `POST /monitor/command` and the API's POSTs: a GET never changes state. A monitor
//! listening on loopback only answers requests that name a loopback host, so a page on
//! another site cannot reach it by pointing its own name at 127.0.0.1 (DNS rebinding).

pub mod alarm_history;
pub mod any_plot;
pub mod api;
pub mod assets;
pub mod auth;
pub mod blocking;
pub mod blocks;
pub mod command;
pub mod events;
pub mod frames;
pub mod history;
pub mod listing;
pub mod logs;
pub mod metrics;
pub mod page;
pub mod paging;
pub mod plan;
pub mod plot;
pub mod range;
pub mod runtime;
pub mod series;
pub mod server;
pub mod state_at;
pub mod units;
pub mod variables;

use crate::config::{MonitorConfig, PlotConfig};
use crate::frames::Frames;
use crate::hub::Hub;
use crate::service::MonitorService;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::info;

/// Log lines the page shows on first load (newer ones arrive through the event stream).
pub const RECENT_LOGS: usize = 100;

/// What one client's block needs from the configuration.
#[derive(Clone, Debug)]
pub struct ClientPage {
    pub name: String,
    pub description: String,
    /// The block template (`default.html`, `psu.html`, a file from `template_dir`).
    pub template: blocks::BlockTemplate,
    pub plots: Vec<PlotConfig>,
}

/// A log line as the page shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct LogEntry {
    pub time: SystemTime,
    pub level: String,
    pub source: String,
    pub message: String,
}

/// Counters of the web side, for `/metrics`.
#[derive(Default)]
pub struct WebCounters {
    pub requests: AtomicU64,
    pub plots_rendered: AtomicU64,
    /// Plot and history requests answered 503 because the blocking queue was full.
    pub busy: AtomicU64,
    pub commands: AtomicU64,
    /// Command requests refused as cross-site or without the right token.
    pub commands_refused: AtomicU64,
}

/// The state every handler shares.
pub struct Web {
    pub hub: Arc<Hub>,
    /// Camera frames: stored files, their index, the latest per camera.
    pub frames: Arc<Frames>,
    previews: frames::PreviewCache,
    pub clients: Vec<ClientPage>,
    token: Option<String>,
    service: MonitorService,
    /// Shared with the command port's archive reads (`logs`).
    pub blocking: Arc<blocking::Pool>,
    pub runtime: runtime::Runtime,
    pub series: Arc<series::SeriesCache>,
    /// Commands in flight from pages (a `wait` may take minutes).
    commands: Arc<Semaphore>,
    /// Open event streams.
    subscribers: Arc<Semaphore>,
    logs: Mutex<VecDeque<LogEntry>>,
    pub counters: WebCounters,
    shutdown: CancellationToken,
    /// Listening on loopback only: then requests must name a loopback host.
    loopback: bool,
}

impl Web {
    /// The web state for `config`'s enabled clients (the hub's slots, in the same order).
    /// User templates are read from `template_dir` here, once; a client whose template
    /// cannot be read (the configuration checked that it existed) gets `default.html`, and
    /// the monitor's log says so.
    pub fn new(
        hub: Arc<Hub>,
        config: &MonitorConfig,
        token: Option<String>,
        shutdown: CancellationToken,
    ) -> Arc<Web> {
        let mut clients = Vec::new();
        let mut warnings = Vec::new();
        for slot in hub.slots() {
            let Some(client) = config.client(&slot.name) else {
                continue;
            };
            let template =
                blocks::BlockTemplate::load(&client.template, config.template_dir.as_deref())
                    .unwrap_or_else(|why| {
                        warnings.push(format!("{}: {why}; using default.html", client.name));
                        blocks::BlockTemplate::BuiltIn("default.html")
                    });
            clients.push(ClientPage {
                name: client.name.clone(),
                description: client.description.clone(),
                template,
                plots: client.plots.clone(),
            });
        }
        let blocking = Arc::new(blocking::Pool::new(
            hub.store().map(|s| s.path().to_path_buf()),
        ));
        let service =
            MonitorService::new(hub.clone(), token.is_some()).with_archive(blocking.clone());
        let frames = Arc::new(Frames::open(
            config.frames_dir(),
            hub.store().map(|s| s.path().to_path_buf()),
        ));
        let web = Arc::new(Web {
            hub,
            frames,
            previews: frames::PreviewCache::default(),
            clients,
            token,
            service,
            blocking,
            runtime: runtime::Runtime::default(),
            series: Arc::new(series::SeriesCache::new(series::BUDGET, plot::MAX_POINTS)),
            commands: Arc::new(Semaphore::new(command::MAX_IN_FLIGHT)),
            subscribers: Arc::new(Semaphore::new(events::MAX_SUBSCRIBERS)),
            logs: Mutex::new(VecDeque::with_capacity(RECENT_LOGS)),
            counters: WebCounters::default(),
            shutdown,
            loopback: config.listen.is_loopback(),
        });
        // On the page from the start: the log follower has not subscribed yet.
        for warning in warnings {
            web.hub
                .log(labwire_protocol::LogLevel::Warning, "monitor", &warning);
            web.remember_log(LogEntry {
                time: SystemTime::now(),
                level: "warning".into(),
                source: "monitor".into(),
                message: warning,
            });
        }
        web
    }

    pub fn client(&self, name: &str) -> Option<&ClientPage> {
        self.clients.iter().find(|c| c.name == name)
    }

    pub fn token_required(&self) -> bool {
        self.token.is_some()
    }

    /// The latest log lines, oldest first.
    pub fn recent_logs(&self) -> Vec<LogEntry> {
        self.logs
            .lock()
            .expect("log ring")
            .iter()
            .cloned()
            .collect()
    }

    fn remember_log(&self, entry: LogEntry) {
        let mut logs = self.logs.lock().expect("log ring");
        if logs.len() == RECENT_LOGS {
            logs.pop_front();
        }
        logs.push_back(entry);
    }

    /// Fill the log ring from the store (the previous run's last lines), then keep it
    /// current from `lines` (the hub's log stream) until shutdown. Subscribed before the
    /// read, so nothing is lost; a line could show twice only if the store committed it
    /// during the read.
    pub async fn follow_logs(self: Arc<Self>, mut lines: broadcast::Receiver<Arc<str>>) {
        let stored = self
            .blocking
            .read(|reader| reader.recent_logs(RECENT_LOGS))
            .await;
        if let Ok(Ok(records)) = stored {
            for record in records {
                self.remember_log(LogEntry {
                    time: record.time,
                    level: record.level,
                    source: record.source,
                    message: record.message,
                });
            }
        }
        loop {
            let line = tokio::select! {
                _ = self.shutdown.cancelled() => return,
                line = lines.recv() => line,
            };
            match line {
                Ok(line) => {
                    if let Some(entry) = events::log_entry(&line, SystemTime::now()) {
                        self.remember_log(entry);
                    }
                }
                // Missed lines are in the store; the page only shows the latest ones.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}

/// Every route of docs/monitor.md ("The web page and its routes"), plus the page's assets. With a token, the
/// read routes are behind [`auth::require_token`] (the rule is in [`auth`]).
pub fn router(web: Arc<Web>) -> Router {
    let read = Router::new()
        .route("/monitor/status", get(page::status))
        .route("/monitor/events", get(events::stream))
        .route("/monitor/plot/{client}/{plot_id}", get(plot::png))
        .route("/monitor/plot", get(any_plot::png))
        .route("/monitor/variables", get(variables::list))
        .route("/monitor/history", get(history::export))
        .route("/monitor/logs", get(logs::list))
        .route("/monitor/alarms", get(alarm_history::list))
        .route("/monitor/runtime", get(runtime::show))
        .route("/monitor/frames", get(frames::list))
        .route("/monitor/frame/{file}", get(frames::one))
        .route("/metrics", get(metrics::exposition))
        .layer(axum::middleware::from_fn_with_state(
            web.clone(),
            auth::require_token,
        ));
    Router::new()
        .route("/", get(page::index))
        .route("/static/{file}", get(assets::serve))
        .route("/monitor/command", post(command::run))
        .merge(read)
        .merge(api::routes(web.clone()))
        .layer(axum::middleware::from_fn_with_state(
            web.clone(),
            check_host,
        ))
        .layer(axum::middleware::map_response_with_state(
            web.clone(),
            common_headers,
        ))
        .with_state(web)
}

/// A monitor that listens on loopback only answers requests for a loopback host. A web
/// page elsewhere could otherwise point its own name at 127.0.0.1 (DNS rebinding) and
/// read the page or run commands as a same-origin page. Requests with no Host at all do
/// not come from browsers.
async fn check_host(
    axum::extract::State(web): axum::extract::State<Arc<Web>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if web.loopback {
        if let Some(host) = request.headers().get(header::HOST) {
            let allowed = host.to_str().ok().is_some_and(is_loopback_host);
            if !allowed {
                return failure(
                    StatusCode::MISDIRECTED_REQUEST,
                    "this monitor listens on loopback only: use http://127.0.0.1 or http://localhost",
                );
            }
        }
    }
    next.run(request).await
}

/// `localhost`, `*.localhost`, `127.x.x.x` or `[::1]`, with or without a port.
pub fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                name
            } else {
                host
            }
        })
    };
    let name = name.to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Headers on every answer: the page runs no inline script and loads nothing from
/// elsewhere, so even a value that slipped past escaping could not run code.
async fn common_headers(
    axum::extract::State(web): axum::extract::State<Arc<Web>>,
    mut response: Response,
) -> Response {
    web.counters.requests.fetch_add(1, Ordering::Relaxed);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// Serve the web interface on `listener` until `shutdown`; answers the bound address.
/// The server task and the log follower run on `tracker`, so the monitor's shutdown
/// waits for them.
pub fn serve(
    listener: TcpListener,
    web: Arc<Web>,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) -> io::Result<SocketAddr> {
    let bound = listener.local_addr()?;
    // Subscribed here, not in the task, so a line logged right after start-up is kept.
    tracker.spawn(web.clone().follow_logs(web.hub.subscribe_log()));
    server::spawn(listener, web, shutdown, tracker);
    info!("web page on http://{bound}/");
    Ok(bound)
}

/// The remote address of an HTTP connection (relaying `exit` needs a loopback peer).
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

/// A plain-text error answer.
pub fn failure(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message.into() + "\n",
    )
        .into_response()
}

/// A JSON answer that is never cached (it is live state).
pub fn json_response(document: &serde_json::Value) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        document.to_string(),
    )
        .into_response()
}

/// `2026-11-22T03:50:07.123Z`, and Unix seconds as JSON and CSV carry times.
pub use labwire_time::{rfc3339_millis as utc_millis, unix_seconds};

#[cfg(test)]
mod tests;
