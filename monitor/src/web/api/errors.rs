//! The API's answers when something is refused, and the HTTP status of a daemon's reply.
//!
//! Every refusal is JSON: `{"ok": false, "error": {"code": "...", "message": "..."}}`, the
//! code one of the protocol's (`bad_argument`, `unknown_command`, ...) or the API's own
//! (`unknown_client`, `unknown_alarm`, `unauthorized`, `forbidden`, `unsupported_media_type`,
//! `too_large`, `busy`, `not_found`).

use crate::web::json_response;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use labwire_protocol::{ErrorCode, Message};
use serde_json::json;

/// A refusal: its status, its code and a message that names the problem.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_argument", message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }

    /// A refusal of the checks the page's commands share (`command::admit`).
    pub fn refused(status: StatusCode, message: &str) -> ApiError {
        let code = match status {
            StatusCode::UNAUTHORIZED => "unauthorized",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            _ => "forbidden",
        };
        ApiError::new(status, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let document = json!({
            "ok": false,
            "error": {"code": self.code, "message": self.message},
        });
        (self.status, json_response(&document)).into_response()
    }
}

/// The status that fits a reply: 200 for any answer but `error`; for an `error`, by its
/// code (docs/rest.md, "Statuses"). An error without a known code (a CCDLab-era daemon's)
/// is the device's refusal.
pub fn status_of(reply: &Message) -> StatusCode {
    if !reply.is_error() {
        return StatusCode::OK;
    }
    let code = reply.error_code().and_then(|code| code.parse().ok());
    match code.unwrap_or(ErrorCode::DeviceError) {
        ErrorCode::Parse
        | ErrorCode::LineTooLong
        | ErrorCode::BadEncoding
        | ErrorCode::MissingArgument
        | ErrorCode::BadArgument
        | ErrorCode::OutOfRange => StatusCode::BAD_REQUEST,
        ErrorCode::UnknownCommand => StatusCode::NOT_FOUND,
        ErrorCode::DeviceError | ErrorCode::Busy => StatusCode::CONFLICT,
        ErrorCode::NotConnected => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Timeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use labwire_protocol::parse_line;

    fn status(line: &str) -> u16 {
        status_of(&parse_line(line).unwrap()).as_u16()
    }

    #[test]
    fn replies_map_to_statuses_by_their_code() {
        assert_eq!(status("ok set_voltage ch=1"), 200);
        assert_eq!(status("status hw_connected=1"), 200);
        for code in ["missing_argument", "bad_argument", "out_of_range", "parse"] {
            assert_eq!(status(&format!("error x code={code} message=m")), 400);
        }
        assert_eq!(status("error x code=unknown_command message=m"), 404);
        assert_eq!(status("error x code=device_error message=m"), 409);
        assert_eq!(status("error x code=busy message=m"), 409);
        assert_eq!(
            status("error send code=not_connected sent=0 message=m"),
            503
        );
        assert_eq!(status("error send code=timeout sent=1 message=m"), 504);
        assert_eq!(status("error x code=forbidden message=m"), 403);
        assert_eq!(status("error x code=internal message=m"), 500);
        assert_eq!(status("error x message=\"no code, a legacy daemon\""), 409);
        assert_eq!(status("error x code=made_up message=m"), 409);
    }
}
