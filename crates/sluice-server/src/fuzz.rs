//! Property-based fuzzing of what API callers send: every JSON request body (`serde_json` over
//! arbitrary bytes, arbitrary JSON values, bodies shaped like the real ones, deep nesting), the
//! query strings of the GET routes, and role names. No panic, no stack overflow; a body with a
//! key its type does not know is refused.
//!
//! `cargo test -p sluice-server --lib fuzz_` runs them with `SLUICE_FUZZ_CASES` cases each
//! (default 256); see docs/fuzzing.md.

use axum::extract::Query;
use axum::http::Uri;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::Config;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::api::datasets::DatasetQuery;
use crate::api::logs::LogsQuery;
use crate::api::pipelines::{Backfill, GridQuery, Trigger};
use crate::api::runs::RunsQuery;
use crate::api::search::{EmbeddingsBody, SearchBody};
use crate::api::session::Login;
use crate::api::users::{NewToken, NewUser};
use crate::auth::Role;

/// [`sluice_core::fuzz_cases`] cases per property, no regression files.
fn config() -> Config {
    Config {
        cases: sluice_core::fuzz_cases(),
        failure_persistence: None,
        ..Config::default()
    }
}

/// One request body type: its name, its fields, whether it refuses unknown keys, and how it
/// parses bytes and values.
struct Body {
    name: &'static str,
    fields: &'static [&'static str],
    strict: bool,
    from_slice: fn(&[u8]) -> Result<(), String>,
    from_value: fn(Value) -> Result<(), String>,
}

fn slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<(), String> {
    serde_json::from_slice::<T>(bytes)
        .map(drop)
        .map_err(|e| e.to_string())
}

fn value<T: DeserializeOwned>(v: Value) -> Result<(), String> {
    serde_json::from_value::<T>(v)
        .map(drop)
        .map_err(|e| e.to_string())
}

macro_rules! body {
    ($t:ty, $strict:expr, [$($f:literal),*]) => {
        Body {
            name: stringify!($t),
            fields: &[$($f),*],
            strict: $strict,
            from_slice: slice::<$t>,
            from_value: value::<$t>,
        }
    };
}

/// Every JSON body the API reads.
const BODIES: &[Body] = &[
    body!(Login, true, ["user", "password"]),
    body!(Trigger, true, ["params", "tasks", "force"]),
    body!(Backfill, true, ["from", "to"]),
    body!(NewUser, true, ["name", "password", "role"]),
    body!(NewToken, true, ["label", "role", "user", "expires_in_days"]),
    body!(
        SearchBody,
        true,
        ["dataset", "query", "k", "where", "column", "ef"]
    ),
    body!(
        EmbeddingsBody,
        false,
        ["input", "model", "encoding_format", "dimensions", "user"]
    ),
];

/// Every field name of every body, and a few others.
fn key() -> impl Strategy<Value = String> {
    let known: Vec<String> = BODIES
        .iter()
        .flat_map(|b| b.fields.iter().map(|f| f.to_string()))
        .chain(["role_", "User", "", "__proto__"].map(String::from))
        .collect();
    prop_oneof![4 => select(known), 1 => "\\PC{0,8}"]
}

/// Strings that matter to the handlers (roles, dates, model names, paths) and any others.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        select(
            &[
                "viewer",
                "operator",
                "admin",
                "public",
                "2026-11-01",
                "2026-11-01T06:00:00+01:00",
                "all-MiniLM-L6-v2",
                "../../etc/passwd",
                "float",
                "base64",
                "x; touch PWNED #",
                "",
            ][..]
        )
        .prop_map(String::from),
        any::<String>(),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object with a body's keys (some missing, some extra) and values of any JSON type.
fn shaped() -> impl Strategy<Value = Value> {
    (
        0..BODIES.len(),
        prop::collection::vec((any::<bool>(), json()), 6),
        prop::option::of((key(), json())),
    )
        .prop_map(|(i, values, extra)| {
            let mut m = Map::new();
            for (f, (keep, v)) in BODIES[i].fields.iter().zip(values) {
                if keep {
                    m.insert(f.to_string(), v);
                }
            }
            if let Some((k, v)) = extra {
                m.insert(k, v);
            }
            Value::Object(m)
        })
}

/// Parses `v` (as a value and as its bytes) into every body: no panic, the two ways agree, and
/// a strict body accepts no object with a key it does not know.
fn check_value(v: &Value) -> Result<(), TestCaseError> {
    let bytes = serde_json::to_vec(v).expect("a value serializes");
    for b in BODIES {
        let from_bytes = (b.from_slice)(&bytes);
        let from_value = (b.from_value)(v.clone());
        prop_assert_eq!(
            from_bytes.is_ok(),
            from_value.is_ok(),
            "{}: bytes {:?} / value {:?} for {}",
            b.name,
            from_bytes,
            from_value,
            v
        );
        if let (Value::Object(m), Ok(())) = (v, &from_bytes)
            && b.strict
        {
            let unknown: Vec<&String> = m
                .keys()
                .filter(|k| !b.fields.contains(&k.as_str()))
                .collect();
            prop_assert!(
                unknown.is_empty(),
                "{} accepted {:?} in {}",
                b.name,
                unknown,
                v
            );
        }
    }
    Ok(())
}

/// Parses a query string into every query of the GET routes, as axum does.
fn check_query(query: &str) {
    let Ok(uri) = format!("/api/runs?{query}").parse::<Uri>() else {
        return;
    };
    let _ = Query::<RunsQuery>::try_from_uri(&uri);
    let _ = Query::<GridQuery>::try_from_uri(&uri);
    let _ = Query::<LogsQuery>::try_from_uri(&uri);
    let _ = Query::<DatasetQuery>::try_from_uri(&uri);
}

/// `depth` levels of arrays (or objects) in each field of each body.
fn deep(depth: usize, objects: bool) -> Vec<Vec<u8>> {
    let (open, close) = if objects {
        ("{\"a\":", "}")
    } else {
        ("[", "]")
    };
    let nested = format!("{}1{}", open.repeat(depth), close.repeat(depth));
    let mut out = vec![nested.clone().into_bytes()];
    for b in BODIES {
        for f in b.fields {
            out.push(format!("{{\"{f}\": {nested}}}").into_bytes());
        }
    }
    out
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary bytes as every body.
    #[test]
    fn fuzz_api_json_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        for b in BODIES {
            let _ = (b.from_slice)(&bytes);
        }
    }

    /// Arbitrary JSON values as every body.
    #[test]
    fn fuzz_api_json_values(v in json()) {
        check_value(&v)?;
    }

    /// Objects shaped like the bodies, with values of any type and an extra key at times.
    #[test]
    fn fuzz_api_json_shaped(v in shaped()) {
        check_value(&v)?;
    }

    /// Nesting up to far past serde_json's limit of 128, in every field: an error beyond it,
    /// never a stack overflow.
    #[test]
    fn fuzz_api_json_nesting(depth in 0usize..2_000, objects in any::<bool>()) {
        for bytes in deep(depth, objects) {
            for b in BODIES {
                let r = (b.from_slice)(&bytes);
                if depth > 128 {
                    prop_assert!(r.is_err(), "{} accepted {} levels", b.name, depth);
                }
            }
        }
    }

    /// Query strings of the GET routes (`limit`, `attempt`, `follow`, `rows`…).
    #[test]
    fn fuzz_api_query_strings(
        pairs in prop::collection::vec(
            (
                select(&["pipeline", "state", "limit", "attempt", "follow", "rows", "x"][..]),
                prop_oneof!["[0-9]{0,25}", "-?[0-9]{1,4}", "true|false|1|0", "(%[0-9A-Fa-f]{0,2}|[a-z+=&;])*", "\\PC{0,6}"],
            ),
            0..6,
        ),
    ) {
        let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        check_query(&query.join("&"));
    }

    /// Role names: only the three names are roles, each its own name.
    #[test]
    fn fuzz_role_from_name(name in prop_oneof![text(), "(viewer|operator|admin|public)[ \\n]?"]) {
        match Role::from_name(&name) {
            Some(role) => {
                prop_assert!(Role::NAMES.contains(&name.as_str()));
                prop_assert_eq!(role.name(), name.as_str());
            }
            None => prop_assert!(!Role::NAMES.contains(&name.as_str())),
        }
    }
}

#[test]
fn bodies_100_000_deep_are_refused() {
    for objects in [false, true] {
        for bytes in deep(100_000, objects) {
            for b in BODIES {
                assert!((b.from_slice)(&bytes).is_err(), "{}", b.name);
            }
        }
    }
    // `input` is buffered whatever its shape (it is one text or several): serde_json's limit
    // of 128 levels (the body's object is the first) stops it.
    let bytes = format!("{{\"input\": {}", "[".repeat(100_000));
    let e = slice::<EmbeddingsBody>(bytes.as_bytes()).expect_err("too deep");
    assert_eq!(e, "recursion limit exceeded at line 1 column 137");
}
