//! Camera frames on the web (see [`crate::frames`]):
//!
//! | route | answer |
//! |---|---|
//! | `GET /monitor/frames?client=&before=&limit=` | JSON `{"frames": [...]}`, newest first: the index (no headers) |
//! | `GET /monitor/frame/<n>.fits` | the stored FITS file, streamed from disk |
//! | `GET /monitor/frame/<n>.png` | the preview: percentile stretch and histogram ([`crate::frames::preview`]) |
//! | `GET /monitor/frame/<n>.json` | one index entry with its header cards |
//!
//! `<n>` is the index id (`id` in the list). A malformed id or query is 400, an id not in
//! the index (or whose file is gone) 404. Index reads and previews go through the
//! [`super::blocking`] pool, so a preview being drawn never slows the command port; a full
//! pool answers 503 with `Retry-After`. The last few previews are kept, since every open
//! page asks for the same latest frame.

use super::blocking::PoolError;
use super::page::path_segment;
use super::{failure, json_response, unix_seconds, utc_millis, Web};
use crate::frames::preview::{self, PreviewOptions};
use crate::store::FrameRecord;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{json, Value as Json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Frames one list request may ask for.
pub const MAX_LIST: usize = 1000;
const DEFAULT_LIST: usize = 100;
/// Previews kept in memory (a 800 x 1000 PNG is well under a megabyte).
const CACHED_PREVIEWS: usize = 4;

/// Recently drawn previews by frame id.
#[derive(Default)]
pub struct PreviewCache(Mutex<VecDeque<(i64, Bytes)>>);

impl PreviewCache {
    fn get(&self, id: i64) -> Option<Bytes> {
        let cache = self.0.lock().expect("preview cache");
        cache
            .iter()
            .find(|(n, _)| *n == id)
            .map(|(_, png)| png.clone())
    }

    fn put(&self, id: i64, png: Bytes) {
        let mut cache = self.0.lock().expect("preview cache");
        if cache.iter().any(|(n, _)| *n == id) {
            return;
        }
        if cache.len() == CACHED_PREVIEWS {
            cache.pop_back();
        }
        cache.push_front((id, png));
    }
}

/// One index entry as the list, the page and the live events give it.
pub fn frame_json(frame: &FrameRecord) -> Json {
    let base = format!("/monitor/frame/{}", frame.id);
    let mut entry = json!({
        "id": frame.id,
        "client": frame.client,
        "time": utc_millis(frame.time),
        "time_unix": unix_seconds(frame.time),
        "frame_id": frame.frame_id,
        "date_obs": frame.date_obs,
        "exposure": frame.exposure,
        "image_type": frame.image_type,
        "object": frame.object,
        "width": frame.width,
        "height": frame.height,
        "size": frame.size,
        "file": file_name(frame),
        "fits": format!("{base}.fits"),
        "png": format!("{base}.png"),
    });
    if !frame.header.is_empty() {
        entry["header"] = json!(frame.header.lines().collect::<Vec<_>>());
    }
    entry
}

/// The stored file's own name, for downloads.
pub fn file_name(frame: &FrameRecord) -> String {
    std::path::Path::new(&frame.path).file_name().map_or_else(
        || format!("frame-{}.fits", frame.id),
        |n| n.to_string_lossy().into_owned(),
    )
}

pub async fn list(State(web): State<Arc<Web>>, RawQuery(query): RawQuery) -> Response {
    let (mut client, mut before, mut limit) = (None, None, DEFAULT_LIST);
    for (key, value) in form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes()) {
        match key.as_ref() {
            "client" => {
                if web.hub.slot(&value).is_none() {
                    return failure(StatusCode::NOT_FOUND, format!("no client named {value:?}"));
                }
                client = Some(value.into_owned());
            }
            "before" => match value.parse::<i64>() {
                Ok(id) if id > 0 => before = Some(id),
                _ => {
                    return failure(
                        StatusCode::BAD_REQUEST,
                        format!("before={value:?}: a frame id (a whole number above 0)"),
                    )
                }
            },
            "limit" => match value.parse::<usize>() {
                Ok(n) if (1..=MAX_LIST).contains(&n) => limit = n,
                _ => {
                    return failure(
                        StatusCode::BAD_REQUEST,
                        format!("limit={value:?}: a whole number from 1 to {MAX_LIST}"),
                    )
                }
            },
            "t" => {}
            other => {
                return failure(
                    StatusCode::BAD_REQUEST,
                    format!("unknown parameter {other:?}: client, before, limit"),
                )
            }
        }
    }
    let listed = web
        .blocking
        .read(move |reader| reader.frames(client.as_deref(), before, limit))
        .await;
    match listed {
        Ok(Ok(frames)) => {
            let frames: Vec<Json> = frames.iter().map(frame_json).collect();
            json_response(&json!({ "frames": frames }))
        }
        Ok(Err(err)) => failure(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
        Err(err) => pool_failure(&web, err),
    }
}

/// `<n>.fits`, `<n>.png` or `<n>.json`.
pub async fn one(State(web): State<Arc<Web>>, Path(file): Path<String>) -> Response {
    let Some((number, extension)) = file.rsplit_once('.') else {
        return failure(
            StatusCode::NOT_FOUND,
            "a frame is /monitor/frame/<n>.fits, .png or .json",
        );
    };
    if !matches!(extension, "fits" | "png" | "json") {
        return failure(
            StatusCode::NOT_FOUND,
            format!("no .{extension} of frames: .fits, .png or .json"),
        );
    }
    let id = match number.parse::<i64>() {
        Ok(id) if id > 0 && number.bytes().all(|b| b.is_ascii_digit()) => id,
        _ => {
            return failure(
                StatusCode::BAD_REQUEST,
                format!("{number:?} is not a frame id (a whole number above 0)"),
            )
        }
    };
    if extension == "png" {
        if let Some(png) = web.previews.get(id) {
            return png_response(png);
        }
    }
    let frames = web.frames.clone();
    let want_preview = extension == "png";
    let found = web
        .blocking
        .read(
            move |reader| -> Result<Option<(FrameRecord, Option<Bytes>)>, String> {
                let Some(record) = reader.frame(id).map_err(|err| err.to_string())? else {
                    return Ok(None);
                };
                let Some(path) = frames.file_of(&record).filter(|p| p.is_file()) else {
                    return Ok(None);
                };
                let png = if want_preview {
                    let (png, _) = preview::render(&path, &PreviewOptions::default())?;
                    Some(Bytes::from(png))
                } else {
                    None
                };
                Ok(Some((record, png)))
            },
        )
        .await;
    let (record, png) = match found {
        Ok(Ok(Some(found))) => found,
        Ok(Ok(None)) => return failure(StatusCode::NOT_FOUND, format!("no frame {id}")),
        Ok(Err(why)) => return failure(StatusCode::INTERNAL_SERVER_ERROR, why),
        Err(err) => return pool_failure(&web, err),
    };
    match (extension, png) {
        ("png", Some(png)) => {
            web.previews.put(id, png.clone());
            png_response(png)
        }
        ("json", _) => json_response(&frame_json(&record)),
        _ => fits_response(&web, &record).await,
    }
}

fn png_response(png: Bytes) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/png"),
            // A stored frame never changes.
            (header::CACHE_CONTROL, "private, max-age=86400, immutable"),
        ],
        png,
    )
        .into_response()
}

async fn fits_response(web: &Web, record: &FrameRecord) -> Response {
    let Some(path) = web.frames.file_of(record) else {
        return failure(StatusCode::NOT_FOUND, format!("no frame {}", record.id));
    };
    let file = match tokio::fs::File::open(&path).await {
        Ok(file) => file,
        Err(_) => return failure(StatusCode::NOT_FOUND, format!("no frame {}", record.id)),
    };
    let length = file
        .metadata()
        .await
        .map(|m| m.len())
        .unwrap_or(record.size);
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
        file,
        256 * 1024,
    ));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/fits"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=86400, immutable"),
    );
    let disposition = format!(
        "attachment; filename=\"{}\"",
        path_segment(&file_name(record))
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

fn pool_failure(web: &Web, err: PoolError) -> Response {
    if err == PoolError::Busy {
        web.counters
            .busy
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut response = failure(StatusCode::SERVICE_UNAVAILABLE, err.to_string());
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    }
    failure(StatusCode::SERVICE_UNAVAILABLE, err.to_string())
}
