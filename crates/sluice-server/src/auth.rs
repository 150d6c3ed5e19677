//! Who is calling and what they may do: users with argon2id password hashes and a role,
//! tokens (long-lived API tokens for machines, sessions from a login) stored by the SHA-256 of
//! their secret, the check of every request against the route table's role, CSRF protection
//! for requests authenticated by the session cookie, and the throttling of failed logins.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::http::{HeaderMap, Method, header};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sluice_store::{Micros, StateStore, TokenRecord, UserRecord, Write, now_micros};

use crate::error::{ApiError, ApiResult};

/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "sluice_session";
/// The header that carries the CSRF token on state-changing requests of a browser session.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a login session lasts.
pub const SESSION_HOURS: i64 = 12;
/// Failed logins in a row before a name is throttled.
pub const MAX_FAILURES: u32 = 5;

/// What a caller may do; each role may do what the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// No credentials needed (`/health`, the login).
    Public,
    /// Reads everything.
    Viewer,
    /// Also triggers, cancels and resumes runs.
    Operator,
    /// Also manages users and every token.
    Admin,
}

impl Role {
    /// The roles a user or token may have.
    pub const NAMES: [&'static str; 3] = ["viewer", "operator", "admin"];

    /// The role of a name.
    pub fn from_name(name: &str) -> Option<Role> {
        match name {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Public => "public",
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user.
    pub user: String,
    /// The role in effect: the token's, at most the user's.
    pub role: Role,
    /// The token used.
    pub token_id: String,
    /// True when it came from the session cookie (a browser).
    pub by_cookie: bool,
    /// The CSRF token a browser session must send with changes.
    pub csrf: Option<String>,
}

/// The argon2id hash (PHC string) of a password.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Whether `password` matches an argon2id `hash`.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// The SHA-256 of a token's secret, hex: what the store keeps.
pub fn token_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The CSRF token of a session: derived from its secret, so the server keeps nothing more
/// and a page of another site, which cannot read the cookie, cannot forge it.
pub fn csrf_token(secret: &str) -> String {
    hex::encode(Sha256::digest(format!("csrf:{secret}").as_bytes()))
}

/// A new token: its record (to store) and its secret (shown once).
pub fn new_token(
    kind: &str,
    user: &str,
    label: &str,
    role: Role,
    expires_at: Option<Micros>,
) -> (TokenRecord, String) {
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    let mut id = [0u8; 4];
    rand::thread_rng().fill_bytes(&mut id);
    let id = hex::encode(id);
    use base64::Engine as _;
    let secret = format!(
        "slc_{id}_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let record = TokenRecord {
        id,
        hash: token_hash(&secret),
        kind: kind.into(),
        user_name: user.into(),
        label: label.into(),
        role: role.name().into(),
        created_at: now_micros(),
        expires_at,
        last_used_at: None,
        revoked_at: None,
    };
    (record, secret)
}

/// Creates or updates a user with a password and a role (what `sluice user add` does).
pub async fn put_user(
    store: &dyn StateStore,
    name: &str,
    password: &str,
    role: Role,
) -> Result<UserRecord, String> {
    if !valid_user_name(name) {
        return Err(format!(
            "invalid user name `{name}`: use 1 to 64 letters, digits, `_`, `-`, `.` or `@`"
        ));
    }
    if password.chars().count() < 8 {
        return Err("the password must have at least 8 characters".into());
    }
    let hash = hash_password(password)?;
    let created_at = match store.user(name).await {
        Ok(Some(u)) => u.created_at,
        Ok(None) => now_micros(),
        Err(e) => return Err(e.to_string()),
    };
    let user = UserRecord {
        name: name.into(),
        hash,
        role: role.name().into(),
        created_at,
        disabled_at: None,
    };
    store
        .apply(&[Write::User(user.clone())])
        .await
        .map_err(|e| e.to_string())?;
    Ok(user)
}

fn valid_user_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.@".contains(c))
}

/// The secret a request carries: `Authorization: Bearer …`, else the session cookie.
fn presented_secret(headers: &HeaderMap) -> Option<(String, bool)> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let token = v.strip_prefix("Bearer ").unwrap_or_default().trim();
        return (!token.is_empty()).then(|| (token.to_string(), false));
    }
    cookie(headers, SESSION_COOKIE).map(|s| (s, true))
}

/// The value of cookie `name`.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Tokens' last use is written at most this often, not on every request.
const TOUCH_EVERY: Micros = 60_000_000;

/// Checks a request's credentials for a route that needs `needed`: 401 without valid
/// credentials, 403 without the role or (for a browser session changing something) without
/// the CSRF header.
pub async fn check(
    store: &dyn StateStore,
    method: &Method,
    headers: &HeaderMap,
    needed: Role,
) -> ApiResult<Option<Caller>> {
    if needed == Role::Public {
        return Ok(None);
    }
    let Some((secret, by_cookie)) = presented_secret(headers) else {
        return Err(ApiError::Unauthenticated(
            "authentication required: log in (POST /api/login) or send `Authorization: Bearer <token>`"
                .into(),
        ));
    };
    let mut caller = caller_of(store, &secret, by_cookie).await?;
    if by_cookie {
        caller.csrf = Some(csrf_token(&secret));
    }
    let changes = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if by_cookie && changes {
        let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        if sent != Some(csrf_token(&secret).as_str()) {
            return Err(ApiError::Forbidden(
                "missing or wrong CSRF token: send the `X-CSRF-Token` header that /api/me gives"
                    .into(),
            ));
        }
    }
    if caller.role < needed {
        return Err(ApiError::Forbidden(format!(
            "this needs the {} role; `{}` has {}",
            needed.name(),
            caller.user,
            caller.role.name()
        )));
    }
    Ok(Some(caller))
}

/// The caller a secret stands for.
pub async fn caller_of(store: &dyn StateStore, secret: &str, by_cookie: bool) -> ApiResult<Caller> {
    let invalid = || ApiError::Unauthenticated("invalid, expired or revoked token".into());
    let token = store
        .token_by_hash(&token_hash(secret))
        .await?
        .ok_or_else(invalid)?;
    let now = now_micros();
    if token.revoked_at.is_some() || token.expires_at.is_some_and(|e| e <= now) {
        return Err(invalid());
    }
    let user = store
        .user(&token.user_name)
        .await?
        .filter(|u| u.disabled_at.is_none())
        .ok_or_else(invalid)?;
    let role = Role::from_name(&token.role)
        .unwrap_or(Role::Viewer)
        .min(Role::from_name(&user.role).unwrap_or(Role::Viewer));
    if token.last_used_at.is_none_or(|t| now - t >= TOUCH_EVERY) {
        let id = token.id.clone();
        let touched = TokenRecord {
            last_used_at: Some(now),
            ..token
        };
        store.apply(&[Write::Token(touched)]).await?;
        return Ok(Caller {
            user: user.name,
            role,
            token_id: id,
            by_cookie,
            csrf: None,
        });
    }
    Ok(Caller {
        user: user.name,
        role,
        token_id: token.id,
        by_cookie,
        csrf: None,
    })
}

/// Failed logins by name: after [`MAX_FAILURES`] in a row the name is refused for 30 s,
/// doubling at each further failure up to 16 minutes, whatever the password.
#[derive(Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, (u32, Option<Instant>)>>,
}

impl Throttle {
    /// Refuses a login of `user` while it is locked.
    pub fn check(&self, user: &str) -> ApiResult<()> {
        let Ok(map) = self.failures.lock() else {
            return Ok(());
        };
        if let Some((_, Some(until))) = map.get(user) {
            let now = Instant::now();
            if *until > now {
                return Err(ApiError::Throttled {
                    user: user.into(),
                    retry_after: (*until - now).as_secs().max(1),
                });
            }
        }
        Ok(())
    }

    /// Counts a failed login; locks the name from the fifth failure in a row.
    pub fn failed(&self, user: &str) {
        let Ok(mut map) = self.failures.lock() else {
            return;
        };
        let entry = map.entry(user.to_string()).or_insert((0, None));
        entry.0 += 1;
        if entry.0 >= MAX_FAILURES {
            let doublings = (entry.0 - MAX_FAILURES).min(5);
            entry.1 = Some(Instant::now() + Duration::from_secs(30 << doublings));
        }
    }

    /// Forgets the failures of a name after a successful login.
    pub fn succeeded(&self, user: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(user);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_tokens() {
        let hash = hash_password("correct horse").expect("hash");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
        let (record, secret) = new_token("api", "ada", "ci", Role::Operator, None);
        assert!(
            secret.starts_with(&format!("slc_{}_", record.id)),
            "{secret}"
        );
        assert_eq!(record.hash, token_hash(&secret));
        assert_ne!(record.hash, secret);
        assert_eq!(record.role, "operator");
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
    }

    #[test]
    fn throttle_locks_from_the_fifth_failure() {
        let t = Throttle::default();
        for _ in 0..MAX_FAILURES - 1 {
            t.failed("ada");
            assert!(t.check("ada").is_ok());
        }
        t.failed("ada");
        match t.check("ada") {
            Err(ApiError::Throttled { retry_after, .. }) => assert!(retry_after >= 29),
            other => panic!("{other:?}"),
        }
        assert!(t.check("bob").is_ok(), "other names are not locked");
        t.succeeded("ada");
        assert!(t.check("ada").is_ok());
    }

    #[test]
    fn cookies_are_read_from_every_header() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            "a=1; sluice_session=abc".parse().expect("v"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "b"), None);
    }
}
