//! Jinja templating of models, snapshots and tests with minijinja: dbt's `ref`, `source`,
//! `config`, `is_incremental()`, `this`, `var`, `env_var`, `target`, `log`,
//! `exceptions.raise_compiler_error`, and the project's macros (every macro of `macros/` can
//! be called from anywhere, as in dbt).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use minijinja::value::{Kwargs, Rest, Value};
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};
use sluice_core::diag::did_you_mean;
use sluice_core::yaml::Mark;

use crate::project::Origin;

/// Marks `ref()` leaves in the SQL, resolved once every node's materialization is known:
/// `\u{1}ref:NAME\u{1}`.
pub const REF_MARK: char = '\u{1}';

/// What one rendering called.
#[derive(Debug, Default, Clone)]
pub struct Calls {
    /// Names given to `ref()`, in order.
    pub refs: Vec<String>,
    /// `(source, table)` given to `source()`.
    pub sources: Vec<(String, String)>,
    /// `config(key=value)` settings, in order.
    pub config: Vec<(String, serde_json::Value)>,
}

#[derive(Default)]
struct Shared {
    /// Names `ref()` accepts.
    nodes: BTreeSet<String>,
    /// Names of sources' tables, and the table each is read as.
    sources: BTreeMap<(String, String), String>,
    incremental: bool,
    calls: Calls,
}

/// A template's problem, in a file.
#[derive(Debug)]
pub struct TemplateError {
    /// Where.
    pub origin: Origin,
    /// What.
    pub message: String,
}

/// Renders the project's templates.
pub struct Renderer {
    env: Environment<'static>,
    shared: Arc<Mutex<Shared>>,
    /// `{% from … import … %}` of every macro, put before each template on its first line.
    prefix: String,
    /// Macro files' names in the environment → their paths.
    macro_files: BTreeMap<String, (std::path::PathBuf, String)>,
    /// Their prefixes' lengths (each file imports the macros of the others).
    macro_prefix_len: BTreeMap<String, usize>,
}

/// What templates see of the run.
#[derive(Debug, Clone)]
pub struct Globals {
    /// The project's name.
    pub project: String,
    /// The environment (`target.name`).
    pub target: String,
    /// `var()` values.
    pub vars: BTreeMap<String, serde_json::Value>,
    /// `env_var()` values, read beforehand.
    pub env: BTreeMap<String, String>,
}

fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The names of the macros a file defines, each with its position, and the blocks sluice
/// cannot run (`{% test %}`, `{% materialization %}`).
pub fn scan_blocks(source: &str) -> Vec<(String, String, usize)> {
    let mut out = Vec::new();
    let mut rest = 0;
    while let Some(i) = source[rest..].find("{%") {
        let start = rest + i;
        let mut j = start + 2;
        let b = source.as_bytes();
        while j < b.len() && (b[j] == b'-' || b[j] == b'+' || b[j].is_ascii_whitespace()) {
            j += 1;
        }
        let word_end = source[j..]
            .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .map_or(source.len(), |e| j + e);
        let word = &source[j..word_end];
        let mut k = word_end;
        while k < b.len() && b[k].is_ascii_whitespace() {
            k += 1;
        }
        let name_end = source[k..]
            .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .map_or(source.len(), |e| k + e);
        out.push((word.to_string(), source[k..name_end].to_string(), start));
        rest = word_end.max(start + 2);
    }
    out
}

/// The line and column of byte `offset` in `text`.
pub fn position(text: &str, offset: usize) -> Mark {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.chars().count(), |i| before[i + 1..].chars().count())
        + 1;
    Mark { line, col }
}

impl Renderer {
    /// An environment with dbt's functions and the macros of `macros` (`(path relative to
    /// the project, source)`); problems in macro files are returned.
    pub fn new(
        dir: &Path,
        globals: Globals,
        macros: &[(std::path::PathBuf, String)],
    ) -> (Renderer, Vec<TemplateError>) {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        env.set_debug(true);
        let shared = Arc::new(Mutex::new(Shared::default()));
        let mut problems = Vec::new();
        // Which macros each file defines.
        let mut defined: Vec<(String, Vec<String>)> = Vec::new();
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        let mut macro_files = BTreeMap::new();
        for (rel, source) in macros {
            let name = rel.to_string_lossy().into_owned();
            let mut names = Vec::new();
            for (word, what, at) in scan_blocks(source) {
                let origin = Origin::new(&dir.join(rel), position(source, at));
                match word.as_str() {
                    "macro" => {
                        if let Some(other) = seen.insert(what.clone(), name.clone()) {
                            problems.push(TemplateError {
                                origin,
                                message: format!(
                                    "macro `{what}` is also defined in {other}: macro names are global"
                                ),
                            });
                        } else {
                            names.push(what);
                        }
                    }
                    "test" => problems.push(TemplateError {
                        origin,
                        message: format!(
                            "custom generic test `{what}` is not supported by sluice (its generic tests are not_null, unique, accepted_values and relationships; write a singular test in tests/)"
                        ),
                    }),
                    "materialization" => problems.push(TemplateError {
                        origin,
                        message: "custom materializations are not supported by sluice".into(),
                    }),
                    _ => {}
                }
            }
            macro_files.insert(name.clone(), (dir.join(rel), source.clone()));
            defined.push((name, names));
        }
        let imports = |except: Option<&str>| -> String {
            defined
                .iter()
                .filter(|(f, names)| Some(f.as_str()) != except && !names.is_empty())
                .map(|(f, names)| format!("{{% from \"{f}\" import {} %}}", names.join(", ")))
                .collect()
        };
        let prefix = imports(None);
        let mut macro_prefix_len = BTreeMap::new();
        for (rel, source) in macros {
            let name = rel.to_string_lossy().into_owned();
            let own = imports(Some(&name));
            macro_prefix_len.insert(name.clone(), own.len());
            if let Err(e) = env.add_template_owned(name.clone(), format!("{own}{source}")) {
                problems.push(TemplateError {
                    origin: Origin::new(&dir.join(rel), error_mark(&e, source, own.len())),
                    message: message(&e),
                });
            }
        }
        add_functions(&mut env, &shared, globals);
        (
            Renderer {
                env,
                shared,
                prefix,
                macro_files,
                macro_prefix_len,
            },
            problems,
        )
    }

    /// Tells `ref()` and `source()` which names exist.
    pub fn set_names(
        &mut self,
        nodes: BTreeSet<String>,
        sources: BTreeMap<(String, String), String>,
    ) {
        let mut s = lock(&self.shared);
        s.nodes = nodes;
        s.sources = sources;
    }

    /// Renders `source` (the text of `file`) with `is_incremental()` answering `incremental`.
    pub fn render(
        &self,
        file: &Path,
        source: &str,
        incremental: bool,
    ) -> Result<(String, Calls), TemplateError> {
        {
            let mut s = lock(&self.shared);
            s.incremental = incremental;
            s.calls = Calls::default();
        }
        let text = format!("{}{source}", self.prefix);
        let name = file.to_string_lossy().into_owned();
        let result = self
            .env
            .render_named_str(&name, &text, minijinja::context! {});
        let calls = std::mem::take(&mut lock(&self.shared).calls);
        match result {
            Ok(sql) => Ok((sql, calls)),
            Err(e) => Err(self.locate(&e, file, source)),
        }
    }

    /// Where an error is: in a macro file when it happened there, else in `file`.
    fn locate(&self, e: &Error, file: &Path, source: &str) -> TemplateError {
        // The innermost error with a position tells where it happened.
        let mut inner: &Error = e;
        let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
        while let Some(next) = cur {
            if let Some(err) = next.downcast_ref::<Error>()
                && err.line().is_some()
            {
                inner = err;
            }
            cur = next.source();
        }
        let in_macro = inner
            .name()
            .and_then(|n| Some((n, self.macro_files.get(n)?)));
        let origin = match in_macro {
            Some((name, (path, text))) => {
                let skip = self.macro_prefix_len.get(name).copied().unwrap_or(0);
                Origin::new(path, error_mark(inner, text, skip))
            }
            None => Origin::new(file, error_mark(inner, source, self.prefix.len())),
        };
        TemplateError {
            origin,
            message: message(e),
        }
    }
}

/// The position of `e` in `source`, which was rendered after a prefix of `skip` bytes on
/// its first line.
fn error_mark(e: &Error, source: &str, skip: usize) -> Mark {
    if let Some(range) = e.range() {
        let at = range.start.saturating_sub(skip);
        if range.start >= skip {
            return position(source, at);
        }
    }
    Mark {
        line: e.line().unwrap_or(1),
        col: 1,
    }
}

/// The message of an error, without minijinja's own position.
fn message(e: &Error) -> String {
    // The innermost detail says most.
    let describe = |e: &Error| match (e.kind(), e.detail()) {
        // Our own functions' errors (`ref`, `var`, …) say everything.
        (ErrorKind::InvalidOperation, Some(d)) => d.to_string(),
        (kind, Some(d)) => format!("{}: {d}", kind_text(kind)),
        (kind, None) => kind_text(kind).to_string(),
    };
    let mut text = describe(e);
    let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(next) = cur {
        if let Some(err) = next.downcast_ref::<Error>()
            && err.detail().is_some()
        {
            text = describe(err);
        }
        cur = next.source();
    }
    text
}

fn kind_text(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::SyntaxError => "Jinja syntax error",
        ErrorKind::UndefinedError => "undefined value",
        ErrorKind::UnknownFunction => "unknown function",
        ErrorKind::UnknownFilter => "unknown filter",
        ErrorKind::UnknownTest => "unknown test",
        ErrorKind::UnknownMethod => "unknown method",
        ErrorKind::TemplateNotFound => "template not found",
        ErrorKind::MissingArgument => "missing argument",
        ErrorKind::TooManyArguments => "too many arguments",
        ErrorKind::InvalidOperation => "invalid operation",
        _ => "Jinja error",
    }
}

fn add_functions(env: &mut Environment<'static>, shared: &Arc<Mutex<Shared>>, g: Globals) {
    let s = shared.clone();
    env.add_function("ref", move |args: Rest<String>, _kw: Kwargs| {
        let Some(name) = args.last() else {
            return Err(Error::new(
                ErrorKind::MissingArgument,
                "ref() needs the name of a model, seed or snapshot",
            ));
        };
        let mut st = lock(&s);
        if !st.nodes.contains(name) {
            let hint = did_you_mean(name, st.nodes.iter().map(String::as_str))
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("ref('{name}') names no model, seed or snapshot of the project{hint}"),
            ));
        }
        st.calls.refs.push(name.clone());
        Ok(Value::from_safe_string(format!(
            "{REF_MARK}ref:{name}{REF_MARK}"
        )))
    });
    let s = shared.clone();
    env.add_function("source", move |source: String, table: String| {
        let mut st = lock(&s);
        let key = (source.clone(), table.clone());
        let Some(relation) = st.sources.get(&key).cloned() else {
            let known: Vec<String> = st.sources.keys().map(|(a, b)| format!("{a}.{b}")).collect();
            let wanted = format!("{source}.{table}");
            let hint = did_you_mean(&wanted, known.iter().map(String::as_str))
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("source('{source}', '{table}') is not declared under `sources:`{hint}"),
            ));
        };
        st.calls.sources.push(key);
        Ok(Value::from_safe_string(relation))
    });
    let s = shared.clone();
    env.add_function("config", move |kw: Kwargs| {
        let mut st = lock(&s);
        for key in kw.args() {
            let v: Value = kw.get(key)?;
            let json = serde_json::to_value(&v).unwrap_or(serde_json::Value::Null);
            st.calls.config.push((key.to_string(), json));
        }
        Ok(String::new())
    });
    let s = shared.clone();
    env.add_function("is_incremental", move || lock(&s).incremental);
    let vars = g.vars.clone();
    env.add_function("var", move |name: String, default: Option<Value>| {
        match (vars.get(&name), default) {
            (Some(v), _) => Ok(Value::from(minijinja::value::Serde(v))),
            (None, Some(d)) => Ok(d),
            (None, None) => Err(Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "var('{name}') is not set: give it under `vars:` in dbt_project.yml or with --param {name}=…"
                ),
            )),
        }
    });
    let envs = g.env.clone();
    env.add_function(
        "env_var",
        move |name: String, default: Option<String>| match (envs.get(&name), default) {
            (Some(v), _) => Ok(v.clone()),
            (None, Some(d)) => Ok(d),
            (None, None) => Err(Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "env_var('{name}'): the environment variable is not set and no default is given"
                ),
            )),
        },
    );
    env.add_function("log", |_msg: Value, _info: Option<bool>| String::new());
    env.add_function(
        "raise_compiler_error",
        |msg: String| -> Result<String, Error> {
            Err(Error::new(ErrorKind::InvalidOperation, msg))
        },
    );
    env.add_global(
        "exceptions",
        minijinja::context! {
            raise_compiler_error => Value::from_function(|msg: String| -> Result<String, Error> {
                Err(Error::new(ErrorKind::InvalidOperation, msg))
            }),
        },
    );
    env.add_global(
        "target",
        minijinja::context! {
            name => g.target.clone(),
            target_name => g.target,
            schema => "main",
            database => g.project.clone(),
            type => "sluice",
            profile_name => g.project.clone(),
            threads => 1,
        },
    );
    env.add_global("project_name", g.project);
    env.add_global("this", Value::from_safe_string(crate::THIS.into()));
}

/// The names of the environment variables `env_var('NAME')` reads in `text`.
pub fn env_var_names(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("env_var(") {
        rest = &rest[i + "env_var(".len()..];
        let t = rest.trim_start();
        if let Some(q) = t.chars().next().filter(|c| *c == '\'' || *c == '"')
            && let Some(end) = t[1..].find(q)
        {
            out.push(t[1..1 + end].to_string());
        }
    }
    out
}

/// The position of the `what(` call naming `name` in `source` (for messages about a `ref`).
pub fn call_position(source: &str, what: &str, name: &str) -> Mark {
    let mut rest = 0;
    while let Some(i) = source[rest..].find(&format!("{what}(")) {
        let at = rest + i;
        let args = &source[at + what.len() + 1..];
        let end = args.find(')').unwrap_or(args.len());
        if args[..end].contains(&format!("'{name}'"))
            || args[..end].contains(&format!("\"{name}\""))
        {
            return position(source, at);
        }
        rest = at + what.len() + 1;
    }
    Mark { line: 1, col: 1 }
}

/// The position of the first `what(` call in `source`.
pub fn call_position_any(source: &str, what: &str) -> Mark {
    source
        .find(&format!("{what}("))
        .map_or(Mark { line: 1, col: 1 }, |i| position(source, i))
}
