//! The addresses a host is given through the API (`mgmt_ip`, `cluster_ip`, `mgmt_mac`, `bm_ip`),
//! checked before anything is stored: an address that cannot be one would otherwise sit in the
//! store and surface later as a BMC access alarm or a node that never links, far from the request
//! that caused it. Every refusal is a 400 that names the field, shows the value (escaped, shortened)
//! and the shape wanted.

use crate::error::ApiError;
use std::net::{IpAddr, Ipv6Addr};

/// Longest value echoed back in a refusal.
const ECHO_LIMIT: usize = 64;

/// `value` as it is safe to quote in a message: control characters escaped, at most
/// [`ECHO_LIMIT`] characters.
fn echo(value: &str) -> String {
    let short: String = value.chars().take(ECHO_LIMIT).collect();
    let ellipsis = if short.len() < value.len() { "…" } else { "" };
    format!("{}{ellipsis}", short.escape_debug())
}

/// `mgmt_ip`, `cluster_ip`: an IPv4 or IPv6 address literal.
pub fn check_ip(field: &str, value: &str) -> Result<(), ApiError> {
    match value.parse::<IpAddr>() {
        Ok(_) => Ok(()),
        Err(_) => Err(ApiError::BadRequest(format!(
            "{field} '{}' is not an IP address; give an IPv4 (10.0.0.11) or IPv6 (fd00::11) address",
            echo(value)
        ))),
    }
}

/// `mgmt_mac`: six pairs of hex digits separated by ':' (or '-').
pub fn check_mac(field: &str, value: &str) -> Result<(), ApiError> {
    let sep = if value.contains('-') { '-' } else { ':' };
    let pairs: Vec<&str> = value.split(sep).collect();
    let ok = pairs.len() == 6
        && pairs
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()));
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "{field} '{}' is not a MAC address; give six hex pairs such as 08:00:27:0a:1b:2c",
            echo(value)
        )))
    }
}

/// `bm_ip`: what the BMC layer can reach: an IP address or a DNS name, with an optional port
/// (`ADDR:PORT`, `[IPv6]:PORT`), optionally as `http(s)://ADDR[:PORT]` for Redfish.
pub fn check_bmc_address(field: &str, value: &str) -> Result<(), ApiError> {
    if value.contains('@') {
        // Not echoed: the part before '@' may be a password.
        return Err(ApiError::BadRequest(format!(
            "{field} must not embed credentials (user:password@host); give bm_username and bm_password separately"
        )));
    }
    if bmc_address_ok(value) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "{field} '{}' is not a BMC address; give an IP address or host name, optionally with :PORT, \
             [IPv6]:PORT, or https://ADDR[:PORT] (http:// for a plain-HTTP Redfish service)",
            echo(value)
        )))
    }
}

fn bmc_address_ok(value: &str) -> bool {
    let rest = match value.split_once("://") {
        Some((scheme, rest)) => {
            if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
                return false;
            }
            rest.strip_suffix('/').unwrap_or(rest)
        }
        None => value,
    };
    let port_ok = |p: &str| !p.is_empty() && p.len() <= 5 && p.parse::<u16>().is_ok_and(|n| n > 0);
    if let Some(bracketed) = rest.strip_prefix('[') {
        let Some((host, after)) = bracketed.split_once(']') else {
            return false;
        };
        let port_fine = match after {
            "" => true,
            a => a.strip_prefix(':').is_some_and(port_ok),
        };
        return host.parse::<Ipv6Addr>().is_ok() && port_fine;
    }
    if rest.matches(':').count() > 1 {
        return rest.parse::<Ipv6Addr>().is_ok();
    }
    let (host, port_fine) = match rest.split_once(':') {
        Some((h, p)) => (h, port_ok(p)),
        None => (rest, true),
    };
    port_fine && host_ok(host)
}

/// An IPv4 literal, or a DNS name (labels of letters, digits and '-', not starting or ending
/// with '-'). A name of digits and dots must be a valid IPv4 address: `999.1.1.1` is neither.
fn host_ok(host: &str) -> bool {
    if host.parse::<IpAddr>().is_ok() {
        return true;
    }
    let looks_numeric = host.chars().all(|c| c.is_ascii_digit() || c == '.');
    if looks_numeric || host.is_empty() || host.len() > 253 {
        return false;
    }
    host.trim_end_matches('.').split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(r: Result<(), ApiError>) -> String {
        match r {
            Err(ApiError::BadRequest(text)) => text,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn ip_fields_take_address_literals_only() {
        for ok in ["10.0.0.11", "127.1.0.5", "fd00::11", "::1"] {
            assert!(check_ip("mgmt_ip", ok).is_ok(), "{ok}");
        }
        for bad in [
            "999.1.1.1",
            "10.0.0",
            "10.0.0.1.5",
            "010.0.0.1",
            "controller-0",
            "10.0.0.1/24",
            " 10.0.0.1",
        ] {
            let text = refusal(check_ip("mgmt_ip", bad));
            assert!(text.starts_with("mgmt_ip '"), "{text}");
        }
    }

    #[test]
    fn mac_addresses_are_six_hex_pairs() {
        for ok in ["08:00:27:0a:1b:2c", "08-00-27-0A-1B-2C"] {
            assert!(check_mac("mgmt_mac", ok).is_ok(), "{ok}");
        }
        for bad in [
            "08:00:27:0a:1b",
            "08:00:27:0a:1b:2g",
            "0800270a1b2c",
            "8:0:27:a:1b:2c",
        ] {
            assert!(
                refusal(check_mac("mgmt_mac", bad)).contains("not a MAC address"),
                "{bad}"
            );
        }
    }

    #[test]
    fn bmc_addresses_are_hosts_with_optional_port_and_scheme() {
        for ok in [
            "10.0.0.1",
            "10.0.0.1:623",
            "bmc-worker-3.example.com",
            "bmc3:8443",
            "[fd00::1]:623",
            "fd00::1",
            "https://10.0.0.1",
            "http://127.3.0.10:8000",
            "http://127.3.0.10:8000/",
        ] {
            assert!(check_bmc_address("bm_ip", ok).is_ok(), "{ok}");
        }
        for bad in [
            "10.0.0.1; rm -rf /",
            "999.1.1.1",
            "10.0.0.1:0",
            "10.0.0.1:70000",
            "ftp://10.0.0.1",
            "https://10.0.0.1/redfish",
            "[fd00::1",
            "-bmc",
            "bmc_3",
            "$(reboot)",
            "",
        ] {
            let text = refusal(check_bmc_address("bm_ip", bad));
            assert!(
                text.contains("bm_ip") && text.contains("not a BMC address"),
                "{text}"
            );
        }
        let text = refusal(check_bmc_address("bm_ip", "https://root:hunter2@10.0.0.1"));
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn refusals_escape_and_shorten_what_they_echo() {
        let text = refusal(check_ip("mgmt_ip", "1\n2\u{7}"));
        assert!(text.contains(r"1\n2\u{7}"), "{text}");
        let long = "9".repeat(500);
        let text = refusal(check_ip("cluster_ip", &long));
        assert!(text.len() < 200 && text.contains('…'), "{text}");
    }
}
