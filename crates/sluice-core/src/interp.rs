//! `${params.NAME}` and `${env.NAME}` / `${env.NAME:-default}` interpolation.
//!
//! Only these two prefixes are ours: any other `${…}` (a shell variable in a `run:` command)
//! is left as written. `$${` writes a literal `${`.
//!
//! In `run:` commands ([`Scope::shell`]) a parameter's value is never pasted into the command:
//! `${params.out}` becomes a reference to the environment variable `SLUICE_PARAM_OUT`, quoted
//! for where it stands (`"${SLUICE_PARAM_OUT}"` outside quotes, `${SLUICE_PARAM_OUT}` inside
//! double quotes, `'"${SLUICE_PARAM_OUT}"'` inside single quotes), so whatever the value, the
//! shell reads it as data within one word and never as code.

use std::collections::BTreeMap;

use crate::diag::did_you_mean;

/// Where interpolated values come from.
pub struct Scope<'a> {
    /// Pipeline parameters after overrides.
    pub params: &'a BTreeMap<String, String>,
    /// Reads an environment variable.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The text is a shell command: parameters become quoted environment variable references.
    pub shell: bool,
}

/// The environment variable that carries parameter `name` to `run:` commands.
pub fn param_env_name(name: &str) -> String {
    format!("SLUICE_PARAM_{}", name.to_ascii_uppercase())
}

/// Where the shell stands at a point of a command: which quotes are open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Single,
    Double,
}

/// The quoting state after reading `text` from state `q` (backslash escapes, `'…'`, `"…"`).
fn quote_after(text: &str, mut q: Quote) -> Quote {
    let mut escaped = false;
    for c in text.chars() {
        if escaped {
            escaped = false;
            continue;
        }
        q = match (q, c) {
            (Quote::None | Quote::Double, '\\') => {
                escaped = true;
                q
            }
            (Quote::None, '\'') => Quote::Single,
            (Quote::None, '"') => Quote::Double,
            (Quote::Single, '\'') | (Quote::Double, '"') => Quote::None,
            _ => q,
        };
    }
    q
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
    /// The parameters referenced, in order, without repeats.
    pub params: Vec<String>,
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
    let mut quote = Quote::None;
    while let Some(pos) = rest.find("${") {
        if pos > 0 && rest.as_bytes()[pos - 1] == b'$' {
            out.text.push_str(&rest[..pos - 1]);
            out.text.push_str("${");
            quote = quote_after(&rest[..pos - 1], quote);
            rest = &rest[pos + 2..];
            continue;
        }
        out.text.push_str(&rest[..pos]);
        quote = quote_after(&rest[..pos], quote);
        let after = &rest[pos + 2..];
        let Some(end) = after.find('}') else {
            out.text.push_str(&rest[pos..]);
            rest = "";
            break;
        };
        let expr = &after[..end];
        if let Some(name) = expr.strip_prefix("params.") {
            match scope.params.get(name) {
                Some(_) if scope.shell => {
                    let var = param_env_name(name);
                    match quote {
                        Quote::None => out.text.push_str(&format!("\"${{{var}}}\"")),
                        Quote::Double => out.text.push_str(&format!("${{{var}}}")),
                        Quote::Single => out.text.push_str(&format!("'\"${{{var}}}\"'")),
                    }
                    if !out.params.iter().any(|p| p == name) {
                        out.params.push(name.to_string());
                    }
                }
                Some(v) => {
                    out.text.push_str(v);
                    if !out.params.iter().any(|p| p == name) {
                        out.params.push(name.to_string());
                    }
                }
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
                    quote = quote_after(&v, quote);
                }
                (None, Some(d)) => {
                    out.text.push_str(d);
                    quote = quote_after(d, quote);
                }
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
                shell: false,
            },
        )
    }

    fn shell_run(text: &str) -> String {
        let params = BTreeMap::from([("out".to_string(), "x; touch PWNED #".to_string())]);
        let env = |_: &str| None;
        let scope = Scope {
            params: &params,
            env: &env,
            shell: true,
        };
        let i = interpolate(text, &scope).expect("ok");
        assert_eq!(i.params, vec!["out".to_string()]);
        i.text
    }

    #[test]
    fn shell_commands_get_quoted_variable_references() {
        assert_eq!(
            shell_run("rm -rf ${params.out} && ls ${params.out}/a"),
            r#"rm -rf "${SLUICE_PARAM_OUT}" && ls "${SLUICE_PARAM_OUT}"/a"#
        );
        assert_eq!(
            shell_run(r#"echo "dir: ${params.out}""#),
            r#"echo "dir: ${SLUICE_PARAM_OUT}""#
        );
        assert_eq!(
            shell_run("echo 'dir: ${params.out}!'"),
            r#"echo 'dir: '"${SLUICE_PARAM_OUT}"'!'"#
        );
        assert_eq!(
            shell_run(r#"echo it\'s ${params.out}"#),
            r#"echo it\'s "${SLUICE_PARAM_OUT}""#
        );
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
