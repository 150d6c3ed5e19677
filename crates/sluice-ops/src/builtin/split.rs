//! `split`: one dataset into several parts, by the values of a column (one part per legal
//! code) or by named patterns over a column, each rule with its own name prefix. Part names
//! are normalised (accents dropped, lower case, `_` for anything but letters and digits)
//! and fit PostgreSQL's 63-byte identifiers without two parts getting the same name. The
//! task's dataset is the mapping (part, rule column, value or pattern, rows, folder); the
//! parts are datasets of their own under `<version>/parts/<name>/`, which `load.postgres`
//! and `export.parquet` take one by one with `parts: true`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use sluice_data::datafusion::arrow::array::{
    Array, ArrayRef, Int64Array, RecordBatch, StringArray, UInt32Array,
};
use sluice_data::datafusion::arrow::compute::{cast, take_record_batch};
use sluice_data::datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use sluice_data::export::{dataset_schema, for_each_batch, for_each_batch_of};
use sluice_data::{DatasetTarget, DatasetWriter};
use unicode_normalization::UnicodeNormalization;

use crate::support::parts::{PARTS, mapping_schema};
use crate::{Op, OpError, OpOutput, TaskContext, blocking, counters};

/// Memory the open part files may hold before their rows are written out.
const BUFFERED_MAX: usize = 256 << 20;

/// One way of splitting.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The column whose values decide the parts (cast to text).
    pub column: String,
    /// Put before each part name of this rule (`code_`).
    #[serde(default)]
    pub prefix: String,
    /// Only values matching this regular expression make parts (`^Code `).
    #[serde(default, rename = "match")]
    pub matches: Option<String>,
    /// Named parts instead of one per value: a row goes to each part whose regular
    /// expression matches its value.
    #[serde(default)]
    pub patterns: BTreeMap<String, String>,
}

fn default_max_len() -> usize {
    63
}

/// `op: split`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Split {
    /// The task whose dataset is split.
    pub input: String,
    /// The rules; a row goes to every part any rule gives it.
    pub by: Vec<Rule>,
    /// The longest part name in bytes (default 63, PostgreSQL's identifier limit).
    #[serde(default = "default_max_len")]
    pub max_name_len: usize,
}

/// A rule with its regular expressions compiled.
struct Compiled {
    rule: Rule,
    matches: Option<regex::Regex>,
    patterns: Vec<(String, regex::Regex)>,
}

/// Builds `split`, checking its rules and regular expressions.
pub fn build_split(config: &sluice_core::Node) -> Result<Box<dyn Op>, sluice_core::DeError> {
    let op: Split = sluice_core::from_node(config)?;
    compile(&op).map_err(<sluice_core::DeError as serde::de::Error>::custom)?;
    Ok(Box::new(op))
}

fn compile(op: &Split) -> Result<Vec<Compiled>, String> {
    if op.by.is_empty() {
        return Err("`by` needs at least one rule (`- column: NAME`)".into());
    }
    if !(16..=1024).contains(&op.max_name_len) {
        return Err("`max_name_len` must be between 16 and 1024".into());
    }
    let regex = |i: usize, what: &str, re: &str| {
        regex::Regex::new(re).map_err(|e| format!("`by` rule {}: {what}: {e}", i + 1))
    };
    let mut out = Vec::new();
    for (i, rule) in op.by.iter().enumerate() {
        if rule.matches.is_some() && !rule.patterns.is_empty() {
            return Err(format!(
                "`by` rule {}: `match` and `patterns` do not go together",
                i + 1
            ));
        }
        let matches = match &rule.matches {
            Some(re) => Some(regex(i, "`match`", re)?),
            None => None,
        };
        let mut patterns = Vec::new();
        for (name, re) in &rule.patterns {
            patterns.push((name.clone(), regex(i, &format!("pattern `{name}`"), re)?));
        }
        out.push(Compiled {
            rule: rule.clone(),
            matches,
            patterns,
        });
    }
    Ok(out)
}

/// A name usable as a table or folder name: accents dropped, lower case, every run of other
/// characters than ASCII letters and digits one `_`, none at the ends, never starting with a
/// digit (`Code de l'entrée et du séjour` → `code_de_l_entree_et_du_sejour`).
pub fn normalise_name(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut gap = false;
    for c in text.nfkd() {
        let mapped: &str = match c {
            'œ' | 'Œ' => "oe",
            'æ' | 'Æ' => "ae",
            'ß' => "ss",
            _ if c.is_ascii_alphanumeric() => {
                if gap && !out.is_empty() {
                    out.push('_');
                }
                gap = false;
                out.push(c.to_ascii_lowercase());
                continue;
            }
            _ if unicode_normalization::char::is_combining_mark(c) => continue,
            _ => {
                gap = true;
                continue;
            }
        };
        if gap && !out.is_empty() {
            out.push('_');
        }
        gap = false;
        out.push_str(mapped);
    }
    if out.is_empty() {
        out.push_str("part");
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// A part before it has a name: the rule, and the value (or pattern name) it stands for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Key {
    rule: usize,
    value: String,
}

/// Unique names for the parts, in their order: the normalised prefix and value, cut to `max`
/// bytes. When several values give the same name, the one with the fewest characters other
/// than letters, digits and spaces keeps it; the others get the hash of their rule and value
/// added, so that two values never share a part.
fn assign_names(keys: &[Key], rules: &[Compiled], max: usize) -> Vec<String> {
    let bases: Vec<String> = keys
        .iter()
        .map(|k| normalise_name(&format!("{}{}", rules[k.rule].rule.prefix, k.value)))
        .collect();
    let noise = |v: &str| {
        v.chars()
            .filter(|c| !c.is_alphanumeric() && *c != ' ')
            .count()
    };
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by(|&a, &b| {
        (&bases[a], noise(&keys[a].value), &keys[a]).cmp(&(
            &bases[b],
            noise(&keys[b].value),
            &keys[b],
        ))
    });
    let mut taken: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut names = vec![String::new(); keys.len()];
    for i in order {
        let (key, base) = (&keys[i], &bases[i]);
        let mut name = sluice_vector::postgres::shorten(base, max);
        let mut salt = 0u64;
        while taken.contains(&name) {
            let hash = twox_hash::XxHash64::oneshot(
                salt,
                format!("{}\u{0}{}", key.rule, key.value).as_bytes(),
            );
            let suffix = format!("_{:08x}", hash as u32);
            let room = max.saturating_sub(suffix.len()).min(base.len());
            name = format!("{}{suffix}", &base[..room]);
            salt += 1;
        }
        taken.insert(name.clone());
        names[i] = name;
    }
    names
}

/// The text values of a rule's column in a batch.
fn text_column(batch: &RecordBatch, index: usize) -> Result<StringArray, OpError> {
    let col = cast(batch.column(index), &DataType::Utf8)
        .map_err(|e| OpError::config(format!("cannot read the split column as text: {e}")))?;
    col.as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .ok_or_else(|| OpError::config("cannot read the split column as text"))
}

impl Compiled {
    /// The parts of this rule a value goes to: the value itself (when `match` allows it), or
    /// the names of the patterns it matches.
    fn parts_for(&self, value: &str) -> Vec<String> {
        if self.patterns.is_empty() {
            match self.matches.as_ref().is_none_or(|re| re.is_match(value)) {
                true => vec![value.to_string()],
                false => Vec::new(),
            }
        } else {
            self.patterns
                .iter()
                .filter(|(_, re)| re.is_match(value))
                .map(|(name, _)| name.clone())
                .collect()
        }
    }
}

/// The rows of a batch each part gets, and how many rows get none. `routes[rule]` maps a
/// value of the rule's column to its parts: no regular expression runs here, no string is
/// allocated.
fn route(
    batch: &RecordBatch,
    columns: &[usize],
    routes: &[HashMap<String, Vec<usize>>],
) -> Result<(BTreeMap<usize, Vec<u32>>, u64), OpError> {
    let mut out: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
    let mut assigned = vec![false; batch.num_rows()];
    for (r, route) in routes.iter().enumerate() {
        let values = text_column(batch, columns[r])?;
        for (row, value) in values.iter().enumerate() {
            if let Some(parts) = value.and_then(|v| route.get(v)) {
                assigned[row] = true;
                for &part in parts {
                    out.entry(part).or_default().push(row as u32);
                }
            }
        }
    }
    let unassigned = assigned.iter().filter(|a| !**a).count() as u64;
    Ok((out, unassigned))
}

/// What a split did.
struct Done {
    mapping: sluice_data::DatasetInfo,
    parts: u64,
    rows: u64,
    unassigned: u64,
}

fn split(
    op: &Split,
    rules: &[Compiled],
    input: &Path,
    out: &DatasetTarget,
) -> Result<Done, OpError> {
    let schema = dataset_schema(input)?;
    let columns = rule_columns(op, rules, &schema)?;
    let (seen, rows) = distinct_values(rules, &columns, input)?;
    // The parts, their rows and names; then each distinct value's parts.
    let mut counts: BTreeMap<Key, u64> = BTreeMap::new();
    for (rule, values_seen) in seen.iter().enumerate() {
        for (value, n) in values_seen {
            for part in rules[rule].parts_for(value) {
                *counts.entry(Key { rule, value: part }).or_default() += n;
            }
        }
    }
    let keys: Vec<Key> = counts.keys().cloned().collect();
    let names = assign_names(&keys, rules, op.max_name_len);
    let ids: HashMap<&Key, usize> = keys.iter().zip(0..).collect();
    let routes: Vec<HashMap<String, Vec<usize>>> = seen
        .into_iter()
        .enumerate()
        .map(|(rule, values_seen)| {
            values_seen
                .into_keys()
                .filter_map(|value| {
                    let parts: Vec<usize> = rules[rule]
                        .parts_for(&value)
                        .into_iter()
                        .filter_map(|part| ids.get(&Key { rule, value: part }).copied())
                        .collect();
                    (!parts.is_empty()).then_some((value, parts))
                })
                .collect()
        })
        .collect();
    let unassigned = write_parts(input, out, &schema, &names, &columns, &routes)?;
    Ok(Done {
        mapping: write_mapping(out, rules, &keys, &names, &counts)?,
        parts: names.len() as u64,
        rows,
        unassigned,
    })
}

/// The index of each rule's column in the input, or an error naming the columns there are.
fn rule_columns(op: &Split, rules: &[Compiled], schema: &Schema) -> Result<Vec<usize>, OpError> {
    let mut columns = Vec::new();
    for (i, c) in rules.iter().enumerate() {
        let index = schema.index_of(&c.rule.column).map_err(|_| {
            let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            OpError::config(format!(
                "`by` rule {} names the column `{}`, which the dataset of `{}` lacks (its \
                 columns: {})",
                i + 1,
                c.rule.column,
                op.input,
                names.join(", ")
            ))
        })?;
        columns.push(index);
    }
    Ok(columns)
}

/// Pass 1, over the rule columns only: each rule's distinct values with their row counts, and
/// the rows of the input.
fn distinct_values(
    rules: &[Compiled],
    columns: &[usize],
    input: &Path,
) -> Result<(Vec<HashMap<String, u64>>, u64), OpError> {
    let mut projection: Vec<usize> = columns.to_vec();
    projection.sort_unstable();
    projection.dedup();
    let mut seen: Vec<HashMap<String, u64>> = vec![HashMap::new(); rules.len()];
    let mut rows = 0u64;
    for_each_batch_of(input, Some(&projection), |_, batch| {
        rows += batch.num_rows() as u64;
        for (r, values_seen) in seen.iter_mut().enumerate() {
            let at = projection
                .iter()
                .position(|&p| p == columns[r])
                .unwrap_or_default();
            let values =
                text_column(&batch, at).map_err(|e| sluice_data::DataError::Engine(e.message))?;
            for value in values.iter().flatten() {
                match values_seen.get_mut(value) {
                    Some(n) => *n += 1,
                    None => {
                        values_seen.insert(value.to_string(), 1);
                    }
                }
            }
        }
        Ok(())
    })?;
    Ok((seen, rows))
}

/// Pass 2: every row to its parts (one dataset each under `parts/`); returns the rows no part
/// took.
fn write_parts(
    input: &Path,
    out: &DatasetTarget,
    schema: &SchemaRef,
    names: &[String],
    columns: &[usize],
    routes: &[HashMap<String, Vec<usize>>],
) -> Result<u64, OpError> {
    let parts_dir = out.dir.join(PARTS);
    let mut writers: Vec<DatasetWriter> = Vec::with_capacity(names.len());
    for name in names {
        let dir = parts_dir.join(name);
        std::fs::create_dir_all(&dir)
            .map_err(|e| OpError::internal(format!("cannot create {}: {e}", dir.display())))?;
        let target = DatasetTarget {
            dir,
            compression: out.compression,
            version: out.version.clone(),
        };
        writers.push(DatasetWriter::new(&target, schema.clone()));
    }
    let mut unassigned = 0u64;
    for_each_batch(input, |_, batch| {
        let (routed, none) = route(&batch, columns, routes)
            .map_err(|e| sluice_data::DataError::Engine(e.message))?;
        unassigned += none;
        for (part, positions) in routed {
            let part_rows = take_record_batch(&batch, &UInt32Array::from(positions))?;
            writers[part].write(&part_rows)?;
        }
        if writers
            .iter()
            .map(DatasetWriter::buffered_bytes)
            .sum::<usize>()
            > BUFFERED_MAX
        {
            for w in &mut writers {
                w.flush()?;
            }
        }
        Ok(())
    })?;
    for w in writers {
        w.finish()?;
    }
    Ok(unassigned)
}

/// The mapping, the split's own dataset: one row per part (its name, rule column, value,
/// pattern, rows and folder).
fn write_mapping(
    out: &DatasetTarget,
    rules: &[Compiled],
    keys: &[Key],
    names: &[String],
    counts: &BTreeMap<Key, u64>,
) -> Result<sluice_data::DatasetInfo, OpError> {
    let mut part = Vec::new();
    let mut column = Vec::new();
    let mut value = Vec::new();
    let mut pattern = Vec::new();
    let mut count = Vec::new();
    let mut path = Vec::new();
    for (key, name) in keys.iter().zip(names) {
        let rule = &rules[key.rule];
        part.push(name.clone());
        column.push(rule.rule.column.clone());
        value.push(key.value.clone());
        pattern.push(rule.rule.patterns.get(&key.value).cloned());
        count.push(counts.get(key).copied().unwrap_or_default() as i64);
        path.push(format!("{PARTS}/{name}"));
    }
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(part)),
        Arc::new(StringArray::from(column)),
        Arc::new(StringArray::from(value)),
        Arc::new(StringArray::from(pattern)),
        Arc::new(Int64Array::from(count)),
        Arc::new(StringArray::from(path)),
    ];
    let batch = RecordBatch::try_new(mapping_schema(), arrays)
        .map_err(|e| OpError::internal(format!("cannot build the mapping: {e}")))?;
    let mut writer = DatasetWriter::new(out, mapping_schema());
    writer.write(&batch)?;
    Ok(writer.finish()?)
}

#[async_trait]
impl Op for Split {
    async fn run(&self, ctx: &TaskContext) -> Result<OpOutput, OpError> {
        let input = ctx.input(&self.input)?.to_path_buf();
        let out = ctx.output()?.clone();
        let op = self.clone();
        let done = blocking(move || {
            let rules = compile(&op).map_err(OpError::config)?;
            split(&op, &rules, &input, &out)
        })
        .await?;
        let _ = ctx.log.line(&format!(
            "{} rows into {} parts ({} rows in none)",
            done.rows, done.parts, done.unassigned
        ));
        Ok(OpOutput {
            metrics: counters(&[
                ("rows", done.rows),
                ("parts", done.parts),
                ("rows_unassigned", done.unassigned),
            ]),
            dataset: Some(done.mapping.into()),
            ..OpOutput::default()
        })
    }

    fn reads(&self) -> Vec<String> {
        vec![self.input.clone()]
    }

    fn produces_dataset(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(op: &Split) -> Vec<Compiled> {
        compile(op).expect("rules")
    }

    #[test]
    fn names_are_normalised() {
        assert_eq!(
            normalise_name("Code de l'entrée et du séjour des étrangers"),
            "code_de_l_entree_et_du_sejour_des_etrangers"
        );
        assert_eq!(
            normalise_name("  Œuvres -- Complètes! "),
            "oeuvres_completes"
        );
        assert_eq!(normalise_name("2024 budget"), "_2024_budget");
        assert_eq!(normalise_name("«»"), "part");
    }

    #[test]
    fn names_never_collide_and_fit() {
        let op = Split {
            input: "x".into(),
            by: vec![Rule {
                column: "title".into(),
                prefix: "legi_".into(),
                matches: None,
                patterns: BTreeMap::new(),
            }],
            max_name_len: 63,
        };
        let long = "Code général des collectivités territoriales et de leurs groupements";
        let keys: Vec<Key> = [
            "Code civil",
            "Code  civil!",
            "code-civil",
            long,
            &format!("{long} bis"),
        ]
        .iter()
        .map(|v| Key {
            rule: 0,
            value: v.to_string(),
        })
        .collect();
        let names = assign_names(&keys, &rules(&op), 63);
        assert_eq!(names[0], "legi_code_civil");
        assert!(names[1].starts_with("legi_code_civil_") && names[1].len() == 24);
        assert!(names[2].starts_with("legi_code_civil_") && names[2] != names[1]);
        assert!(names[3].len() <= 63 && names[4].len() <= 63);
        assert!(names[3].starts_with("legi_code_general_des_collectivites"));
        let unique: std::collections::HashSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
    }
}
