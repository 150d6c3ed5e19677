-- What each task read and wrote, as its latest successful attempt reported it: the engine's
-- observation as JSON (inputs and their versions, output, schema, the op's column lineage),
-- for the catalog, `sluice lineage` and the metadata exports. One row per task.

CREATE TABLE task_lineage (
    pipeline    TEXT NOT NULL,
    task        TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    attempt     BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    facts       TEXT NOT NULL,
    PRIMARY KEY (pipeline, task)
);
