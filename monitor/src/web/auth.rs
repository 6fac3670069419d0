//! The web port's token rule, in one place.
//!
//! With a token configured (the monitor's `--token-file`), every route except the page
//! shell (`GET /`) and its script and style (`/static/...`) needs the token:
//! `/monitor/status`, `/monitor/events`, `/monitor/plot/...`, `/monitor/history`,
//! `/monitor/frames`, `/monitor/frame/...`, `/metrics`, `POST /monitor/command` and the REST
//! API (`/api/v1/...`). It is given either as the header `X-Labwire-Token: <token>` or
//! `Authorization: Bearer <token>` (scripts, curl) or as the cookie
//! `labwire_token=<token>`, percent-encoded, which the
//! page's script sets once the user has typed the token (an `EventSource` or an `<img>`
//! cannot send a header). The cookie is `SameSite=Strict`, so another site's page never
//! sends it. Without the token the answer is 401 and names what is missing.
//!
//! [`require_token`] is the layer on the read routes; the command route calls [`check`]
//! itself, after its same-origin checks, so that its refusals are counted with the others.

use super::{failure, Web};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use labwire_daemon::server::constant_time_eq;
use std::sync::Arc;

pub const HEADER: &str = "x-labwire-token";
pub const COOKIE: &str = "labwire_token";

/// Whether `headers` carry the web port's token (always, when none is configured).
pub fn check(web: &Web, headers: &HeaderMap) -> Result<(), &'static str> {
    let Some(expected) = web.token.as_deref() else {
        return Ok(());
    };
    match presented(headers) {
        None => Err("this monitor needs its token: header Authorization: Bearer <token>, header X-Labwire-Token or cookie labwire_token"),
        Some(given) if is_token(expected, &given) => Ok(()),
        Some(_) => Err("wrong token"),
    }
}

/// Whether `given` is the `expected` token, compared in constant time: the rule of the
/// web port and of commands over MQTT.
pub fn is_token(expected: &str, given: &str) -> bool {
    constant_time_eq(given.as_bytes(), expected.as_bytes())
}

/// The layer on every read route: 401 without the token.
pub async fn require_token(State(web): State<Arc<Web>>, request: Request, next: Next) -> Response {
    match check(&web, request.headers()) {
        Ok(()) => next.run(request).await,
        Err(why) => failure(StatusCode::UNAUTHORIZED, why),
    }
}

/// The token a request presents: the header first, then `Authorization: Bearer` (the
/// REST API's users' habit), else the cookie.
fn presented(headers: &HeaderMap) -> Option<String> {
    if let Some(value) = headers.get(HEADER) {
        return value.to_str().ok().map(str::to_owned);
    }
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_string());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .find_map(|cookie| {
            let (name, value) = cookie.trim().split_once('=')?;
            (name == COOKIE).then(|| percent_decode(value))?
        })
}

/// `%XX` escapes as `encodeURIComponent` writes them; `None` for a malformed escape or
/// text that is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_percent_decoded() {
        assert_eq!(percent_decode("a%20b%3D%25").as_deref(), Some("a b=%"));
        assert_eq!(percent_decode("%C3%A9").as_deref(), Some("é"));
        assert_eq!(percent_decode("bad%2"), None);
        assert_eq!(percent_decode("bad%zz"), None);
        assert_eq!(percent_decode("%FF"), None);
    }

    #[test]
    fn the_header_wins_over_the_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "other=1; labwire_token=s%3Bx".parse().unwrap(),
        );
        assert_eq!(presented(&headers).as_deref(), Some("s;x"));
        headers.insert(header::AUTHORIZATION, "Bearer b".parse().unwrap());
        assert_eq!(presented(&headers).as_deref(), Some("b"));
        headers.insert(HEADER, "h".parse().unwrap());
        assert_eq!(presented(&headers).as_deref(), Some("h"));
        let mut basic = HeaderMap::new();
        basic.insert(header::AUTHORIZATION, "Basic eDp5".parse().unwrap());
        assert_eq!(presented(&basic), None, "only a bearer token is a token");
        assert_eq!(presented(&HeaderMap::new()), None);
    }
}
