//! Where a value set by an API caller may point: never at this machine or its network
//! (`file://`, local paths, loopback, private, link-local and unspecified addresses), so that
//! a trigger cannot make a task read the server's files or call its internal services.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// True for a config key that names a place to connect to (`url`, `base_url`, `endpoint`,
/// `host`, `uri`…): a value there without a scheme is a local path.
pub fn is_address_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["url", "uri", "endpoint", "host", "origin"]
        .iter()
        .any(|w| k.ends_with(w))
}

/// Why `value` (in config key `key`) may not come from an API caller, or `None` when it
/// points at a public network address.
pub fn local_target(key: &str, value: &str) -> Option<String> {
    let value = value.trim();
    let Some((scheme, _)) = value.split_once("://") else {
        return is_address_key(key).then(|| format!("`{value}` is a local path, not a URL"));
    };
    if scheme.eq_ignore_ascii_case("file") {
        return Some(format!("`{value}` is a `file://` URL"));
    }
    let url = match url::Url::parse(value) {
        Ok(u) => u,
        Err(e) => return Some(format!("`{value}` is not a valid URL ({e})")),
    };
    match url.host() {
        None => Some(format!("`{value}` has no host")),
        Some(url::Host::Domain(d)) => {
            // Schemes the URL standard does not know (`postgres://`) keep IPs as names.
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if let Ok(ip) = d
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
            {
                return local_ip(ip);
            }
            (d == "localhost" || d.ends_with(".localhost"))
                .then(|| format!("`{d}` is this machine"))
        }
        Some(url::Host::Ipv4(ip)) => local_ip(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => local_ip(IpAddr::V6(ip)),
    }
}

/// Why an address is local, or `None` for a public one.
fn local_ip(ip: IpAddr) -> Option<String> {
    let what = match ip {
        IpAddr::V4(v4) => v4_kind(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4_kind(v4),
            None => v6_kind(v6),
        },
    }?;
    Some(format!("{ip} is {what}"))
}

fn v4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() || (o[0] == 100 && (64..128).contains(&o[1])) {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local address (cloud metadata lives there)")
    } else if ip.is_unspecified() || ip.is_broadcast() || o[0] == 0 {
        Some("not a routable address")
    } else {
        None
    }
}

fn v6_kind(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_unspecified() {
        Some("not a routable address")
    } else if first & 0xfe00 == 0xfc00 {
        Some("a private address")
    } else if first & 0xffc0 == 0xfe80 {
        Some("a link-local address")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_targets_are_named() {
        for (key, v) in [
            ("url", "file:///etc/passwd"),
            ("url", "/etc/passwd"),
            ("url", "http://localhost:5432/x"),
            ("url", "http://127.0.0.1/"),
            ("url", "http://2130706433/"),
            ("endpoint", "http://[::1]:9000"),
            ("endpoint", "http://[::ffff:10.0.0.1]/"),
            ("base_url", "http://169.254.169.254/latest/meta-data"),
            ("url", "postgres://u@192.168.1.2/db"),
            ("origin", "https://example.org@10.1.2.3/x"),
            ("url", "http://0.0.0.0:80/"),
        ] {
            assert!(local_target(key, v).is_some(), "{key}: {v}");
        }
        assert_eq!(
            local_target("url", "http://127.0.0.1/").as_deref(),
            Some("127.0.0.1 is a loopback address")
        );
        for (key, v) in [
            ("url", "https://echanges.dila.gouv.fr/OPENDATA"),
            ("url", "http://93.184.216.34/"),
            ("path", "data/x.csv"),
            ("endpoint", "https://api.example.com/v1"),
        ] {
            assert_eq!(local_target(key, v), None, "{key}: {v}");
        }
    }
}
