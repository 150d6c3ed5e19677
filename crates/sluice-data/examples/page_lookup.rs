//! How long [`sluice_data::export::take_rows`] takes to look up 10 scattered rows (a row
//! selection over the offset index) in one Parquet file written again two ways: with
//! Parquet's default page settings and with the dataset writer's (`PAGE_BYTES`, `PAGE_BATCH`,
//! `DICTIONARY_BYTES`), both in the writer's row groups. Vector columns (list columns) are
//! left out of the lookup, as a search leaves them out of its rows.
//!
//! `cargo run --release -p sluice-data --example page_lookup -- FILE.parquet WORK_DIR`
use std::error::Error;
use std::fs::File;
use std::time::Instant;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::DataType;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use sluice_data::export::take_rows;
use sluice_data::writer::{DICTIONARY_BYTES, PAGE_BATCH, PAGE_BYTES, ROWS_PER_GROUP};

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(source), Some(work)) = (args.get(1), args.get(2)) else {
        return Err("usage: page_lookup FILE.parquet WORK_DIR".into());
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(source)?)?.build()?;
    let batches = reader.collect::<Result<Vec<RecordBatch>, _>>()?;
    let Some(schema) = batches.first().map(|b| b.schema()) else {
        return Err(format!("{source} has no rows").into());
    };
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let keep: Vec<usize> = (0..schema.fields().len())
        .filter(|&i| {
            !matches!(
                schema.field(i).data_type(),
                DataType::List(_) | DataType::FixedSizeList(..) | DataType::LargeList(_)
            )
        })
        .collect();
    // 100 lookups of 10 rows, the same on both sides.
    let mut x = 12345u64;
    let lookups: Vec<Vec<u64>> = (0..100)
        .map(|_| {
            let mut rows: Vec<u64> = (0..10)
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (x >> 33) % rows as u64
                })
                .collect();
            rows.sort_unstable();
            rows.dedup();
            rows
        })
        .collect();
    let sides = [
        (
            "Parquet's defaults",
            WriterProperties::builder().set_max_row_group_row_count(Some(ROWS_PER_GROUP)),
        ),
        (
            "the dataset writer's",
            WriterProperties::builder()
                .set_max_row_group_row_count(Some(ROWS_PER_GROUP))
                .set_write_batch_size(PAGE_BATCH)
                .set_data_page_size_limit(PAGE_BYTES)
                .set_dictionary_page_size_limit(DICTIONARY_BYTES),
        ),
    ];
    println!("{rows} rows, {} columns looked up", keep.len());
    for (name, props) in sides {
        let props = props.set_compression(Compression::LZ4_RAW).build();
        // A dataset folder of one file, read by the lookup searches use.
        let dir = std::path::Path::new(work).join("page_lookup");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("part-00000.parquet");
        let mut w = ArrowWriter::try_new(File::create(&path)?, schema.clone(), Some(props))?;
        for b in &batches {
            w.write(b)?;
        }
        let meta = w.close()?;
        // The bytes of the looked-up columns (their leaves), as compressed on disk.
        let bytes: i64 = meta
            .row_groups()
            .iter()
            .flat_map(|g| {
                let leaves = g.schema_descr();
                g.columns()
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| keep.contains(&leaves.get_column_root_idx(*i)))
                    .map(|(_, c)| c.compressed_size())
                    .collect::<Vec<_>>()
            })
            .sum();
        let started = Instant::now();
        let mut found = 0;
        for rows in &lookups {
            found += take_rows(&dir, Some(&keep), rows)?.num_rows();
        }
        let ms = started.elapsed().as_secs_f64() * 1e3 / lookups.len() as f64;
        println!(
            "{name:22}: {ms:6.2} ms a lookup of 10 rows ({found} rows in all); those columns {:.2} MB",
            bytes as f64 / 1e6
        );
    }
    Ok(())
}
