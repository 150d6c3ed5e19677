//! `match.terms`: finds the terms of one dataset (drug names, places, codes…) in a text
//! column of another: whole words, case-insensitive, multi-word terms allowed. One row per
//! (text, term) found: the terms' columns, then the texts' columns.

use async_trait::async_trait;
use serde::Deserialize;
use sluice_data::terms::{MatchSpec, match_terms};

use crate::{Op, OpError, OpOutput, TaskContext, blocking};

/// `op: match.terms`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchTerms {
    /// The task whose dataset holds the texts.
    pub texts: String,
    /// The text column searched.
    pub text: String,
    /// The task whose dataset holds the terms.
    pub terms: String,
    /// The column holding each term.
    pub term: String,
}

impl MatchTerms {
    /// The terms' columns, then the texts' columns, each copied; which rows there are
    /// depends on the text column and the term column.
    fn lineage(
        &self,
        out: &sluice_op::Dataset,
        terms: &sluice_data::datafusion::arrow::datatypes::Schema,
        texts: &sluice_data::datafusion::arrow::datatypes::Schema,
    ) -> sluice_op::Lineage {
        use sluice_op::lineage::{ColumnLineage, DatasetRef, How, Source, schema_fields};
        let from = terms
            .fields()
            .iter()
            .map(|f| (&self.terms, f.name()))
            .chain(texts.fields().iter().map(|f| (&self.texts, f.name())));
        let fields = schema_fields(&out.schema)
            .into_iter()
            .zip(from)
            .map(|(o, (task, column))| {
                let s = Source::new(DatasetRef::task(task), column, How::Identity);
                (o.name, vec![s])
            })
            .collect();
        sluice_op::Lineage {
            columns: vec![ColumnLineage {
                output: DatasetRef::Own,
                fields,
                dataset: vec![
                    Source::new(DatasetRef::task(&self.terms), &self.term, How::Join),
                    Source::new(DatasetRef::task(&self.texts), &self.text, How::Join),
                ],
            }],
            ..Default::default()
        }
    }
}

#[async_trait]
impl Op for MatchTerms {
    async fn run(&self, ctx: &TaskContext) -> Result<OpOutput, OpError> {
        let texts = ctx.input(&self.texts)?.to_path_buf();
        let terms = ctx.input(&self.terms)?.to_path_buf();
        let out = ctx.output()?.clone();
        let op = self.clone();
        let info = blocking(move || {
            let spec = MatchSpec {
                texts: (&texts, &op.texts),
                text_column: &op.text,
                terms: (&terms, &op.terms),
                term_column: &op.term,
            };
            let info = match_terms(&spec, &out)?;
            let terms_schema = sluice_data::export::dataset_schema(&terms)?;
            let texts_schema = sluice_data::export::dataset_schema(&texts)?;
            Ok((info, terms_schema, texts_schema))
        })
        .await?;
        let (info, terms_schema, texts_schema) = info;
        let dataset: sluice_op::Dataset = info.into();
        Ok(OpOutput {
            lineage: self.lineage(&dataset, &terms_schema, &texts_schema),
            dataset: Some(dataset),
            ..OpOutput::default()
        })
    }

    fn reads(&self) -> Vec<String> {
        vec![self.texts.clone(), self.terms.clone()]
    }

    fn produces_dataset(&self) -> bool {
        true
    }
}
