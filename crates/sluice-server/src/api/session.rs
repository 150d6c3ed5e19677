//! Logging in and out, and who calls.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sluice_store::{Write, now_micros};

use crate::App;
use crate::auth::{self, Caller, Role};
use crate::error::{ApiError, ApiResult, ErrorBody};

/// A login.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
}

/// A hash nobody's password matches, verified for unknown names so that the answer takes as
/// long as for a known one.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2x1aWNlLWR1bW15$PfZ6tcDLnAvaSxS9PeN2pOuqbYEFcJjC1C0EFX5TM6U";

/// The address a request comes from: the peer's, or for a peer on this machine (a reverse
/// proxy) the last address of `X-Forwarded-For`.
fn client_address(peer: SocketAddr, headers: &HeaderMap) -> std::net::IpAddr {
    if peer.ip().is_loopback()
        && let Some(ip) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse().ok())
    {
        return ip;
    }
    peer.ip()
}

/// A session, as a login answers it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Session {
    /// The user.
    pub user: String,
    /// The user's role.
    pub role: Role,
    /// The session's secret, also set as the `sluice_session` cookie (`HttpOnly`): a bearer
    /// token for scripts.
    pub token: String,
    /// What a browser session sends as `X-CSRF-Token` with every change.
    pub csrf: String,
    /// When the session ends (µs since the Unix epoch).
    pub expires_at: i64,
}

/// `POST /api/login`: a session (cookie and bearer token) for a user and password. The
/// fifth failure in a row for a name from one address locks that pair for 30 s (doubling
/// after), the twentieth from one address locks the address; at most
/// [`auth::MAX_HASHES`] passwords are checked at once (429 with `Retry-After` beyond).
#[utoipa::path(post, path = "/api/login", tag = "session", request_body = Login, responses(
    (status = 200, description = "A session; its secret is also set as the session cookie.", body = Session),
    (status = 400, description = "A malformed body or a password too long.", body = ErrorBody),
    (status = 401, description = "Wrong user name or password.", body = ErrorBody),
    (status = 429, description = "Too many failed logins, or too many at once: see `Retry-After`.", body = ErrorBody),
))]
pub async fn login(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(body): Json<Login>,
) -> ApiResult<Response> {
    let from = client_address(peer, &headers);
    let wrong = || ApiError::Unauthenticated("wrong user name or password".into());
    // No account has such a name: nothing to look up, hash or remember.
    if !auth::valid_user_name(&body.user) {
        tracing::warn!(
            "failed login for invalid name `{}` from {from}",
            auth::printable(&body.user)
        );
        return Err(wrong());
    }
    if body.password.len() > auth::MAX_PASSWORD_BYTES {
        return Err(ApiError::BadRequest(format!(
            "the password is longer than {} bytes",
            auth::MAX_PASSWORD_BYTES
        )));
    }
    app.throttle.check(&body.user, from)?;
    let Ok(permit) = app.hashing.clone().try_acquire_owned() else {
        return Err(ApiError::Busy {
            what: "too many logins at once".into(),
            retry_after: 1,
        });
    };
    let user = app.store.user(&body.user).await?;
    let hash = user
        .as_ref()
        .filter(|u| u.disabled_at.is_none())
        .map(|u| u.hash.clone())
        .unwrap_or_else(|| DUMMY_HASH.into());
    let password = body.password.clone();
    let ok = tokio::task::spawn_blocking(move || {
        let ok = auth::verify_password(&password, &hash);
        drop(permit);
        ok
    })
    .await
    .unwrap_or(false);
    let Some(user) = user.filter(|u| ok && u.disabled_at.is_none()) else {
        app.throttle.failed(&body.user, from);
        tracing::warn!(
            "failed login for `{}` from {from}",
            auth::printable(&body.user)
        );
        return Err(wrong());
    };
    app.throttle.succeeded(&body.user, from);
    // Sessions that ended are forgotten as new ones begin.
    app.store
        .apply(&[Write::PurgeSessions {
            before: now_micros() - 86_400_000_000,
        }])
        .await?;
    let role = Role::from_name(&user.role).unwrap_or(Role::Viewer);
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("browser");
    let label = format!(
        "login from {from} ({})",
        agent.chars().take(80).collect::<String>()
    );
    let expires = now_micros() + auth::SESSION_HOURS * 3_600_000_000;
    let (record, secret) = auth::new_token("session", &user.name, &label, role, Some(expires));
    app.store.apply(&[Write::Token(record)]).await?;
    let mut cookie = format!(
        "{}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        auth::SESSION_COOKIE,
        auth::SESSION_HOURS * 3600
    );
    let behind_tls = headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes() == b"https");
    if app.secure_cookies || behind_tls {
        cookie.push_str("; Secure");
    }
    let mut response = Json(Session {
        user: user.name,
        role,
        csrf: auth::csrf_token(&secret),
        token: secret,
        expires_at: expires,
    })
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(response)
}

/// `POST /api/logout`: revokes the session used and clears the cookie.
#[utoipa::path(post, path = "/api/logout", tag = "session", responses(
    (status = 204, description = "The session used is revoked (an API token is not)."),
))]
pub async fn logout(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Response> {
    let tokens = app.store.tokens(Some(&caller.user)).await?;
    if let Some(t) = tokens
        .into_iter()
        .find(|t| t.id == caller.token_id && t.kind == "session")
    {
        app.store
            .apply(&[Write::Token(sluice_store::TokenRecord {
                revoked_at: Some(now_micros()),
                ..t
            })])
            .await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("sluice_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    Ok(response)
}

/// Who calls.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Me {
    /// The user.
    pub user: String,
    /// The role in effect: the token's, at most the user's.
    pub role: Role,
    /// The id of the token or session used.
    pub token_id: String,
    /// The CSRF token of a browser session (none for a bearer token).
    pub csrf: Option<String>,
}

/// `GET /api/me`.
#[utoipa::path(get, path = "/api/me", tag = "session", responses(
    (status = 200, description = "The caller.", body = Me),
))]
pub async fn me(Extension(caller): Extension<Caller>) -> Json<Me> {
    Json(Me {
        user: caller.user,
        role: caller.role,
        token_id: caller.token_id,
        csrf: caller.csrf,
    })
}
