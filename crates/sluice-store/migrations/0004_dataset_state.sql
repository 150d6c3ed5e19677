-- What an op keeps between runs (validators of downloaded files, archives already processed…),
-- stored with the dataset version it belongs to, so both become latest together.

ALTER TABLE dataset_versions ADD COLUMN state TEXT;

-- The counters an op reports (rows written, documents new / changed / deleted…).
ALTER TABLE attempts ADD COLUMN metrics TEXT;
