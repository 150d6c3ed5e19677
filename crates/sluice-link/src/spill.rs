//! The candidate pairs and their patterns of levels, kept on disk between the pass that
//! counts the patterns for EM and the pass that scores them: the second pass reads them back
//! instead of blocking and comparing again, and memory still never holds all the pairs.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::blocking::{CHUNK, Pair};
use sluice_op::OpError;

/// Bytes per pair: both rows, the rule, the pattern.
const RECORD: usize = 4 + 4 + 1 + 8;

/// What is done with each chunk read back: its pairs and their patterns.
pub type OnChunk<'a> = dyn FnMut(&[Pair], &[u64]) -> Result<(), OpError> + 'a;

/// An unnamed scratch file (removed by the system when closed, even after a crash).
pub struct Spill {
    file: BufWriter<File>,
    dir: PathBuf,
    pairs: u64,
}

impl Spill {
    /// A scratch file in `dir` (the task's output folder: on the disk the data goes to).
    pub fn new(dir: &Path) -> Result<Spill, OpError> {
        let file = tempfile::tempfile_in(dir).map_err(|e| {
            OpError::internal(format!(
                "cannot create a scratch file for the candidate pairs in {}: {e}",
                dir.display()
            ))
        })?;
        Ok(Spill {
            file: BufWriter::with_capacity(1 << 20, file),
            dir: dir.to_path_buf(),
            pairs: 0,
        })
    }

    /// Appends a chunk of pairs with their patterns.
    pub fn push(&mut self, chunk: &[Pair], patterns: &[u64]) -> Result<(), OpError> {
        let mut buf = Vec::with_capacity(chunk.len() * RECORD);
        for (&(a, b, rule), p) in chunk.iter().zip(patterns) {
            buf.extend_from_slice(&a.to_le_bytes());
            buf.extend_from_slice(&b.to_le_bytes());
            buf.push(rule);
            buf.extend_from_slice(&p.to_le_bytes());
        }
        if let Err(e) = self.file.write_all(&buf) {
            return Err(write_error(&self.dir, self.pairs, e));
        }
        self.pairs += chunk.len() as u64;
        Ok(())
    }

    /// Reads the pairs back, in the order written, a chunk at a time.
    pub fn for_each_chunk(self, f: &mut OnChunk<'_>) -> Result<(), OpError> {
        let dir = self.dir.clone();
        let read_error = |e: std::io::Error| {
            OpError::internal(format!(
                "reading back the candidate pairs from the scratch file in {}: {e}",
                dir.display()
            ))
        };
        let mut file = self
            .file
            .into_inner()
            .map_err(|e| write_error(&self.dir, self.pairs, e.into_error()))?;
        file.seek(SeekFrom::Start(0)).map_err(read_error)?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut left = self.pairs;
        let mut bytes = vec![0u8; CHUNK * RECORD];
        let mut pairs: Vec<Pair> = Vec::with_capacity(CHUNK);
        let mut patterns: Vec<u64> = Vec::with_capacity(CHUNK);
        while left > 0 {
            let n = (left as usize).min(CHUNK);
            let buf = &mut bytes[..n * RECORD];
            reader.read_exact(buf).map_err(read_error)?;
            pairs.clear();
            patterns.clear();
            for r in buf.chunks_exact(RECORD) {
                let word = |at: usize| u32::from_le_bytes([r[at], r[at + 1], r[at + 2], r[at + 3]]);
                pairs.push((word(0), word(4), r[8]));
                let mut p = [0u8; 8];
                p.copy_from_slice(&r[9..17]);
                patterns.push(u64::from_le_bytes(p));
            }
            f(&pairs, &patterns)?;
            left -= n as u64;
        }
        Ok(())
    }
}

/// Writing to the scratch file failed after `pairs` pairs.
fn write_error(dir: &Path, pairs: u64, e: std::io::Error) -> OpError {
    OpError::internal(format!(
        "writing the candidate pairs to a scratch file in {} failed after {pairs} pairs: {e} \
         (is the disk full? free some space, or lower the pairs with stricter blocking)",
        dir.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_come_back_in_order_across_chunks() {
        let dir = tempfile::tempdir().expect("dir");
        let mut spill = Spill::new(dir.path()).expect("spill");
        let n = CHUNK + 10;
        let pairs: Vec<Pair> = (0..n as u32)
            .map(|i| (i, u32::MAX - i, (i % 7) as u8))
            .collect();
        let patterns: Vec<u64> = (0..n as u64).map(|i| i * 0x1234_5678_9abc).collect();
        spill.push(&pairs[..100], &patterns[..100]).expect("push");
        spill.push(&pairs[100..], &patterns[100..]).expect("push");
        let (mut back, mut back_patterns, mut chunks) = (Vec::new(), Vec::new(), 0);
        spill
            .for_each_chunk(&mut |c, p| {
                chunks += 1;
                back.extend_from_slice(c);
                back_patterns.extend_from_slice(p);
                Ok(())
            })
            .expect("read");
        assert_eq!(chunks, 2);
        assert_eq!(back, pairs);
        assert_eq!(back_patterns, patterns);
        // Nothing named is left in the folder.
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 0);
    }
}
