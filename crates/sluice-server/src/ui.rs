//! The web UI: one page, a script and a style sheet, bundled in the binary (it works without
//! internet). The page holds no data; everything it shows comes from the API, behind the login.

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("../ui/index.html");
const APP_JS: &str = include_str!("../ui/app.js");
const APP_CSS: &str = include_str!("../ui/app.css");

/// The headers every UI file gets: no framing by other sites, no sniffing, only this
/// server's scripts.
const SECURITY: [(header::HeaderName, &str); 3] = [
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'",
    ),
];

fn file(content_type: &'static str, body: &'static str) -> Response {
    let mut r = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    for (name, value) in SECURITY {
        r.headers_mut()
            .insert(name, header::HeaderValue::from_static(value));
    }
    r
}

/// `GET /`.
#[utoipa::path(get, path = "/", tag = "system", security(), responses(
    (status = 200, description = "The page.", body = String, content_type = "text/html; charset=utf-8"),
))]
pub async fn index() -> Response {
    file("text/html; charset=utf-8", INDEX)
}

/// `GET /ui/{file}`.
#[utoipa::path(get, path = "/ui/{file}", tag = "system", security(),
    params(("file" = String, Path, description = "`app.js` or `app.css`.")),
    responses(
        (status = 200, description = "The file.", body = String, content_type = "text/javascript; charset=utf-8"),
        (status = 404, description = "No such file.", body = crate::error::ErrorBody),
))]
pub async fn asset(Path(name): Path<String>) -> Response {
    match name.as_str() {
        "app.js" => file("text/javascript; charset=utf-8", APP_JS),
        "app.css" => file("text/css; charset=utf-8", APP_CSS),
        _ => crate::error::ApiError::NotFound(format!(
            "no file `{name}` in the web UI: app.js or app.css"
        ))
        .into_response(),
    }
}
