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

-- What the pipeline file says of its tasks (descriptions, owners, tags, column docs), as of
-- its latest run: a JSON array, one object per task. Docs are not part of fingerprints, so a
-- change to them reaches the catalog with the next run even when every task is cached.
CREATE TABLE pipeline_docs (
    pipeline    TEXT NOT NULL PRIMARY KEY,
    recorded_at BIGINT NOT NULL,
    tasks       TEXT NOT NULL
);
