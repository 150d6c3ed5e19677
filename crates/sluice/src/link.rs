//! `sluice link explain`: why two records got their match score.

use std::sync::Arc;

use sluice_link::{LinkState, explain};
use sluice_store::StateStore;

use crate::Failure;
use crate::search::find_dataset;

/// Prints the comparison levels and weights of the pair `(id_l, id_r)` under the model of
/// the `link` dataset `dataset`.
pub async fn explain_pair(
    store: Arc<dyn StateStore>,
    dataset: &str,
    id_l: &str,
    id_r: &str,
    json: bool,
) -> Result<u8, Failure> {
    let record = find_dataset(store.as_ref(), dataset).await?;
    let state: LinkState = record
        .state
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
        .ok_or_else(|| {
            Failure::invalid(format!(
                "error: `{dataset}` was not made by a `link` task (it keeps no model)"
            ))
        })?;
    let runtime = tokio::runtime::Handle::current();
    let (a, b) = (id_l.to_string(), id_r.to_string());
    let e = tokio::task::spawn_blocking(move || explain(&state, &a, &b, &runtime))
        .await
        .map_err(|e| Failure::env(format!("error: {e}")))?
        .map_err(|e| Failure::invalid(format!("error: {dataset}: {e}")))?;
    if json {
        let text =
            serde_json::to_string_pretty(&e).map_err(|e| Failure::env(format!("error: {e}")))?;
        println!("{text}");
        return Ok(0);
    }
    println!("{} ↔ {}", e.ids.0, e.ids.1);
    let mut t = crate::table::table(&["column", "left", "right", "level", "m", "u", "weight"]);
    t.add_row(vec![
        "(prior)".to_string(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        format!("{:+.2}", e.prior_weight),
    ]);
    for f in &e.fields {
        t.add_row(vec![
            f.column.clone(),
            f.left.clone().unwrap_or_default(),
            f.right.clone().unwrap_or_default(),
            f.level.clone(),
            format!("{:.4}", f.m),
            format!("{:.6}", f.u),
            format!("{:+.2}", f.weight),
        ]);
    }
    println!("{t}");
    println!(
        "match weight {:+.2}, probability {:.6}: {}",
        e.match_weight,
        e.probability,
        if e.linked {
            format!("linked (threshold {})", e.threshold)
        } else if e.rules.is_empty() {
            "not linked: no blocking rule makes it a candidate".to_string()
        } else {
            format!("not linked (threshold {})", e.threshold)
        }
    );
    if !e.rules.is_empty() {
        println!("candidate through: {}", e.rules.join("; "));
    }
    Ok(0)
}
