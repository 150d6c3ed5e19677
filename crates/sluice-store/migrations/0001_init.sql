-- sluice state store, version 1. One schema for SQLite and PostgreSQL: TEXT and BIGINT only.
-- Times are microseconds since the Unix epoch (UTC). Never edit an applied migration: add one.

CREATE TABLE runs (
    id          TEXT PRIMARY KEY,
    pipeline    TEXT NOT NULL,
    file        TEXT NOT NULL,
    params      TEXT NOT NULL,
    state       TEXT NOT NULL,
    trigger     TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    ended_at    BIGINT,
    pid         BIGINT,
    host        TEXT,
    error       TEXT
);
CREATE INDEX runs_by_pipeline ON runs (pipeline, started_at);
CREATE INDEX runs_by_state ON runs (state);

CREATE TABLE task_runs (
    run_id      TEXT NOT NULL,
    task        TEXT NOT NULL,
    state       TEXT NOT NULL,
    attempts    BIGINT NOT NULL,
    fingerprint TEXT,
    started_at  BIGINT,
    ended_at    BIGINT,
    error       TEXT,
    PRIMARY KEY (run_id, task)
);

CREATE TABLE attempts (
    run_id      TEXT NOT NULL,
    task        TEXT NOT NULL,
    attempt     BIGINT NOT NULL,
    state       TEXT NOT NULL,
    ready_at    BIGINT NOT NULL,
    started_at  BIGINT NOT NULL,
    ended_at    BIGINT,
    exit_code   BIGINT,
    error       TEXT,
    log_path    TEXT,
    PRIMARY KEY (run_id, task, attempt)
);

CREATE TABLE fingerprints (
    pipeline    TEXT NOT NULL,
    task        TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (pipeline, task, fingerprint)
);
