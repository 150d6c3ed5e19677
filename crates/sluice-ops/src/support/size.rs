//! Sizes as pipeline files write them: `1000`, `500KB`, `20 MB`, `2GiB`.

use serde::Deserialize;

/// Deserialises an optional size key (`max_size: 20 MB`).
pub fn de_size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let text = <String as Deserialize>::deserialize(d)?;
    parse_size(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// Parses a size: `1000`, `500KB`, `20 MB`, `2GiB` (KB/MB/GB are powers of 1000, KiB/MiB/GiB
/// of 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = (&t[..split], t[split..].trim());
    let factor: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => {
            return Err(format!(
                "`{text}`: unknown size unit `{unit}` (use B, KB, MB, GB, KiB, MiB or GiB)"
            ));
        }
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a size (e.g. `500MB`, `2GiB`)"))?;
    Ok((n * factor as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_decimal_and_binary_units() {
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("20 MB"), Ok(20_000_000));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("1.5kb"), Ok(1500));
        assert_eq!(
            parse_size("3 parsecs"),
            Err(
                "`3 parsecs`: unknown size unit `parsecs` (use B, KB, MB, GB, KiB, MiB or GiB)"
                    .into()
            )
        );
    }
}
