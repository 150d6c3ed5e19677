//! Recursive splitting with sizes read from one tokenization of the text.
//!
//! The text is tokenized once; the size of any piece that starts and ends at a word
//! boundary is then the number of tokens that start inside it (a binary search over the
//! token offsets), so trying many candidate cuts costs nothing more. Splitting follows the
//! usual recursive scheme: a piece too large is cut at paragraph breaks, else at line breaks,
//! else after sentences, else between words, and only a word longer than the limit on its
//! own is cut between characters; consecutive pieces are then packed greedily while they fit.
//! `text-splitter` does the same but measures each candidate by tokenizing it again, which
//! made chunking 20 times slower than parsing on the service-public corpus.

use std::ops::Range;

/// How sizes are measured: the byte offsets where each unit (token, or character) starts,
/// ascending.
pub struct Measure<'a>(pub &'a [usize]);

impl Measure<'_> {
    /// The size of `text[range]`: the units that start inside it.
    pub fn size(&self, _text: &str, range: Range<usize>) -> usize {
        let lo = self.0.partition_point(|&s| s < range.start);
        let hi = self.0.partition_point(|&s| s < range.end);
        hi - lo
    }
}

/// The levels at which a piece is cut, from the coarsest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Paragraph,
    Line,
    Sentence,
    Word,
    Char,
}

const LEVELS: [Level; 5] = [
    Level::Paragraph,
    Level::Line,
    Level::Sentence,
    Level::Word,
    Level::Char,
];

/// Cut points inside `range` at `level`: each is where a new piece starts (separators stay
/// at the end of the piece before, so pieces joined back give the text).
fn cuts(text: &str, range: &Range<usize>, level: Level) -> Vec<usize> {
    let s = &text[range.clone()];
    let base = range.start;
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    match level {
        Level::Paragraph | Level::Line => {
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'\n' {
                    let mut j = i;
                    let mut newlines = 0;
                    while j < bytes.len()
                        && (bytes[j] == b'\n'
                            || bytes[j] == b'\r'
                            || bytes[j] == b' '
                            || bytes[j] == b'\t')
                    {
                        if bytes[j] == b'\n' {
                            newlines += 1;
                        }
                        j += 1;
                    }
                    let enough = if level == Level::Paragraph {
                        newlines >= 2
                    } else {
                        newlines >= 1
                    };
                    if enough && j < bytes.len() {
                        out.push(base + j);
                    }
                    i = j;
                } else {
                    i += 1;
                }
            }
        }
        Level::Sentence => {
            let mut prev: Option<char> = None;
            for (i, c) in s.char_indices() {
                if c.is_whitespace()
                    && let Some(p) = prev
                    && matches!(p, '.' | '!' | '?' | '…' | ';' | ':')
                {
                    // The next piece starts at the next non-space.
                    let next = s[i..].find(|c: char| !c.is_whitespace()).map(|k| i + k);
                    if let Some(n) = next
                        && out.last() != Some(&(base + n))
                    {
                        out.push(base + n);
                    }
                }
                prev = Some(c);
            }
        }
        Level::Word => {
            let mut in_space = false;
            for (i, c) in s.char_indices() {
                if c.is_whitespace() {
                    in_space = true;
                } else if in_space {
                    out.push(base + i);
                    in_space = false;
                }
            }
        }
        Level::Char => {
            out.extend(s.char_indices().skip(1).map(|(i, _)| base + i));
        }
    }
    out
}

/// `range` without the spaces at its ends.
fn trim(text: &str, range: Range<usize>) -> Range<usize> {
    let s = &text[range.clone()];
    let start = range.start + (s.len() - s.trim_start().len());
    let end = range.end - (s.len() - s.trim_end().len());
    start..end.max(start)
}

/// Splits `text` into ranges of at most `capacity` (a word longer than that on its own is
/// cut between characters), each trimmed; `overlap` repeats up to that much of the end of a
/// chunk at the start of the next one.
pub fn split(
    text: &str,
    measure: &Measure<'_>,
    capacity: usize,
    overlap: usize,
) -> Vec<Range<usize>> {
    let capacity = capacity.max(1);
    let overlap = overlap.min(capacity.saturating_sub(1));
    let mut pieces = Vec::new();
    atoms(
        text,
        measure,
        trim(text, 0..text.len()),
        capacity,
        0,
        &mut pieces,
    );
    pack(text, measure, &pieces, capacity, overlap)
}

/// A piece of text; the pieces of a word cut between characters share a `word` number, and
/// are packed only with each other.
struct Piece {
    range: Range<usize>,
    word: Option<usize>,
}

/// Cuts `range` into pieces that each fit, at the coarsest level that makes them fit.
fn atoms(
    text: &str,
    measure: &Measure<'_>,
    range: Range<usize>,
    capacity: usize,
    level: usize,
    out: &mut Vec<Piece>,
) {
    if range.is_empty() {
        return;
    }
    if measure.size(text, range.clone()) <= capacity || level >= LEVELS.len() {
        out.push(Piece { range, word: None });
        return;
    }
    if LEVELS[level] == Level::Char {
        let word = Some(range.start);
        let mut start = range.start;
        for p in cuts(text, &range, Level::Char)
            .into_iter()
            .chain(std::iter::once(range.end))
        {
            out.push(Piece {
                range: start..p,
                word,
            });
            start = p;
        }
        return;
    }
    let points = cuts(text, &range, LEVELS[level]);
    if points.is_empty() {
        atoms(text, measure, range, capacity, level + 1, out);
        return;
    }
    let mut start = range.start;
    for p in points.into_iter().chain(std::iter::once(range.end)) {
        let piece = start..p;
        if measure.size(text, piece.clone()) <= capacity {
            out.push(Piece {
                range: piece,
                word: None,
            });
        } else {
            atoms(text, measure, piece, capacity, level + 1, out);
        }
        start = p;
    }
}

/// Packs consecutive pieces into chunks that fit.
fn pack(
    text: &str,
    measure: &Measure<'_>,
    pieces: &[Piece],
    capacity: usize,
    overlap: usize,
) -> Vec<Range<usize>> {
    let mut chunks: Vec<Range<usize>> = Vec::new();
    let mut i = 0;
    while i < pieces.len() {
        let start = pieces[i].range.start;
        let mut j = i + 1;
        while j < pieces.len()
            && pieces[j].word == pieces[i].word
            && measure.size(text, trim(text, start..pieces[j].range.end)) <= capacity
        {
            j += 1;
        }
        let chunk = trim(text, start..pieces[j - 1].range.end);
        if !chunk.is_empty() {
            chunks.push(chunk);
        }
        if j >= pieces.len() {
            break;
        }
        // The next chunk starts with the last pieces of this one that fit in `overlap`.
        let mut k = j;
        if overlap > 0 {
            while k > i + 1
                && measure.size(
                    text,
                    trim(text, pieces[k - 1].range.start..pieces[j - 1].range.end),
                ) <= overlap
            {
                k -= 1;
            }
        }
        i = k;
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<usize> {
        // A token per word, as a whitespace tokenizer would give.
        let mut starts = Vec::new();
        let mut prev_space = true;
        for (i, c) in text.char_indices() {
            if !c.is_whitespace() && prev_space {
                starts.push(i);
            }
            prev_space = c.is_whitespace();
        }
        starts
    }

    fn texts<'a>(text: &'a str, ranges: &[Range<usize>]) -> Vec<&'a str> {
        ranges.iter().map(|r| &text[r.clone()]).collect()
    }

    #[test]
    fn paragraphs_are_kept_whole_when_they_fit() {
        let text = "un deux trois\n\nquatre cinq\n\nsix sept huit neuf";
        let starts = words(text);
        let m = Measure(&starts);
        assert_eq!(
            texts(text, &split(text, &m, 5, 0)),
            vec!["un deux trois\n\nquatre cinq", "six sept huit neuf"]
        );
    }

    #[test]
    fn long_paragraphs_are_cut_after_sentences_then_between_words() {
        let text = "Un deux trois. Quatre cinq six sept. Huit neuf dix onze douze treize.";
        let starts = words(text);
        let m = Measure(&starts);
        assert_eq!(
            texts(text, &split(text, &m, 4, 0)),
            vec![
                "Un deux trois.",
                "Quatre cinq six sept.",
                "Huit neuf dix onze",
                "douze treize."
            ]
        );
    }

    #[test]
    fn overlap_repeats_the_end_of_the_previous_chunk() {
        let text = "a b c d e f g";
        let starts = words(text);
        let m = Measure(&starts);
        assert_eq!(
            texts(text, &split(text, &m, 3, 1)),
            vec!["a b c", "c d e", "e f g"]
        );
    }

    #[test]
    fn a_word_longer_than_the_limit_is_cut_between_characters() {
        let text = "court anticonstitutionnellement fin";
        let starts: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        let m = Measure(&starts);
        let out = texts(text, &split(text, &m, 10, 0));
        assert!(out.iter().all(|c| c.chars().count() <= 10), "{out:?}");
        assert_eq!(out.concat().replace(' ', ""), text.replace(' ', ""));
        assert_eq!(out[0], "court");
    }
}
