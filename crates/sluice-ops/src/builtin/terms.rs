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
            Ok(match_terms(&spec, &out)?)
        })
        .await?;
        Ok(OpOutput {
            dataset: Some(info.into()),
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
