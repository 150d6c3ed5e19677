//! Diagnostics: what is wrong in a pipeline file, where, and what to do.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::yaml::Mark;

/// One problem found in a pipeline file.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// Where in the file.
    pub mark: Mark,
    /// The key path the problem is about (`tasks.load.retries`), empty for the whole file.
    pub key: String,
    /// What is wrong.
    pub message: String,
    /// What to do, e.g. "did you mean `retries`?".
    pub hint: Option<String>,
    /// The file the problem is in when it is not the one of its [`Diagnostics`] (a model of a
    /// dbt project).
    pub file: Option<PathBuf>,
}

impl Diagnostic {
    /// A diagnostic at `mark` about `key`.
    pub fn new(mark: Mark, key: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            mark,
            key: key.into(),
            message: message.into(),
            hint: None,
            file: None,
        }
    }

    /// Places the problem in `file` rather than its list's file.
    pub fn in_file(mut self, file: impl Into<PathBuf>) -> Self {
        self.file = Some(file.into());
        self
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds a hint if there is one.
    pub fn with_hint_opt(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}", self.message)?;
        } else {
            write!(f, "`{}`: {}", self.key, self.message)?;
        }
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

/// Every problem found in one pipeline file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct Diagnostics {
    /// The file the problems are in.
    pub file: PathBuf,
    /// The problems, sorted by position.
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Wraps diagnostics for `file`, sorted by position.
    pub fn new(file: &Path, mut items: Vec<Diagnostic>) -> Self {
        items.sort_by(|a, b| (&a.file, a.mark).cmp(&(&b.file, b.mark)));
        Diagnostics {
            file: file.to_path_buf(),
            items,
        }
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.items.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            let file = d.file.as_deref().unwrap_or(&self.file);
            write!(f, "{}:{}: error: {d}", file.display(), d.mark)?;
        }
        Ok(())
    }
}

/// Longest word (in bytes) that [`closest`] compares: the comparisons take time in the product
/// of the two lengths, and a name this long is no typo of a short one.
pub const MAX_SUGGEST_LEN: usize = 64;

/// The closest candidate to `word`, if one is close enough to be a likely typo (never for words
/// or candidates longer than [`MAX_SUGGEST_LEN`]).
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    if word.len() > MAX_SUGGEST_LEN {
        return None;
    }
    candidates
        .into_iter()
        .filter(|c| c.len() <= MAX_SUGGEST_LEN)
        .map(|c| {
            (
                c,
                strsim::jaro_winkler(word, c),
                strsim::damerau_levenshtein(word, c),
            )
        })
        .filter(|(c, jw, dl)| *jw >= 0.8 || *dl <= c.len().max(word.len()) / 3)
        .min_by(|a, b| a.2.cmp(&b.2).then(b.1.total_cmp(&a.1)))
        .map(|(c, _, _)| c)
}

/// "did you mean `x`?" for the closest candidate, if any.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    closest(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            closest("retires", ["retries", "timeout", "env"]),
            Some("retries")
        );
        assert_eq!(
            closest("tiemout", ["retries", "timeout", "env"]),
            Some("timeout")
        );
        assert_eq!(closest("zzz", ["retries", "timeout", "env"]), None);
        // Past 64 bytes nothing is compared (it took minutes for two 100 kB names).
        let long = "a".repeat(MAX_SUGGEST_LEN);
        assert_eq!(closest(&format!("{long}b"), [long.as_str()]), None);
        assert_eq!(closest(&long, [format!("{long}b").as_str()]), None);
        assert_eq!(
            closest(&format!("{}b", &long[1..]), [long.as_str()]),
            Some(long.as_str())
        );
    }
}
