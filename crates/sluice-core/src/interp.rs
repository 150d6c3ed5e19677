//! `${params.NAME}` and `${env.NAME}` / `${env.NAME:-default}` interpolation.
//!
//! Only these two prefixes are ours: any other `${…}` (a shell variable in a `run:` command)
//! is left as written. `$${` writes a literal `${`.

use std::collections::BTreeMap;

use crate::diag::did_you_mean;

/// Where interpolated values come from.
pub struct Scope<'a> {
    /// Pipeline parameters after overrides.
    pub params: &'a BTreeMap<String, String>,
    /// Reads an environment variable.
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// A failed interpolation.
#[derive(Debug, Clone, PartialEq)]
pub struct InterpError {
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub hint: Option<String>,
}

/// Result of interpolating one string.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Interpolated {
    /// The text with every reference replaced.
    pub text: String,
    /// Values substituted from environment variables whose name marks them as secrets.
    pub secrets: Vec<String>,
}

/// True when an environment variable name marks its value as a secret (`API_KEY`, `PG_PASSWORD`…).
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "TOKEN",
        "KEY",
        "CREDENTIAL",
        "PRIVATE",
        "AUTH",
    ]
    .iter()
    .any(|w| upper.contains(w))
}

/// Replaces `${params.x}` and `${env.X}` references in `text`.
pub fn interpolate(text: &str, scope: &Scope<'_>) -> Result<Interpolated, InterpError> {
    let mut out = Interpolated::default();
    let mut rest = text;
    while let Some(pos) = rest.find("${") {
        if pos > 0 && rest.as_bytes()[pos - 1] == b'$' {
            out.text.push_str(&rest[..pos - 1]);
            out.text.push_str("${");
            rest = &rest[pos + 2..];
            continue;
        }
        out.text.push_str(&rest[..pos]);
        let after = &rest[pos + 2..];
        let Some(end) = after.find('}') else {
            out.text.push_str(&rest[pos..]);
            rest = "";
            break;
        };
        let expr = &after[..end];
        if let Some(name) = expr.strip_prefix("params.") {
            match scope.params.get(name) {
                Some(v) => out.text.push_str(v),
                None => {
                    return Err(InterpError {
                        message: format!("unknown parameter `{name}` in `${{{expr}}}`"),
                        hint: did_you_mean(name, scope.params.keys().map(String::as_str))
                            .or_else(|| Some("declare it under `params:`".into())),
                    });
                }
            }
        } else if let Some(spec) = expr.strip_prefix("env.") {
            let (name, default) = match spec.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (spec, None),
            };
            match ((scope.env)(name), default) {
                (Some(v), _) => {
                    if is_secret_name(name) && !v.is_empty() {
                        out.secrets.push(v.clone());
                    }
                    out.text.push_str(&v);
                }
                (None, Some(d)) => out.text.push_str(d),
                (None, None) => {
                    return Err(InterpError {
                        message: format!("environment variable `{name}` is not set"),
                        hint: Some(format!(
                            "set it, or give a default: `${{env.{name}:-value}}`"
                        )),
                    });
                }
            }
        } else {
            out.text.push_str("${");
            out.text.push_str(expr);
            out.text.push('}');
        }
        rest = &after[end + 1..];
    }
    out.text.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope_run(text: &str) -> Result<Interpolated, InterpError> {
        let params = BTreeMap::from([("data".to_string(), "/srv/data".to_string())]);
        let env = |n: &str| match n {
            "HOME" => Some("/home/u".to_string()),
            "API_TOKEN" => Some("s3cr3t".to_string()),
            _ => None,
        };
        interpolate(
            text,
            &Scope {
                params: &params,
                env: &env,
            },
        )
    }

    #[test]
    fn replaces_params_and_env() {
        let r = scope_run("cp ${params.data}/a ${env.HOME} ${env.MISSING:-dflt}").expect("ok");
        assert_eq!(r.text, "cp /srv/data/a /home/u dflt");
        assert!(r.secrets.is_empty());
    }

    #[test]
    fn leaves_shell_variables_and_escapes() {
        let r = scope_run("echo ${HOME} $${params.data} $x").expect("ok");
        assert_eq!(r.text, "echo ${HOME} ${params.data} $x");
    }

    #[test]
    fn collects_secrets() {
        let r = scope_run("curl -H 'Authorization: ${env.API_TOKEN}'").expect("ok");
        assert_eq!(r.secrets, vec!["s3cr3t".to_string()]);
    }

    #[test]
    fn errors_name_the_reference() {
        let e = scope_run("${params.dta}").expect_err("unknown");
        assert_eq!(e.message, "unknown parameter `dta` in `${params.dta}`");
        assert_eq!(e.hint.as_deref(), Some("did you mean `data`?"));
        let e = scope_run("${env.NOPE}").expect_err("unset");
        assert_eq!(e.message, "environment variable `NOPE` is not set");
    }
}
