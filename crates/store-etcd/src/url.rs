//! `etcd://HOST:PORT[,HOST:PORT…]`: how an operator names the etcd cluster the store lives on.

/// Why an `etcd://` URL was refused; the message names the expected form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid etcd URL {url:?}: {reason} (expected etcd://HOST:PORT[,HOST:PORT...])")]
pub struct EtcdUrlError {
    pub url: String,
    pub reason: String,
}

/// The client endpoints (`http://HOST:PORT`, one per member) of an `etcd://` URL. Hosts are names,
/// IPv4 addresses or bracketed IPv6 addresses; every member needs an explicit port.
pub fn parse_etcd_url(url: &str) -> Result<Vec<String>, EtcdUrlError> {
    let fail = |reason: &str| EtcdUrlError {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let rest = url
        .strip_prefix("etcd://")
        .ok_or_else(|| fail("it must start with etcd://"))?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Err(fail("no member listed"));
    }
    if rest.contains(['/', '?', '#', '@']) {
        return Err(fail(
            "only members may follow etcd:// (no path, query or user)",
        ));
    }
    rest.split(',')
        .map(|member| {
            let member = member.trim();
            let (host, port) = member
                .rsplit_once(':')
                .ok_or_else(|| fail(&format!("member {member:?} has no :PORT")))?;
            let bracketed = host.starts_with('[') && host.ends_with(']') && host.len() > 2;
            if host.is_empty() || (host.contains(':') && !bracketed) {
                return Err(fail(&format!(
                    "member {member:?} has no host (IPv6 addresses go in brackets)"
                )));
            }
            match port.parse::<u16>() {
                Ok(p) if p > 0 => Ok(format!("http://{host}:{p}")),
                _ => Err(fail(&format!("member {member:?} has an invalid port"))),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_become_http_endpoints() {
        assert_eq!(
            parse_etcd_url("etcd://10.0.0.1:2379,ctl-1:2379,[fd00::2]:2379").unwrap(),
            [
                "http://10.0.0.1:2379",
                "http://ctl-1:2379",
                "http://[fd00::2]:2379"
            ]
        );
        assert_eq!(
            parse_etcd_url("etcd://127.0.0.1:2379/").unwrap(),
            ["http://127.0.0.1:2379"]
        );
    }

    #[test]
    fn malformed_urls_say_what_is_wrong() {
        for (url, why) in [
            ("http://127.0.0.1:2379", "must start with etcd://"),
            ("etcd://", "no member"),
            ("etcd://host", "has no :PORT"),
            ("etcd://host:0", "invalid port"),
            ("etcd://host:99999", "invalid port"),
            ("etcd://:2379", "has no host"),
            ("etcd://fd00::2:2379", "IPv6 addresses go in brackets"),
            ("etcd://a:1,,b:2", "has no :PORT"),
            ("etcd://a:1/steward", "no path"),
        ] {
            let e = parse_etcd_url(url).unwrap_err().to_string();
            assert!(e.contains(why), "{url}: {e}");
            assert!(e.contains("etcd://HOST:PORT"), "{e}");
        }
    }
}
