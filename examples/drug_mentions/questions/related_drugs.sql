-- (b) For a drug, the other drugs mentioned by the same journals in PubMed articles but not in
-- clinical trials. The journals are those that mention the drug (in either source).
-- Run: sluice sql --file examples/drug_mentions/questions/related_drugs.sql --param drug=TETRACYCLINE
with journals as (
  select distinct journal
  from drug_mentions.mentions
  where drug = upper('${params.drug}') and journal is not null
)
select distinct m.drug
from drug_mentions.mentions m join journals j on m.journal = j.journal
where m.source = 'pubmed' and m.drug <> upper('${params.drug}')
except
select distinct m.drug
from drug_mentions.mentions m join journals j on m.journal = j.journal
where m.source = 'clinical_trials'
order by drug
