//! Column lineage of a query, from its DataFusion logical plan: for each output column, the
//! columns of the tables it is computed from (DIRECT: identity, transformation, aggregation)
//! and those deciding its value's conditions (INDIRECT, field level: CASE conditions, an
//! aggregate's FILTER, a window's partition and order); and, for the whole result, the columns
//! deciding which rows there are (filters, join keys, groups, sorts).
//!
//! The plan is the one DataFusion builds before optimising, so aliases and common table
//! expressions are still there; each table scan is a task's dataset, named after the task.

use std::collections::BTreeSet;

use datafusion::common::Column;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Expr, JoinType, LogicalPlan};
use sluice_op::lineage::{ColumnLineage, DatasetRef, How, Source};

/// Functions whose result does not let one recover their argument: a column read through one
/// is marked `masking`.
const MASKING: &[&str] = &["sha224", "sha256", "sha384", "sha512", "md5", "digest"];

/// The sources of each output column and of the row set, of one plan node.
#[derive(Debug, Default, Clone)]
struct Origins {
    columns: Vec<BTreeSet<Source>>,
    rows: BTreeSet<Source>,
}

/// The column lineage of `plan` onto the task's own dataset.
pub fn column_lineage(plan: &LogicalPlan) -> ColumnLineage {
    let origins = origins(plan);
    let schema = plan.schema();
    ColumnLineage {
        output: DatasetRef::Own,
        fields: schema
            .fields()
            .iter()
            .zip(origins.columns)
            .map(|(f, sources)| (f.name().clone(), sources.into_iter().collect()))
            .collect(),
        dataset: origins.rows.into_iter().collect(),
    }
}

fn origins(plan: &LogicalPlan) -> Origins {
    let width = plan.schema().fields().len();
    let mut out = match plan {
        LogicalPlan::TableScan(scan) => {
            let table = DatasetRef::task(scan.table_name.table());
            let mut o = Origins {
                columns: scan
                    .projected_schema
                    .fields()
                    .iter()
                    .map(|f| BTreeSet::from([Source::new(table.clone(), f.name(), How::Identity)]))
                    .collect(),
                rows: BTreeSet::new(),
            };
            let scanned = o.clone();
            for f in &scan.filters {
                let sources = expr_sources(f, How::Filter, &|c| resolve(plan, &scanned, c));
                o.rows.extend(sources);
            }
            o
        }
        LogicalPlan::Projection(p) => {
            let input = origins(&p.input);
            let resolve = |c: &Column| resolve(&p.input, &input, c);
            Origins {
                columns: p
                    .expr
                    .iter()
                    .map(|e| expr_sources(e, How::Identity, &resolve))
                    .collect(),
                rows: input.rows.clone(),
            }
        }
        LogicalPlan::Filter(f) => {
            let mut input = origins(&f.input);
            let sources =
                expr_sources(&f.predicate, How::Filter, &|c| resolve(&f.input, &input, c));
            input.rows.extend(sources);
            input
        }
        LogicalPlan::Aggregate(a) => {
            let input = origins(&a.input);
            let resolve = |c: &Column| resolve(&a.input, &input, c);
            let mut rows = input.rows.clone();
            let mut columns = Vec::new();
            for e in grouping_exprs(&a.group_expr) {
                rows.extend(expr_sources(e, How::GroupBy, &resolve));
                columns.push(expr_sources(e, How::Identity, &resolve));
            }
            // Grouping sets add their grouping id after the groups.
            let groups_width = width.saturating_sub(a.aggr_expr.len());
            columns.resize(groups_width, BTreeSet::new());
            for e in &a.aggr_expr {
                columns.push(expr_sources(e, How::Identity, &resolve));
            }
            Origins { columns, rows }
        }
        LogicalPlan::Window(w) => {
            let input = origins(&w.input);
            let resolve = |c: &Column| resolve(&w.input, &input, c);
            let mut columns = input.columns.clone();
            for e in &w.window_expr {
                columns.push(expr_sources(e, How::Identity, &resolve));
            }
            Origins {
                columns,
                rows: input.rows,
            }
        }
        LogicalPlan::Sort(s) => {
            let mut input = origins(&s.input);
            let mut sorted = BTreeSet::new();
            for e in &s.expr {
                sorted.extend(expr_sources(&e.expr, How::Sort, &|c| {
                    resolve(&s.input, &input, c)
                }));
            }
            input.rows.extend(sorted);
            input
        }
        LogicalPlan::Join(j) => {
            let left = origins(&j.left);
            let right = origins(&j.right);
            let resolve = |c: &Column| {
                j.left
                    .schema()
                    .maybe_index_of_column(c)
                    .and_then(|i| left.columns.get(i).cloned())
                    .or_else(|| {
                        j.right
                            .schema()
                            .maybe_index_of_column(c)
                            .and_then(|i| right.columns.get(i).cloned())
                    })
                    .unwrap_or_default()
            };
            let mut rows: BTreeSet<Source> = left.rows.union(&right.rows).cloned().collect();
            for (l, r) in &j.on {
                rows.extend(expr_sources(l, How::Join, &resolve));
                rows.extend(expr_sources(r, How::Join, &resolve));
            }
            if let Some(f) = &j.filter {
                rows.extend(expr_sources(f, How::Join, &resolve));
            }
            let columns = match j.join_type {
                JoinType::LeftSemi | JoinType::LeftAnti | JoinType::LeftMark => left.columns,
                JoinType::RightSemi | JoinType::RightAnti | JoinType::RightMark => right.columns,
                _ => left.columns.into_iter().chain(right.columns).collect(),
            };
            Origins { columns, rows }
        }
        LogicalPlan::Union(u) => {
            let mut o = Origins {
                columns: vec![BTreeSet::new(); width],
                rows: BTreeSet::new(),
            };
            for input in &u.inputs {
                let i = origins(input);
                for (all, these) in o.columns.iter_mut().zip(i.columns) {
                    all.extend(these);
                }
                o.rows.extend(i.rows);
            }
            o
        }
        LogicalPlan::RecursiveQuery(r) => {
            let mut o = origins(&r.static_term);
            let rec = origins(&r.recursive_term);
            for (all, these) in o.columns.iter_mut().zip(rec.columns) {
                all.extend(these);
            }
            o.rows.extend(rec.rows);
            o
        }
        LogicalPlan::Unnest(u) => {
            let input = origins(&u.input);
            Origins {
                columns: u
                    .dependency_indices
                    .iter()
                    .map(|&i| input.columns.get(i).cloned().unwrap_or_default())
                    .collect(),
                rows: input.rows,
            }
        }
        LogicalPlan::Distinct(d) => {
            let mut input = origins(d.input());
            // DISTINCT decides rows by every column, as a GROUP BY of them all would.
            let all: Vec<Source> = input.columns.iter().flatten().cloned().collect();
            input
                .rows
                .extend(all.into_iter().map(|s| regrade(s, How::GroupBy)));
            input
        }
        LogicalPlan::SubqueryAlias(s) => origins(&s.input),
        LogicalPlan::Subquery(s) => origins(&s.subquery),
        LogicalPlan::Limit(l) => origins(&l.input),
        LogicalPlan::Repartition(r) => origins(&r.input),
        LogicalPlan::Values(_) | LogicalPlan::EmptyRelation(_) => Origins::default(),
        // Anything else: a column comes from the inputs' columns of the same name.
        other => {
            let inputs: Vec<_> = other
                .inputs()
                .into_iter()
                .map(|p| (p, origins(p)))
                .collect();
            let mut o = Origins::default();
            for f in other.schema().fields() {
                let mut sources = BTreeSet::new();
                for (plan, origins) in &inputs {
                    if let Some(i) = plan.schema().index_of_column_by_name(None, f.name()) {
                        sources.extend(origins.columns.get(i).cloned().unwrap_or_default());
                    }
                }
                o.columns.push(sources);
            }
            for (_, origins) in inputs {
                o.rows.extend(origins.rows);
            }
            o
        }
    };
    out.columns.resize(width, BTreeSet::new());
    out
}

/// The expressions of a GROUP BY, grouping sets flattened.
fn grouping_exprs(group: &[Expr]) -> Vec<&Expr> {
    use datafusion::logical_expr::GroupingSet;
    group
        .iter()
        .flat_map(|e| match e {
            Expr::GroupingSet(GroupingSet::Rollup(v) | GroupingSet::Cube(v)) => v.iter().collect(),
            Expr::GroupingSet(GroupingSet::GroupingSets(sets)) => {
                let mut seen: Vec<&Expr> = Vec::new();
                for e in sets.iter().flatten() {
                    if !seen.contains(&e) {
                        seen.push(e);
                    }
                }
                seen
            }
            e => vec![e],
        })
        .collect()
}

/// The sources of column `c` of `plan`'s input, whose origins are `input`.
fn resolve(plan: &LogicalPlan, input: &Origins, c: &Column) -> BTreeSet<Source> {
    plan.schema()
        .maybe_index_of_column(c)
        .and_then(|i| input.columns.get(i).cloned())
        .unwrap_or_default()
}

/// `s` used `how` now.
fn regrade(mut s: Source, how: How) -> Source {
    s.how = how.then(s.how);
    s
}

/// The sources of what `expr` computes, used `how`, its columns resolved by `resolve`.
fn expr_sources(
    expr: &Expr,
    how: How,
    resolve: &dyn Fn(&Column) -> BTreeSet<Source>,
) -> BTreeSet<Source> {
    let mut out = BTreeSet::new();
    walk(expr, how, false, resolve, &mut out);
    out
}

fn walk(
    expr: &Expr,
    how: How,
    masking: bool,
    resolve: &dyn Fn(&Column) -> BTreeSet<Source>,
    out: &mut BTreeSet<Source>,
) {
    // Inside anything but a column or an alias, a value is transformed.
    let inner = how.then(How::Transformation);
    match expr {
        Expr::Column(c) => {
            for s in resolve(c) {
                let mut s = regrade(s, how);
                s.masking |= masking;
                out.insert(s);
            }
        }
        Expr::Alias(a) => walk(&a.expr, how, masking, resolve, out),
        Expr::AggregateFunction(f) => {
            let agg = how.then(How::Aggregation);
            for a in &f.params.args {
                walk(a, agg, masking, resolve, out);
            }
            if let Some(filter) = &f.params.filter {
                walk(filter, how.then(How::Filter), false, resolve, out);
            }
            for s in &f.params.order_by {
                walk(&s.expr, how.then(How::Sort), false, resolve, out);
            }
        }
        Expr::WindowFunction(w) => {
            let agg = how.then(How::Aggregation);
            for a in &w.params.args {
                walk(a, agg, masking, resolve, out);
            }
            for p in &w.params.partition_by {
                walk(p, how.then(How::Window), false, resolve, out);
            }
            for s in &w.params.order_by {
                walk(&s.expr, how.then(How::Window), false, resolve, out);
            }
            if let Some(filter) = &w.params.filter {
                walk(filter, how.then(How::Filter), false, resolve, out);
            }
        }
        Expr::Case(c) => {
            let cond = how.then(How::Conditional);
            if let Some(e) = &c.expr {
                walk(e, cond, false, resolve, out);
            }
            for (when, then) in &c.when_then_expr {
                walk(when, cond, false, resolve, out);
                walk(then, inner, masking, resolve, out);
            }
            if let Some(e) = &c.else_expr {
                walk(e, inner, masking, resolve, out);
            }
        }
        Expr::ScalarFunction(f) => {
            let masks = masking || MASKING.contains(&f.func.name());
            for a in &f.args {
                walk(a, inner, masks, resolve, out);
            }
        }
        Expr::ScalarSubquery(s) => subquery(&s.subquery, inner, out),
        Expr::InSubquery(s) => {
            walk(&s.expr, inner, masking, resolve, out);
            subquery(&s.subquery.subquery, how.then(How::Filter), out);
        }
        Expr::Exists(e) => subquery(&e.subquery.subquery, how.then(How::Filter), out),
        other => {
            let _ = other.apply_children(|child| {
                walk(child, inner, masking, resolve, out);
                Ok(TreeNodeRecursion::Continue)
            });
        }
    }
}

/// What a subquery's result depends on, used `how`.
fn subquery(plan: &LogicalPlan, how: How, out: &mut BTreeSet<Source>) {
    let o = origins(plan);
    out.extend(
        o.columns
            .into_iter()
            .flatten()
            .chain(o.rows)
            .map(|s| regrade(s, how)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::session;
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::record_batch::RecordBatch;
    use std::sync::Arc;

    async fn lineage(sql: &str) -> ColumnLineage {
        let ctx = session();
        for (name, cols) in [
            ("orders", &["id", "customer", "amount", "status"][..]),
            ("customers", &["id", "name", "country"][..]),
        ] {
            let schema = Arc::new(Schema::new(
                cols.iter()
                    .map(|c| {
                        let t = if *c == "amount" || *c == "id" {
                            DataType::Int64
                        } else {
                            DataType::Utf8
                        };
                        Field::new(*c, t, true)
                    })
                    .collect::<Vec<_>>(),
            ));
            let arrays = schema
                .fields()
                .iter()
                .map(|f| match f.data_type() {
                    DataType::Int64 => {
                        Arc::new(Int64Array::from(vec![1i64])) as datafusion::arrow::array::ArrayRef
                    }
                    _ => Arc::new(StringArray::from(vec!["a"])),
                })
                .collect();
            let batch = RecordBatch::try_new(schema, arrays).expect("test");
            ctx.register_batch(name, batch).expect("test");
        }
        let df = ctx.sql(sql).await.expect("test");
        column_lineage(df.logical_plan())
    }

    fn show(sources: &[Source]) -> Vec<String> {
        sources
            .iter()
            .map(|s| {
                let DatasetRef::Task { task } = &s.dataset else {
                    panic!("{s:?}")
                };
                format!(
                    "{task}.{} {}{}",
                    s.field,
                    s.how.subtype(),
                    if s.masking { " masked" } else { "" }
                )
            })
            .collect()
    }

    #[tokio::test]
    async fn each_column_names_its_sources_and_how() {
        let l = lineage(
            "with big as (select * from orders where amount > 10)
             select c.name as who, upper(c.country) as country, sum(o.amount) as total,
                    count(*) filter (where o.status = 'paid') as paid,
                    case when c.country = 'FR' then 'eu' else sha256(c.name) end as zone
             from big o join customers c on o.customer = c.name
             group by c.name, c.country
             order by total desc",
        )
        .await;
        assert_eq!(
            l.fields.keys().collect::<Vec<_>>(),
            ["country", "paid", "total", "who", "zone"]
        );
        assert_eq!(show(&l.fields["who"]), ["customers.name IDENTITY"]);
        assert_eq!(
            show(&l.fields["country"]),
            ["customers.country TRANSFORMATION"]
        );
        assert_eq!(show(&l.fields["total"]), ["orders.amount AGGREGATION"]);
        assert_eq!(show(&l.fields["paid"]), ["orders.status FILTER"]);
        assert_eq!(
            show(&l.fields["zone"]),
            [
                "customers.country CONDITIONAL",
                "customers.name TRANSFORMATION masked"
            ]
        );
        assert_eq!(
            show(&l.dataset),
            [
                "customers.country GROUP_BY",
                "customers.name JOIN",
                "customers.name GROUP_BY",
                "orders.amount FILTER",
                "orders.amount SORT",
                "orders.customer JOIN"
            ]
        );
    }

    #[tokio::test]
    async fn unions_and_subqueries_gather_every_branch() {
        let l = lineage(
            "select name as label from customers
             union all
             select status from orders where customer in (select name from customers where country = 'FR')",
        )
        .await;
        assert_eq!(
            show(&l.fields["label"]),
            ["customers.name IDENTITY", "orders.status IDENTITY"]
        );
        assert_eq!(
            show(&l.dataset),
            [
                "customers.country FILTER",
                "customers.name FILTER",
                "orders.customer FILTER"
            ]
        );
    }
}
