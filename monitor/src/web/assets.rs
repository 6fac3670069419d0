//! The page's script and style sheet (`templates/static/`), compiled into the binary so the
//! page works with no internet access. The page links them as `/static/<file>?v=<version>`
//! with a version derived from their content, so browsers may cache them for good: a new
//! build with other content gets new URLs.

use super::failure;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::{Arc, OnceLock};

pub const SCRIPT: &str = include_str!("../../../templates/static/monitor.js");
pub const STYLE: &str = include_str!("../../../templates/static/monitor.css");
/// The views of the past: the plot builder, zoom and CSV of every plot, the state at a time.
pub const ARCHIVE_SCRIPT: &str = include_str!("../../../templates/static/archive.js");
pub const ARCHIVE_STYLE: &str = include_str!("../../../templates/static/archive.css");
/// The logbook: the log's filters and pages, the alarm history, the monitor's health.
pub const LOGBOOK_SCRIPT: &str = include_str!("../../../templates/static/logbook.js");
pub const LOGBOOK_STYLE: &str = include_str!("../../../templates/static/logbook.css");

const FILES: [(&str, &str, &str); 6] = [
    ("monitor.js", "text/javascript; charset=utf-8", SCRIPT),
    ("monitor.css", "text/css; charset=utf-8", STYLE),
    (
        "archive.js",
        "text/javascript; charset=utf-8",
        ARCHIVE_SCRIPT,
    ),
    ("archive.css", "text/css; charset=utf-8", ARCHIVE_STYLE),
    (
        "logbook.js",
        "text/javascript; charset=utf-8",
        LOGBOOK_SCRIPT,
    ),
    ("logbook.css", "text/css; charset=utf-8", LOGBOOK_STYLE),
];

/// A short hex digest of every asset (FNV-1a), for cache-busting URLs.
pub fn version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for (_, _, body) in FILES {
            for byte in body.bytes() {
                hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        format!("{:012x}", hash >> 16)
    })
}

pub async fn serve(State(_): State<Arc<super::Web>>, Path(file): Path<String>) -> Response {
    match FILES.iter().find(|(name, _, _)| *name == file) {
        Some((_, kind, body)) => (
            [
                (header::CONTENT_TYPE, *kind),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            *body,
        )
            .into_response(),
        None => failure(StatusCode::NOT_FOUND, format!("no file {file:?}")),
    }
}
