//! Durations as users write them: `500ms`, `30s`, `10m`, `2h`, `1d`, or combined `1h30m`.

use std::time::Duration;

/// Parses a duration. Every number needs a unit.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "invalid duration `{text}`: expected a number, then a unit (ms, s, m, h, d), like `30s` or `1h30m`"
            ));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("invalid duration `{text}`: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let too_long = || format!("invalid duration `{text}`: too long");
        let secs = |factor: u64| {
            n.checked_mul(factor)
                .map(Duration::from_secs)
                .ok_or_else(too_long)
        };
        let part = match unit {
            "ms" => Duration::from_millis(n),
            "s" => secs(1)?,
            "m" => secs(60)?,
            "h" => secs(3600)?,
            "d" => secs(86_400)?,
            "" => {
                return Err(format!(
                    "invalid duration `{text}`: `{n}` needs a unit, like `{n}s` or `{n}m`"
                ));
            }
            other => {
                return Err(format!(
                    "invalid duration `{text}`: unknown unit `{other}` (use ms, s, m, h or d)"
                ));
            }
        };
        total = total
            .checked_add(part)
            .ok_or_else(|| format!("invalid duration `{text}`: too long"))?;
    }
    Ok(total)
}

/// Writes a duration the way users write them (`1h30m`, `250ms`, `0s`).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if !ms.is_multiple_of(1000) && ms < 60_000 {
        return if ms < 1000 {
            format!("{ms}ms")
        } else {
            format!("{:.1}s", d.as_secs_f64())
        };
    }
    let mut secs = d.as_secs();
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

/// Serde helper: `#[serde(deserialize_with = "sluice_core::duration::deserialize")]` reads a
/// duration written as text (`30s`), with the same error messages as task keys.
pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = <String as serde::Deserialize>::deserialize(d)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_combinations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
    }

    #[test]
    fn rejects_bad_durations_with_reason() {
        assert_eq!(
            parse_duration("30"),
            Err("invalid duration `30`: `30` needs a unit, like `30s` or `30m`".into())
        );
        assert_eq!(
            parse_duration("5 minutes"),
            Err(
                "invalid duration `5 minutes`: unknown unit ` minutes` (use ms, s, m, h or d)"
                    .into()
            )
        );
        assert!(parse_duration("abc").is_err());
        assert_eq!(
            parse_duration("18446744073709551615s1s"),
            Err("invalid duration `18446744073709551615s1s`: too long".into())
        );
        assert!(parse_duration("18446744073709551615d").is_err());
    }

    #[test]
    fn formats_back() {
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
    }
}
