-- Who may use the server: users with an argon2id password hash and a role, and the tokens
-- they hold (long-lived API tokens for machines, sessions from a login), stored by the
-- SHA-256 of their secret only.

CREATE TABLE users (
    name        TEXT PRIMARY KEY,
    hash        TEXT NOT NULL,
    role        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    disabled_at BIGINT
);

CREATE TABLE tokens (
    id           TEXT PRIMARY KEY,
    hash         TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    user_name    TEXT NOT NULL,
    label        TEXT NOT NULL,
    role         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX tokens_by_user ON tokens (user_name);
