-- (a) The journal(s) that mention the most different drugs; every tie is returned.
-- Run: sluice sql --home examples/drug_mentions/.sluice --file examples/drug_mentions/questions/top_journals.sql
with counts as (
  select journal, count(distinct drug) as drugs
  from drug_mentions.mentions
  where journal is not null
  group by journal
)
select journal, drugs
from counts
where drugs = (select max(drugs) from counts)
order by journal
