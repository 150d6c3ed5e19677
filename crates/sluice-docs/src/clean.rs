//! `text.clean`: the document team's text normalisation as configurable steps.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use rayon::prelude::*;
use regex::Regex;
use serde::Deserialize;
use sluice_data::datafusion::arrow::array::{ArrayRef, StringBuilder};
use sluice_data::datafusion::arrow::datatypes::{DataType, Field};
use sluice_op::{Op, OpError, OpOutput, TaskContext, blocking, counters};

use crate::rows::{extend, texts};

/// One step of the normalisation, applied in the order given.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    /// Remove what `markers` matches (`pgNbr=12`, the scans' page markers).
    Markers,
    /// Unescape HTML entities (`&amp;` → `&`).
    Html,
    /// Lowercase.
    Lowercase,
    /// Keep only the runs `words` matches (`[a-z]{2,}`: digits and one-letter words go),
    /// joined by one space.
    Words,
    /// Drop the stop-words of `stopwords`.
    Stopwords,
}

fn default_steps() -> Vec<Step> {
    vec![
        Step::Markers,
        Step::Html,
        Step::Lowercase,
        Step::Words,
        Step::Stopwords,
    ]
}

fn default_column() -> String {
    "text".into()
}

fn default_output() -> String {
    "clean_text".into()
}

fn default_markers() -> String {
    r"pgNbr=\d+".into()
}

fn default_words() -> String {
    "[a-z]{2,}".into()
}

fn default_stopwords() -> String {
    "english".into()
}

/// `op: text.clean`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextClean {
    /// The task whose rows hold the text.
    pub input: String,
    /// The text column (default `text`).
    #[serde(default = "default_column")]
    pub column: String,
    /// The column added (default `clean_text`).
    #[serde(default = "default_output")]
    pub output: String,
    /// The steps, in order (default: markers, html, lowercase, words, stopwords — the seed's).
    #[serde(default = "default_steps")]
    pub steps: Vec<Step>,
    /// What `markers` removes, a regular expression (default `pgNbr=\d+`).
    #[serde(default = "default_markers")]
    pub markers: String,
    /// What `words` keeps, a regular expression (default `[a-z]{2,}`).
    #[serde(default = "default_words")]
    pub words: String,
    /// The stop-words `stopwords` drops: `english` (default, NLTK's list), `french`, or none.
    #[serde(default = "default_stopwords")]
    pub stopwords: String,
    /// More stop-words.
    #[serde(default)]
    pub extra_stopwords: Vec<String>,
}

/// Builds `text.clean`, compiling its expressions.
pub fn build(config: &sluice_core::Node) -> Result<Box<dyn Op>, sluice_core::DeError> {
    let op: TextClean = sluice_core::from_node(config)?;
    Cleaner::new(&op).map_err(<sluice_core::DeError as serde::de::Error>::custom)?;
    Ok(Box::new(op))
}

/// The steps, ready to run.
pub struct Cleaner {
    steps: Vec<Step>,
    markers: Regex,
    words: Regex,
    stop: HashSet<String>,
}

impl Cleaner {
    /// From the op's settings.
    pub fn new(op: &TextClean) -> Result<Cleaner, String> {
        let re = |key: &str, s: &str| {
            regex::RegexBuilder::new(s)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| format!("`{key}` is not a valid regular expression: {e}"))
        };
        let list: &[&str] = match op.stopwords.as_str() {
            "english" => ENGLISH,
            "french" => FRENCH,
            "none" => &[],
            other => {
                return Err(format!(
                    "`stopwords: {other}`: use english, french or none (and `extra_stopwords`)"
                ));
            }
        };
        Ok(Cleaner {
            steps: op.steps.clone(),
            markers: re("markers", &op.markers)?,
            words: re("words", &op.words)?,
            stop: list
                .iter()
                .map(|s| (*s).to_string())
                .chain(op.extra_stopwords.iter().cloned())
                .collect(),
        })
    }

    /// The text after every step.
    pub fn clean(&self, text: &str) -> String {
        let mut t = text.to_string();
        for step in &self.steps {
            t = match step {
                Step::Markers => self.markers.replace_all(&t, "").into_owned(),
                Step::Html => html_escape::decode_html_entities(&t).into_owned(),
                Step::Lowercase => t.to_lowercase(),
                Step::Words => self
                    .words
                    .find_iter(&t)
                    .map(|m| m.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                Step::Stopwords => t
                    .split_whitespace()
                    .filter(|w| !self.stop.contains(*w))
                    .collect::<Vec<_>>()
                    .join(" "),
            };
        }
        t
    }
}

#[async_trait]
impl Op for TextClean {
    async fn run(&self, ctx: &TaskContext) -> Result<OpOutput, OpError> {
        let op = self.clone();
        let input: PathBuf = ctx.input(&self.input)?.to_path_buf();
        let target = ctx.output()?.clone();
        blocking(move || {
            let cleaner = Cleaner::new(&op).map_err(OpError::config)?;
            let added = vec![Field::new(&op.output, DataType::Utf8, true)];
            let mut rows = 0u64;
            let info = extend(&input, &target, &added, |batch| {
                let text = texts(batch, &op.column, &op.input)?;
                let cleaned: Vec<Option<String>> = text
                    .par_iter()
                    .map(|t| t.as_deref().map(|t| cleaner.clean(t)))
                    .collect();
                let mut b = StringBuilder::new();
                for c in &cleaned {
                    b.append_option(c.as_deref());
                }
                rows += cleaned.len() as u64;
                let col: ArrayRef = Arc::new(b.finish());
                Ok(((0..batch.num_rows() as u32).collect(), vec![col]))
            })?;
            Ok(OpOutput {
                metrics: counters(&[("rows", rows)]),
                dataset: Some(info.into()),
                ..OpOutput::default()
            })
        })
        .await
    }

    fn reads(&self) -> Vec<String> {
        vec![self.input.clone()]
    }

    fn produces_dataset(&self) -> bool {
        true
    }
}

/// NLTK's English stop-words.
pub const ENGLISH: &[&str] = &[
    "i",
    "me",
    "my",
    "myself",
    "we",
    "our",
    "ours",
    "ourselves",
    "you",
    "you're",
    "you've",
    "you'll",
    "you'd",
    "your",
    "yours",
    "yourself",
    "yourselves",
    "he",
    "him",
    "his",
    "himself",
    "she",
    "she's",
    "her",
    "hers",
    "herself",
    "it",
    "it's",
    "its",
    "itself",
    "they",
    "them",
    "their",
    "theirs",
    "themselves",
    "what",
    "which",
    "who",
    "whom",
    "this",
    "that",
    "that'll",
    "these",
    "those",
    "am",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "being",
    "have",
    "has",
    "had",
    "having",
    "do",
    "does",
    "did",
    "doing",
    "a",
    "an",
    "the",
    "and",
    "but",
    "if",
    "or",
    "because",
    "as",
    "until",
    "while",
    "of",
    "at",
    "by",
    "for",
    "with",
    "about",
    "against",
    "between",
    "into",
    "through",
    "during",
    "before",
    "after",
    "above",
    "below",
    "to",
    "from",
    "up",
    "down",
    "in",
    "out",
    "on",
    "off",
    "over",
    "under",
    "again",
    "further",
    "then",
    "once",
    "here",
    "there",
    "when",
    "where",
    "why",
    "how",
    "all",
    "any",
    "both",
    "each",
    "few",
    "more",
    "most",
    "other",
    "some",
    "such",
    "no",
    "nor",
    "not",
    "only",
    "own",
    "same",
    "so",
    "than",
    "too",
    "very",
    "s",
    "t",
    "can",
    "will",
    "just",
    "don",
    "don't",
    "should",
    "should've",
    "now",
    "d",
    "ll",
    "m",
    "o",
    "re",
    "ve",
    "y",
    "ain",
    "aren",
    "aren't",
    "couldn",
    "couldn't",
    "didn",
    "didn't",
    "doesn",
    "doesn't",
    "hadn",
    "hadn't",
    "hasn",
    "hasn't",
    "haven",
    "haven't",
    "isn",
    "isn't",
    "ma",
    "mightn",
    "mightn't",
    "mustn",
    "mustn't",
    "needn",
    "needn't",
    "shan",
    "shan't",
    "shouldn",
    "shouldn't",
    "wasn",
    "wasn't",
    "weren",
    "weren't",
    "won",
    "won't",
    "wouldn",
    "wouldn't",
];

/// NLTK's French stop-words.
pub const FRENCH: &[&str] = &[
    "au", "aux", "avec", "ce", "ces", "dans", "de", "des", "du", "elle", "en", "et", "eux", "il",
    "ils", "je", "la", "le", "les", "leur", "lui", "ma", "mais", "me", "même", "mes", "moi", "mon",
    "ne", "nos", "notre", "nous", "on", "ou", "par", "pas", "pour", "qu", "que", "qui", "sa", "se",
    "ses", "son", "sur", "ta", "te", "tes", "toi", "ton", "tu", "un", "une", "vos", "votre",
    "vous", "c", "d", "j", "l", "à", "m", "n", "s", "t", "y", "été", "étée", "étées", "étés",
    "étant", "étante", "étants", "étantes", "suis", "es", "est", "sommes", "êtes", "sont", "serai",
    "seras", "sera", "serons", "serez", "seront", "serais", "serait", "serions", "seriez",
    "seraient", "étais", "était", "étions", "étiez", "étaient", "fus", "fut", "fûmes", "fûtes",
    "furent", "sois", "soit", "soyons", "soyez", "soient", "fusse", "fusses", "fût", "fussions",
    "fussiez", "fussent", "ayant", "ayante", "ayantes", "ayants", "eu", "eue", "eues", "eus", "ai",
    "as", "avons", "avez", "ont", "aurai", "auras", "aura", "aurons", "aurez", "auront", "aurais",
    "aurait", "aurions", "auriez", "auraient", "avais", "avait", "avions", "aviez", "avaient",
    "eut", "eûmes", "eûtes", "eurent", "aie", "aies", "ait", "ayons", "ayez", "aient", "eusse",
    "eusses", "eût", "eussions", "eussiez", "eussent",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn op(steps: &str) -> TextClean {
        let yaml = format!("input: t\n{steps}");
        let node = sluice_core::yaml::parse(&yaml).expect("yaml");
        sluice_core::from_node(&node).expect("config")
    }

    #[test]
    fn the_seeds_normalisation() {
        let c = Cleaner::new(&op("")).expect("cleaner");
        assert_eq!(
            c.clean("pgNbr=2 Dear Sir, the R&amp;D INVOICE No. 42 is &lt;due&gt; in 3 days.\nI'm"),
            "dear sir invoice due days"
        );
    }

    #[test]
    fn steps_in_the_order_given() {
        let c = Cleaner::new(&op("steps: [lowercase]\n")).expect("cleaner");
        assert_eq!(c.clean("pgNbr=2 A&amp;B"), "pgnbr=2 a&amp;b");
        let c = Cleaner::new(&op("steps: [html, words]\nwords: '[A-Za-z]+'\n")).expect("cleaner");
        assert_eq!(c.clean("A&amp;B c1"), "A B c");
        let c = Cleaner::new(&op(
            "steps: [stopwords]\nstopwords: french\nextra_stopwords: [bis]\n",
        ))
        .expect("cleaner");
        assert_eq!(c.clean("le chat et la souris bis"), "chat souris");
    }

    #[test]
    fn bad_settings_are_named() {
        let e = Cleaner::new(&op("words: '[a-z'\n")).err().expect("refused");
        assert!(
            e.starts_with("`words` is not a valid regular expression"),
            "{e}"
        );
        let e = Cleaner::new(&op("stopwords: klingon\n"))
            .err()
            .expect("refused");
        assert_eq!(
            e,
            "`stopwords: klingon`: use english, french or none (and `extra_stopwords`)"
        );
    }
}
