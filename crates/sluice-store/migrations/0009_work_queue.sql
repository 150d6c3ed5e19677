-- The queue of task attempts that `sluice worker` processes run (`sluice run --executor
-- workers`, `sluice serve --executor workers`). A row is one attempt: queued by the process
-- that runs the pipeline (its coordinator), claimed by one worker under a lease that the
-- worker's heartbeats renew, then done (with the attempt's outcome), lost (the lease ran out:
-- the worker stopped answering) or cancelled. A row is never claimed twice: a retry is a new
-- attempt, hence a new row; `token` fences a worker that lost its lease from recording a
-- result. `spec` (sealed with SLUICE_QUEUE_KEY when it is set; refused in clear when it holds
-- secrets) is emptied once the attempt ended. Times are the database's clock.

CREATE TABLE work_queue (
    run_id      TEXT NOT NULL,
    task        TEXT NOT NULL,
    attempt     BIGINT NOT NULL,
    pipeline    TEXT NOT NULL,
    pool        TEXT NOT NULL,
    spec        TEXT NOT NULL,
    coordinator TEXT NOT NULL,
    state       TEXT NOT NULL,
    queued_at   BIGINT NOT NULL,
    claimed_at  BIGINT,
    worker      TEXT,
    token       TEXT,
    lease_until BIGINT,
    cancel      BIGINT NOT NULL,
    outcome     TEXT,
    ended_at    BIGINT,
    collected   BIGINT NOT NULL,
    PRIMARY KEY (run_id, task, attempt)
);
CREATE INDEX work_queue_by_state ON work_queue (state, queued_at);
CREATE INDEX work_queue_by_coordinator ON work_queue (coordinator, collected);

-- The worker processes: what they offer and when they last answered.
CREATE TABLE workers (
    id           TEXT PRIMARY KEY,
    host         TEXT NOT NULL,
    pid          BIGINT NOT NULL,
    labels       TEXT NOT NULL,
    slots        BIGINT NOT NULL,
    state        TEXT NOT NULL,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);

-- Slot limits of pools: at most `slots` attempts of tasks with `pool: NAME` run at once,
-- whatever the number of workers with that label.
CREATE TABLE pools (
    name  TEXT PRIMARY KEY,
    slots BIGINT NOT NULL
);
