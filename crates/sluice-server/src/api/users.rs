//! Users and their API tokens.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sluice_store::{TokenRecord, UserRecord, Write, now_micros};

use crate::App;
use crate::auth::{self, Caller, Role};
use crate::error::{ApiError, ApiResult, ErrorBody};

/// `GET /api/users`.
#[utoipa::path(get, path = "/api/users", tag = "users", responses(
    (status = 200, description = "Every user (never a password hash).", body = Vec<UserRecord>),
))]
pub async fn users(State(app): State<App>) -> ApiResult<Json<Vec<UserRecord>>> {
    Ok(Json(app.store.users().await?))
}

/// A user to create or update.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Login name: 1 to 64 letters, digits and `_-.@`.
    #[schema(pattern = "^[A-Za-z0-9_.@-]{1,64}$")]
    pub name: String,
    /// Password (8 characters at least).
    pub password: String,
    /// `viewer`, `operator` or `admin`.
    #[schema(pattern = "^(viewer|operator|admin)$")]
    pub role: String,
}

/// `POST /api/users`.
#[utoipa::path(post, path = "/api/users", tag = "users", request_body = NewUser, responses(
    (status = 201, description = "The user, created or updated.", body = UserRecord),
    (status = 400, description = "An invalid name, a password too short or too long, or an unknown role.", body = ErrorBody),
))]
pub async fn put_user(State(app): State<App>, Json(body): Json<NewUser>) -> ApiResult<Response> {
    let role = parse_role(&body.role)?;
    let user = auth::put_user(app.store.as_ref(), &body.name, &body.password, role)
        .await
        .map_err(ApiError::BadRequest)?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

fn parse_role(name: &str) -> ApiResult<Role> {
    Role::from_name(name).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "unknown role `{name}`: use {}",
            Role::NAMES.join(", ")
        ))
    })
}

/// `GET /api/tokens`: the caller's (everyone's for an admin).
#[utoipa::path(get, path = "/api/tokens", tag = "users", responses(
    (status = 200, description = "Tokens and sessions (never their secrets).", body = Vec<TokenRecord>),
))]
pub async fn tokens(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Vec<TokenRecord>>> {
    let user = (caller.role < Role::Admin).then_some(caller.user.as_str());
    Ok(Json(app.store.tokens(user).await?))
}

/// The longest life a token may be given, in days (100 years).
pub const MAX_TOKEN_DAYS: u32 = 36_500;

/// A token to create.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// What it is for.
    pub label: String,
    /// Its role (default: the user's; never above it).
    #[schema(pattern = "^(viewer|operator|admin)$")]
    pub role: Option<String>,
    /// Its user (an admin only; default the caller).
    pub user: Option<String>,
    /// Days before it expires (default: never), 1 to 36,500.
    #[schema(minimum = 1, maximum = 36500)]
    pub expires_in_days: Option<u32>,
}

/// A token just created, with its secret.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewTokenAnswer {
    /// The token.
    #[serde(flatten)]
    pub record: TokenRecord,
    /// Its secret: shown in this answer only.
    pub token: String,
}

/// `POST /api/tokens`: a new API token; its secret is in this answer only.
#[utoipa::path(post, path = "/api/tokens", tag = "users", request_body = NewToken, responses(
    (status = 201, description = "The token; its secret is in this answer only.", body = NewTokenAnswer),
    (status = 400, description = "An unknown role, or one above the user's.", body = ErrorBody),
    (status = 403, description = "Only an admin creates tokens for other users.", body = ErrorBody),
    (status = 404, description = "No such user.", body = ErrorBody),
))]
pub async fn create_token(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Json(body): Json<NewToken>,
) -> ApiResult<Response> {
    let user = body.user.unwrap_or_else(|| caller.user.clone());
    if user != caller.user && caller.role < Role::Admin {
        return Err(ApiError::Forbidden(
            "only an admin creates tokens for other users".into(),
        ));
    }
    let owner = app
        .store
        .user(&user)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no user `{user}`")))?;
    let owner_role = Role::from_name(&owner.role).unwrap_or(Role::Viewer);
    let role = match &body.role {
        Some(r) => parse_role(r)?,
        None => owner_role,
    };
    if role > owner_role {
        return Err(ApiError::BadRequest(format!(
            "a token of `{user}` cannot have the {} role: the user has {}",
            role.name(),
            owner_role.name()
        )));
    }
    let expires = match body.expires_in_days {
        Some(d @ 1..=MAX_TOKEN_DAYS) => Some(now_micros() + i64::from(d) * 86_400_000_000),
        Some(d) => {
            return Err(ApiError::BadRequest(format!(
                "`expires_in_days` must be between 1 and {MAX_TOKEN_DAYS}, not {d}"
            )));
        }
        None => None,
    };
    let (record, secret) = auth::new_token("api", &user, &body.label, role, expires);
    app.store.apply(&[Write::Token(record.clone())]).await?;
    let answer = NewTokenAnswer {
        record,
        token: secret,
    };
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `DELETE /api/tokens/{id}`.
#[utoipa::path(delete, path = "/api/tokens/{id}", tag = "users",
    params(("id" = String, Path, description = "The token's public id.")),
    responses(
        (status = 204, description = "The token is revoked."),
        (status = 404, description = "No such token of the caller's (of anyone's, for an admin).", body = ErrorBody),
))]
pub async fn revoke_token(
    State(app): State<App>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Response> {
    let user = (caller.role < Role::Admin).then_some(caller.user.as_str());
    let token = app
        .store
        .tokens(user)
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("no token `{id}` of yours")))?;
    app.store
        .apply(&[Write::Token(TokenRecord {
            revoked_at: Some(now_micros()),
            ..token
        })])
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
