-- Datasets: every materialised version of a task's output, and which version is "latest".

CREATE TABLE dataset_versions (
    pipeline    TEXT NOT NULL,
    task        TEXT NOT NULL,
    version     TEXT NOT NULL,
    path        TEXT NOT NULL,
    schema      TEXT NOT NULL,
    rows        BIGINT NOT NULL,
    bytes       BIGINT NOT NULL,
    run_id      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (pipeline, task, version)
);

CREATE TABLE datasets_latest (
    pipeline    TEXT NOT NULL,
    task        TEXT NOT NULL,
    version     TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (pipeline, task)
);
