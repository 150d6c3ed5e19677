-- The scheduler's record of each slot of a pipeline's schedule: claimed before its run starts
-- (the primary key makes a slot run at most once, even with two servers on one store), or
-- skipped by the catch-up policy, or the moment the schedule was first seen.

CREATE TABLE schedule_slots (
    pipeline    TEXT NOT NULL,
    slot        BIGINT NOT NULL,
    state       TEXT NOT NULL,
    run_id      TEXT,
    skipped     BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    PRIMARY KEY (pipeline, slot)
);
