//! `bulk_add` / `bulk_export`: the sysinv hosts file (`<hosts><host>…</host></hosts>`), sent raw
//! or, as `system host-bulk-add` does, as the `file` part of a `multipart/form-data` upload.

use crate::error::ApiError;
use crate::ihost::{bm_type_str, NewHost};
use quick_xml::events::Event;
use quick_xml::Reader;
use steward_maintenance::host::HostRecord;

/// The content of the form field `file` (or of the only part) of a `multipart/form-data` body
/// whose `Content-Type` is `content_type`.
pub fn multipart_file<'a>(content_type: &str, body: &'a [u8]) -> Result<&'a [u8], ApiError> {
    let bad = |what: &str| {
        ApiError::BadRequest(format!(
            "invalid multipart upload: {what}; send the hosts file as the form field 'file' (or as the raw body)"
        ))
    };
    let boundary = content_type
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("boundary="))
        .next()
        .map(|b| b.trim_matches('"'))
        .filter(|b| !b.is_empty())
        .ok_or_else(|| bad("no boundary in its Content-Type"))?;
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut rest = body;
    while let Some(at) = find(rest, delimiter.as_bytes()) {
        rest = &rest[at + delimiter.len()..];
        if rest.starts_with(b"--") {
            break; // the closing delimiter
        }
        let Some(end) = find(rest, delimiter.as_bytes()) else {
            return Err(bad("a part is not closed"));
        };
        let part = &rest[..end];
        let part = part.strip_prefix(b"\r\n").unwrap_or(part);
        let part = part.strip_suffix(b"\r\n").unwrap_or(part);
        let split = find(part, b"\r\n\r\n").ok_or_else(|| bad("a part has no header end"))?;
        let headers = String::from_utf8_lossy(&part[..split]).to_ascii_lowercase();
        parts.push((headers, &part[split + 4..]));
    }
    let named = parts
        .iter()
        .find(|(h, _)| h.contains("name=\"file\""))
        .map(|(_, content)| *content);
    match (named, parts.as_slice()) {
        (Some(content), _) => Ok(content),
        (None, [(_, only)]) => Ok(only),
        _ => Err(bad("no part named 'file'")),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Elements of sysinv's hosts file that steward reads but does not use.
const IGNORED: &[&str] = &[
    "boot_device",
    "rootfs_device",
    "install_output",
    "console",
    "location",
    "locn",
    "power_on",
    "subfunctions",
    "ttys_dcd",
    "serialid",
];

/// Parse a hosts file into one [`NewHost`] per `<host>`.
pub fn parse_hosts_xml(text: &str) -> Result<Vec<NewHost>, ApiError> {
    let bad = |what: String| {
        ApiError::BadRequest(format!(
            "invalid hosts file: {what}; the shape is <hosts><host><hostname>…</hostname><personality>…</personality>…</host></hosts> (GET /v1/ihosts/bulk_export writes one)"
        ))
    };
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut hosts = Vec::new();
    let mut current: Option<NewHost> = None;
    let mut field: Option<String> = None;
    loop {
        let ev = reader
            .read_event()
            .map_err(|e| bad(format!("{e} at byte {}", reader.buffer_position())))?;
        match ev {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).to_string();
                match (name.as_str(), current.is_some()) {
                    ("hosts", false) => {}
                    ("host", false) => current = Some(NewHost::default()),
                    (_, true) if field.is_none() => {
                        check_field(&name).map_err(bad)?;
                        field = Some(name)
                    }
                    // Nested inside an ignored element (<location><locn>…).
                    (_, true) if IGNORED.contains(&field.as_deref().unwrap_or("")) => {}
                    _ => return Err(bad(format!("unexpected element <{name}>"))),
                }
            }
            Event::Empty(e) => {
                // <bm_type/>: an empty field, left unset.
                let name = String::from_utf8_lossy(e.name().as_ref()).to_string();
                if current.is_none() {
                    return Err(bad(format!("unexpected element <{name}/>")));
                }
                if field.is_none() {
                    check_field(&name).map_err(bad)?;
                }
            }
            Event::Text(t) => {
                let value = t
                    .unescape()
                    .map_err(|e| bad(e.to_string()))?
                    .trim()
                    .to_string();
                let (Some(h), Some(f)) = (current.as_mut(), field.as_deref()) else {
                    continue;
                };
                let slot = match f {
                    "hostname" => &mut h.hostname,
                    "personality" => &mut h.personality,
                    "uuid" => &mut h.uuid,
                    "mgmt_mac" => &mut h.mgmt_mac,
                    "mgmt_ip" => &mut h.mgmt_ip,
                    "cluster_ip" => &mut h.cluster_ip,
                    "bm_type" => &mut h.bm_type,
                    "bm_ip" => &mut h.bm_ip,
                    "bm_username" => &mut h.bm_username,
                    "bm_password" => &mut h.bm_password,
                    f if IGNORED.contains(&f) => continue,
                    other => return Err(bad(format!("unknown element <{other}>"))),
                };
                *slot = Some(value);
            }
            Event::End(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).to_string();
                if field.as_deref() == Some(name.as_str()) {
                    field = None;
                } else if name == "host" {
                    hosts.extend(current.take());
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if current.is_some() {
        return Err(bad("a <host> is not closed".into()));
    }
    Ok(hosts)
}

const FIELDS: &[&str] = &[
    "hostname",
    "personality",
    "uuid",
    "mgmt_mac",
    "mgmt_ip",
    "cluster_ip",
    "bm_type",
    "bm_ip",
    "bm_username",
    "bm_password",
];

fn check_field(name: &str) -> Result<(), String> {
    if FIELDS.contains(&name) || IGNORED.contains(&name) {
        Ok(())
    } else {
        Err(format!(
            "unknown element <{name}> (known: {})",
            FIELDS.join(", ")
        ))
    }
}

fn escape(s: &str) -> String {
    quick_xml::escape::escape(s).to_string()
}

/// The hosts file for `bulk_export` (never with a password).
pub fn export_hosts_xml(hosts: &[HostRecord]) -> String {
    let mut out = String::from("<?xml version=\"1.0\" ?>\n<hosts>\n");
    for r in hosts {
        let s = &r.spec;
        out.push_str("\t<host>\n");
        let mut el = |name: &str, v: Option<&str>| match v {
            Some(v) => out.push_str(&format!("\t\t<{name}>{}</{name}>\n", escape(v))),
            None => out.push_str(&format!("\t\t<{name}/>\n")),
        };
        el("hostname", Some(&s.name));
        el("personality", Some(s.personality.as_str()));
        el("uuid", Some(&s.uuid));
        el("mgmt_mac", s.mgmt_mac.as_deref());
        el("mgmt_ip", s.mgmt_ip.as_deref());
        if let Some(c) = s.cluster_ip.as_deref() {
            el("cluster_ip", Some(c));
        }
        el("bm_type", s.bmc.as_ref().map(|b| bm_type_str(b.protocol)));
        el("bm_ip", s.bmc.as_ref().map(|b| b.address.as_str()));
        el("bm_username", s.bmc.as_ref().map(|b| b.username.as_str()));
        el("bm_password", None);
        out.push_str("\t</host>\n");
    }
    out.push_str("</hosts>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_upload_yields_the_file_part() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"for_upload\"\r\n\r\n<hosts>\r\n</hosts>\r\n--XyZ--\r\n";
        let file = multipart_file("multipart/form-data; boundary=XyZ", body).unwrap();
        assert_eq!(file, b"<hosts>\r\n</hosts>");
        assert!(multipart_file("multipart/form-data", body).is_err());
        assert!(multipart_file("multipart/form-data; boundary=XyZ", b"--XyZ\r\nbroken").is_err());
    }
}
