-- What an op keeps between runs (validators of downloaded files, archives already processed…),
-- stored with the dataset version it belongs to, so both become latest together.

ALTER TABLE dataset_versions ADD COLUMN state TEXT;
