#!/usr/bin/env python3
"""The drug-mentions graph in DuckDB: the rules of README.md as one SQL script.

    duckdb_ref.py DATA_DIR OUT_JSON

Reads DATA_DIR/{drugs.csv, pubmed.csv, pubmed.json, clinical_trials.csv}, applies the rules of
README.md and writes the graph (a JSON array, one object per drug, sorted by drug name) to
OUT_JSON, equal to pandas_ref.py's under compare.py. Written the way a DuckDB user would write
it: read_csv / read_text, SQL macros for the cleaning, unnest + join for the mentions, ordered
list() aggregates for the per-drug lists, COPY ... (FORMAT json) for the output. Every rule is
plain SQL, the \\xNN escape decoding included (split on the escape runs, unhex + decode each
run, try() turning invalid UTF-8 into NULL), so no Python UDF is needed. Python only binds the
paths, runs the script and logs the counts.
"""

import os
import sys
import time

import duckdb

# The characters Python's str.isspace() accepts, i.e. what pandas' .str.strip() trims
# (DuckDB's one-argument trim() trims spaces only).
WHITESPACE = "".join(map(chr, [
    0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x85, 0xA0, 0x1680,
    *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000]))

# One DuckDB script; getvariable('data') is the data folder, getvariable('out') the output
# file, getvariable('ws') WHITESPACE. Order: the tables made by CREATE TABLE ... AS SELECT
# keep the file order (DuckDB's default preserve_insertion_order), so their rowid is the
# row's position in its file.
SCRIPT = r"""
-- ------------------------------------------------------------- cleaning (rules 1 and 3)

-- A maximal run of \xNN escapes (RE2: \\x is a backslash then x), decoded as UTF-8; an
-- invalid run (decode() fails, try() makes it NULL) becomes ''.
CREATE MACRO decode_run(run) AS
    coalesce(try(decode(unhex(replace(run, '\x', '')))), '');

-- Rule 1: each run replaced by its decoding. The text split on the runs gives one piece more
-- than there are runs; list_zip pairs piece i with run i (NULL after the last one).
CREATE MACRO decode_escapes(s) AS CASE
    WHEN contains(s, '\x') THEN array_to_string(list_transform(
        list_zip(regexp_split_to_array(s, '(?:\\x[0-9A-Fa-f]{2})+'),
                 regexp_extract_all(s, '(?:\\x[0-9A-Fa-f]{2})+')),
        lambda p: p[1] || decode_run(p[2])), '')
    ELSE s END;

-- Python's str.strip(). trim() with a set of characters is several times slower than
-- without, hence the test of the first and last characters first.
CREATE MACRO strip(s) AS CASE
    WHEN contains(getvariable('ws'), left(s, 1)) OR contains(getvariable('ws'), right(s, 1))
        THEN trim(s, getvariable('ws'))
    ELSE s END;

-- Rule 1: decode, trim, blank -> NULL.
CREATE MACRO clean(s) AS nullif(strip(decode_escapes(s)), '');

-- Rule 1: a CSV field that is missing, empty or whitespace (before decoding).
CREATE MACRO blank(s) AS coalesce(strip(s) = '', true);

CREATE MACRO month_number(name) AS list_position(
    ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september',
     'october', 'november', 'december'], lower(name));

-- Rule 3: dd/mm/yyyy, yyyy-mm-dd, d Month yyyy -> yyyy-mm-dd; anything else, an unknown
-- month or an impossible day (strptime / make_date fail) is an error. (Applied to a column
-- cleaned in a subquery: a macro repeats its argument's expression at each use.)
CREATE MACRO iso_date(d) AS CASE
    WHEN d IS NULL THEN NULL
    WHEN regexp_full_match(d, '[0-9]{2}/[0-9]{2}/[0-9]{4}')
        THEN strftime(strptime(d, '%d/%m/%Y'), '%Y-%m-%d')
    WHEN regexp_full_match(d, '[0-9]{4}-[0-9]{2}-[0-9]{2}')
        THEN strftime(strptime(d, '%Y-%m-%d'), '%Y-%m-%d')
    WHEN regexp_full_match(d, '[0-9]{1,2} [A-Za-z]+ [0-9]{4}') THEN CASE
        WHEN month_number(split_part(d, ' ', 2)) IS NULL
            THEN error('unknown month name in date: ' || d)
        ELSE strftime(make_date(split_part(d, ' ', 3)::INTEGER,
                                month_number(split_part(d, ' ', 2)),
                                split_part(d, ' ', 1)::INTEGER), '%Y-%m-%d') END
    ELSE error('unparseable date: ' || d) END;

-- Rule 6: "gen-" + sha256("source|title|date|journal")[:12], NULL written as ''.
CREATE MACRO gen_id(source, title, date, journal) AS 'gen-' || left(sha256(concat_ws('|',
    source, coalesce(title, ''), coalesce(date, ''), coalesce(journal, ''))), 12);

-- Every field as text, as written; a short row (the last line holding only a tab) padded
-- with NULLs.
CREATE MACRO read_text_csv(path) AS TABLE
    SELECT * FROM read_csv(path, header = true, all_varchar = true, delim = ',', quote = '"',
                           escape = '"', null_padding = true);

-- ------------------------------------------------------------- inputs

-- A table's rowid is its rows' insertion order, i.e. the file order (see above).
CREATE TABLE drugs AS
    SELECT clean(atccode) AS atccode, clean(drug) AS drug
    FROM read_text_csv(getvariable('data') || '/drugs.csv')
    WHERE NOT (blank(atccode) AND blank(drug));

-- Rule 4: the rows of pubmed.csv, then the objects of pubmed.json. DuckDB's JSON functions
-- accept the trailing comma before ']' (read_json's array reader does not), so the file is
-- read as one text and parsed with from_json; a JSON number cast to VARCHAR is its decimal
-- text (rule 2).
CREATE TABLE pubmed_raw AS
    SELECT id, title, date, journal FROM read_text_csv(getvariable('data') || '/pubmed.csv')
    WHERE NOT (blank(id) AND blank(title) AND blank(date) AND blank(journal));
INSERT INTO pubmed_raw
    SELECT r.id, r.title, r.date, r.journal FROM (
        SELECT unnest(from_json(content,
            '[{"id": "VARCHAR", "title": "VARCHAR", "date": "VARCHAR", "journal": "VARCHAR"}]'))
            AS r
        FROM read_text(getvariable('data') || '/pubmed.json'));
CREATE TABLE pubmed AS
    SELECT seq, id, title, iso_date(date) AS date, journal FROM (
        SELECT rowid AS seq, clean(id) AS id, clean(title) AS title, clean(date) AS date,
               clean(journal) AS journal
        FROM pubmed_raw);
DROP TABLE pubmed_raw;

CREATE TABLE trial_rows AS
    SELECT id, title, iso_date(date) AS date, journal FROM (
        SELECT clean(id) AS id, clean(scientific_title) AS title, clean(date) AS date,
               clean(journal) AS journal
        FROM read_text_csv(getvariable('data') || '/clinical_trials.csv')
        WHERE NOT (blank(id) AND blank(scientific_title) AND blank(date) AND blank(journal)));

-- Rule 5: one trial per (title, date), NULL keys grouped together; each field the first
-- non-NULL in file order; the trial sits where its first row was.
CREATE TABLE trials AS
    SELECT min(rowid) AS seq,
           first(id ORDER BY rowid) FILTER (WHERE id IS NOT NULL) AS id,
           title, date,
           first(journal ORDER BY rowid) FILTER (WHERE journal IS NOT NULL) AS journal
    FROM trial_rows GROUP BY title, date;

-- Rule 6, and both sources in one view.
CREATE VIEW pubs AS
    SELECT 'pubmed' AS source, seq, coalesce(id, gen_id('pubmed', title, date, journal)) AS id,
           title, date, journal
    FROM pubmed
    UNION ALL
    SELECT 'clinical_trials', seq, coalesce(id, gen_id('clinical_trials', title, date, journal)),
           title, date, journal
    FROM trials;

-- ------------------------------------------------------------- mentions (rule 7)

-- The title's words: lower-cased, split on runs of anything but Unicode letters and digits
-- ('_' included), the same classes as Python's [\W_]+. Kept: the words that are a drug name,
-- once per publication; then one row per (drug, publication).
CREATE TABLE mentions AS
    WITH words AS (
        SELECT source, seq,
               unnest(regexp_split_to_array(lower(title), '[^\p{L}\p{N}]+')) AS word
        FROM pubs WHERE title IS NOT NULL),
    hits AS (
        SELECT DISTINCT source, seq, word FROM words
        WHERE word IN (SELECT lower(drug) FROM drugs WHERE drug IS NOT NULL))
    SELECT d.drug, p.*
    FROM hits h
    JOIN (SELECT drug, lower(drug) AS word FROM drugs WHERE drug IS NOT NULL) d USING (word)
    JOIN pubs p USING (source, seq);

-- ------------------------------------------------------------- graph

-- Per drug: its publications of each source sorted by (date, id), ties in file order, and
-- its distinct (journal, date) pairs. NULL sorts first; strings compare by code point
-- (DuckDB's default binary collation). Written as one JSON array, in the ORDER BY.
COPY (
    WITH lists AS (
        SELECT drug,
               list({id: id, title: title, date: date, journal: journal}
                    ORDER BY date NULLS FIRST, id NULLS FIRST, seq)
                   FILTER (WHERE source = 'pubmed') AS pubmed,
               list({id: id, title: title, date: date, journal: journal}
                    ORDER BY date NULLS FIRST, id NULLS FIRST, seq)
                   FILTER (WHERE source = 'clinical_trials') AS clinical_trials
        FROM mentions GROUP BY drug),
    journals AS (
        SELECT drug, list({journal: journal, date: date} ORDER BY journal, date NULLS FIRST)
                   AS journals
        FROM (SELECT DISTINCT drug, journal, date FROM mentions WHERE journal IS NOT NULL)
        GROUP BY drug)
    SELECT d.drug, d.atccode,
           coalesce(l.pubmed, []) AS pubmed,
           coalesce(l.clinical_trials, []) AS clinical_trials,
           coalesce(j.journals, []) AS journals
    FROM drugs d LEFT JOIN lists l USING (drug) LEFT JOIN journals j USING (drug)
    WHERE d.drug IS NOT NULL
    ORDER BY d.drug, d.rowid
) TO (getvariable('out')) (FORMAT json, ARRAY true);
"""


def log(msg, _t0=[time.perf_counter()]):
    print("[%6.2fs] %s" % (time.perf_counter() - _t0[0], msg), file=sys.stderr)


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    data_dir, out = argv[1], argv[2]
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    con = duckdb.connect()
    con.execute("SET VARIABLE data = ?", [os.path.abspath(data_dir)])
    con.execute("SET VARIABLE out = ?", [os.path.abspath(out)])
    con.execute("SET VARIABLE ws = ?", [WHITESPACE])
    con.execute(SCRIPT)

    count = lambda q: con.execute("SELECT count(*) FROM " + q).fetchone()[0]
    unnamed = count("drugs WHERE drug IS NULL")
    if unnamed:
        log("warning: %d drug row(s) without a name skipped" % unnamed)
    log("read: %d drugs, %d pubmed rows, %d trial rows -> %d trials"
        % (count("drugs") - unnamed, count("pubmed"), count("trial_rows"), count("trials")))
    log("%d publications, %d mentions" % (count("pubs"), count("mentions")))
    log("wrote %s (%d drugs)" % (out, count("drugs") - unnamed))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
