//! Who is calling and what they may do: users with argon2id password hashes and a role,
//! tokens (long-lived API tokens for machines, sessions from a login) stored by the SHA-256 of
//! their secret, the check of every request against the route table's role, CSRF protection
//! for requests authenticated by the session cookie, and the throttling of failed logins.

use std::collections::HashMap;
use std::net::IpAddr;
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
/// Failed logins in a row, for one name from one address, before that pair is throttled.
pub const MAX_FAILURES: u32 = 5;
/// Failed logins in a row from one address, whatever the names, before it is throttled.
pub const MAX_ADDRESS_FAILURES: u32 = 20;
/// Longest password accepted (bytes): Argon2 hashes whatever it is given.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Password hashes verified at once at most.
pub const MAX_HASHES: usize = 2;
/// Entries the throttle keeps at most; beyond, the oldest are forgotten.
pub const MAX_THROTTLE_ENTRIES: usize = 10_000;
/// A failure older than this is forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(3600);

/// What a caller may do; each role may do what the ones before it may.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
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
    // 128 bits: ids are public (lists, revocation) and must never collide.
    let mut id = [0u8; 16];
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

/// Whether `name` may be a user's name (1 to 64 of `A-Za-z0-9_-.@`).
pub fn valid_user_name(name: &str) -> bool {
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
        // The use alone: writing the whole record read above would undo a revocation
        // made since.
        store
            .apply(&[Write::TokenUsed {
                id: token.id.clone(),
                at: now,
            }])
            .await?;
    }
    Ok(Caller {
        user: user.name,
        role,
        token_id: token.id,
        by_cookie,
        csrf: None,
    })
}

/// What the throttle counts failures of.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// One name tried from one address: 30 s after [`MAX_FAILURES`] in a row, doubling.
    NameFrom(String, IpAddr),
    /// One address, whatever the names: after [`MAX_ADDRESS_FAILURES`].
    Address(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    until: Option<Instant>,
    last: Instant,
}

/// Failed logins, by name and address and by address alone. A name is locked only for the
/// addresses that failed on it, so nobody can lock a known account out for its owner; an
/// address that tries many names is locked whole. Locks last 30 s, doubling at each further
/// failure up to 16 minutes. The table holds at most [`MAX_THROTTLE_ENTRIES`] entries:
/// failures older than an hour are forgotten first, then the oldest.
#[derive(Default)]
pub struct Throttle {
    failures: Mutex<HashMap<Key, Failures>>,
}

impl Throttle {
    /// Refuses a login of `user` from `from` while the pair or the address is locked.
    pub fn check(&self, user: &str, from: IpAddr) -> ApiResult<()> {
        let Ok(map) = self.failures.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        for key in [Key::NameFrom(user.to_string(), from), Key::Address(from)] {
            if let Some(Failures {
                until: Some(until), ..
            }) = map.get(&key)
                && *until > now
            {
                return Err(ApiError::Throttled {
                    user: printable(user),
                    retry_after: (*until - now).as_secs().max(1),
                });
            }
        }
        Ok(())
    }

    /// Counts a failed login of `user` from `from`.
    pub fn failed(&self, user: &str, from: IpAddr) {
        let Ok(mut map) = self.failures.lock() else {
            return;
        };
        let now = Instant::now();
        if map.len() + 2 > MAX_THROTTLE_ENTRIES {
            map.retain(|_, f| {
                now.duration_since(f.last) < FORGET_AFTER || f.until.is_some_and(|u| u > now)
            });
        }
        while map.len() + 2 > MAX_THROTTLE_ENTRIES {
            let Some(oldest) = map
                .iter()
                .min_by_key(|(_, f)| f.last)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            map.remove(&oldest);
        }
        for (key, limit) in [
            (Key::NameFrom(user.to_string(), from), MAX_FAILURES),
            (Key::Address(from), MAX_ADDRESS_FAILURES),
        ] {
            let f = map.entry(key).or_insert(Failures {
                count: 0,
                until: None,
                last: now,
            });
            f.count += 1;
            f.last = now;
            if f.count >= limit {
                let doublings = (f.count - limit).min(5);
                f.until = Some(now + Duration::from_secs(30 << doublings));
            }
        }
    }

    /// Forgets the failures of a name from an address after a successful login.
    pub fn succeeded(&self, user: &str, from: IpAddr) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(&Key::NameFrom(user.to_string(), from));
            map.remove(&Key::Address(from));
        }
    }

    /// Entries held (for tests).
    pub fn len(&self) -> usize {
        self.failures.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A user name as logs and messages show it: at most 64 characters, control and other
/// unusual characters escaped, so a name cannot forge log lines.
pub fn printable(name: &str) -> String {
    let mut out: String = name.chars().take(64).flat_map(char::escape_debug).collect();
    if name.chars().count() > 64 {
        out.push('…');
    }
    out
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
    fn throttle_locks_a_name_for_the_failing_address_only() {
        let t = Throttle::default();
        let attacker: IpAddr = "203.0.113.9".parse().expect("ip");
        let owner: IpAddr = "198.51.100.7".parse().expect("ip");
        for _ in 0..MAX_FAILURES - 1 {
            t.failed("ada", attacker);
            assert!(t.check("ada", attacker).is_ok());
        }
        t.failed("ada", attacker);
        match t.check("ada", attacker) {
            Err(ApiError::Throttled { retry_after, .. }) => assert!(retry_after >= 29),
            other => panic!("{other:?}"),
        }
        assert!(t.check("ada", owner).is_ok(), "the owner still logs in");
        assert!(
            t.check("bob", attacker).is_ok(),
            "other names are not locked"
        );
        t.succeeded("ada", attacker);
        assert!(t.check("ada", attacker).is_ok());
    }

    #[test]
    fn an_address_trying_many_names_is_locked_and_the_table_stays_bounded() {
        let t = Throttle::default();
        let attacker: IpAddr = "203.0.113.9".parse().expect("ip");
        for i in 0..MAX_ADDRESS_FAILURES {
            assert!(t.check(&format!("u{i}"), attacker).is_ok());
            t.failed(&format!("u{i}"), attacker);
        }
        assert!(t.check("anyone", attacker).is_err());
        for i in 0..(MAX_THROTTLE_ENTRIES as u32 * 2) {
            let from = IpAddr::from([10, (i >> 16) as u8, (i >> 8) as u8, i as u8]);
            t.failed(&format!("name{i}"), from);
        }
        assert!(t.len() <= MAX_THROTTLE_ENTRIES, "{}", t.len());
    }

    #[test]
    fn names_are_escaped_and_cut_for_logs() {
        assert_eq!(printable("ada"), "ada");
        assert_eq!(printable("a\nINFO forged"), "a\\nINFO forged");
        assert_eq!(printable(&"x".repeat(1000)).chars().count(), 65);
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
