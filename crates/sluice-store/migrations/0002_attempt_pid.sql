-- The process group of a `run:` attempt, so that the group of an attempt interrupted by a
-- killed sluice process can be stopped when the run is resumed or reaped.
ALTER TABLE attempts ADD COLUMN pid BIGINT;
