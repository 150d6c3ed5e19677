//! The task graph: cycles, order, selection, and drawings (text, Graphviz dot, Mermaid).

use crate::pipeline::Pipeline;

/// Finds one dependency cycle; returns it as task indices, first task repeated at the end.
pub fn find_cycle(deps: &[Vec<usize>]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Color {
        White,
        Grey,
        Black,
    }
    let n = deps.len();
    let mut color = vec![Color::White; n];
    for start in 0..n {
        if color[start] != Color::White {
            continue;
        }
        // Iterative DFS: (node, next dep index to visit).
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        color[start] = Color::Grey;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&dep) = deps[node].get(*next) {
                *next += 1;
                match color[dep] {
                    Color::White => {
                        color[dep] = Color::Grey;
                        stack.push((dep, 0));
                    }
                    Color::Grey => {
                        // The cycle is the part of the stack from `dep` on. Edges point from a
                        // task to what it waits for, so reverse to read in run order.
                        let pos = stack.iter().position(|&(t, _)| t == dep).unwrap_or(0);
                        let mut cycle: Vec<usize> = stack[pos..].iter().map(|&(t, _)| t).collect();
                        cycle.reverse();
                        // Start at the task that comes first in the file, for stable messages.
                        let first = (0..cycle.len()).min_by_key(|&i| cycle[i]).unwrap_or(0);
                        cycle.rotate_left(first);
                        cycle.push(cycle[0]);
                        return Some(cycle);
                    }
                    Color::Black => {}
                }
            } else {
                color[node] = Color::Black;
                stack.pop();
            }
        }
    }
    None
}

/// For each task, the tasks that wait for it.
pub fn dependents(p: &Pipeline) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); p.tasks.len()];
    for (i, t) in p.tasks.iter().enumerate() {
        for &d in &t.deps {
            out[d].push(i);
        }
    }
    out
}

/// Tasks in an order where every task comes after the tasks it waits for (Kahn's algorithm,
/// stable with respect to file order). The pipeline is acyclic once validated.
pub fn topo_order(p: &Pipeline) -> Vec<usize> {
    let dependents = dependents(p);
    let mut indeg: Vec<usize> = p.tasks.iter().map(|t| t.deps.len()).collect();
    let mut ready: std::collections::VecDeque<usize> =
        (0..p.tasks.len()).filter(|&i| indeg[i] == 0).collect();
    let mut order = Vec::with_capacity(p.tasks.len());
    while let Some(i) = ready.pop_front() {
        order.push(i);
        for &j in &dependents[i] {
            indeg[j] -= 1;
            if indeg[j] == 0 {
                ready.push_back(j);
            }
        }
    }
    order
}

/// Marks `roots` and everything they wait for, directly or not.
pub fn upstream_closure(p: &Pipeline, roots: &[usize]) -> Vec<bool> {
    let mut seen = vec![false; p.tasks.len()];
    let mut stack: Vec<usize> = roots.to_vec();
    while let Some(i) = stack.pop() {
        if !std::mem::replace(&mut seen[i], true) {
            stack.extend(&p.tasks[i].deps);
        }
    }
    seen
}

/// Marks `roots` and everything that waits for them, directly or not.
pub fn downstream_closure(p: &Pipeline, roots: &[usize]) -> Vec<bool> {
    let dependents = dependents(p);
    let mut seen = vec![false; p.tasks.len()];
    let mut stack: Vec<usize> = roots.to_vec();
    while let Some(i) = stack.pop() {
        if !std::mem::replace(&mut seen[i], true) {
            stack.extend(&dependents[i]);
        }
    }
    seen
}

/// Longest-path level of each task (0 for tasks that wait for nothing).
pub fn levels(p: &Pipeline) -> Vec<usize> {
    let mut level = vec![0; p.tasks.len()];
    for i in topo_order(p) {
        level[i] = p.tasks[i]
            .deps
            .iter()
            .map(|&d| level[d] + 1)
            .max()
            .unwrap_or(0);
    }
    level
}

fn label(p: &Pipeline, i: usize) -> String {
    let t = &p.tasks[i];
    match &t.kind {
        crate::pipeline::TaskKind::Op { op, .. } => format!("{} ({op})", t.name),
        crate::pipeline::TaskKind::Run { .. } => format!("{} (run)", t.name),
    }
}

/// Plain text: one line per task, grouped by level, with what it waits for.
pub fn to_text(p: &Pipeline) -> String {
    let level = levels(p);
    let mut out = format!("{} — {} tasks\n", p.name, p.tasks.len());
    let max = level.iter().copied().max().unwrap_or(0);
    for l in 0..=max {
        out.push_str(&format!("level {l}\n"));
        for i in topo_order(p).into_iter().filter(|&i| level[i] == l) {
            let deps: Vec<&str> = p.tasks[i]
                .deps
                .iter()
                .map(|&d| p.tasks[d].name.as_str())
                .collect();
            if deps.is_empty() {
                out.push_str(&format!("  {}\n", label(p, i)));
            } else {
                out.push_str(&format!("  {}  ← {}\n", label(p, i), deps.join(", ")));
            }
        }
    }
    out
}

/// Graphviz dot.
pub fn to_dot(p: &Pipeline) -> String {
    let mut out = format!(
        "digraph \"{}\" {{\n  rankdir=LR;\n  node [shape=box];\n",
        p.name
    );
    for i in 0..p.tasks.len() {
        out.push_str(&format!(
            "  \"{}\" [label=\"{}\"];\n",
            p.tasks[i].name,
            label(p, i)
        ));
    }
    for t in &p.tasks {
        for &d in &t.deps {
            out.push_str(&format!("  \"{}\" -> \"{}\";\n", p.tasks[d].name, t.name));
        }
    }
    out.push_str("}\n");
    out
}

/// Mermaid flowchart.
pub fn to_mermaid(p: &Pipeline) -> String {
    let mut out = String::from("flowchart LR\n");
    for i in 0..p.tasks.len() {
        out.push_str(&format!("  {}[\"{}\"]\n", p.tasks[i].name, label(p, i)));
    }
    for t in &p.tasks {
        for &d in &t.deps {
            out.push_str(&format!("  {} --> {}\n", p.tasks[d].name, t.name));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_cycles_in_run_order() {
        // 0 waits for 2, 2 waits for 1, 1 waits for 0.
        let deps = vec![vec![2], vec![0], vec![1]];
        let cycle = find_cycle(&deps).expect("cycle");
        assert_eq!(cycle.len(), 4);
        assert_eq!(cycle.first(), cycle.last());
        assert_eq!(find_cycle(&[vec![], vec![0], vec![0, 1]]), None);
    }
}
