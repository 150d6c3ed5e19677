-- Named pointers to dataset versions (a model's `champion`): every move of an alias, kept as
-- history; an alias's current version is its latest row. A version an alias points at is
-- never removed by retention.

CREATE TABLE version_aliases (
    pipeline    TEXT NOT NULL,
    task        TEXT NOT NULL,
    alias       TEXT NOT NULL,
    version     TEXT NOT NULL,
    set_at      BIGINT NOT NULL,
    set_by      TEXT NOT NULL,
    note        TEXT
);

CREATE INDEX version_aliases_by_task ON version_aliases (pipeline, task, alias, set_at);
