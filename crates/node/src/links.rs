//! The link monitor's I/O (docs/node-monitoring.md#links): configured interfaces resolved to their
//! physical ports through sysfs, and the kernel's link notifications over rtnetlink. The policy
//! (what a port down means, when to report) is `steward_agent::LinkMonitor`.
//!
//! The subscription is event-driven, never polled: one `NETLINK_ROUTE` socket joined to the link
//! group gets a message for every change of every interface, and one dump request on the same
//! socket lists them all at start (so no change can fall between the listing and the
//! subscription).

use netlink_sys::{protocols::NETLINK_ROUTE, AsyncSocket, AsyncSocketExt, SocketAddr, TokioSocket};
use std::path::Path;

/// The physical ports `interface` stands for, read under `sys_root` (normally `/sys`): a bond's
/// members (`class/net/<bond>/bonding/slaves`), a VLAN's parent's ports (`uevent` says
/// `DEVTYPE=vlan`, `iflink` holds the parent's ifindex), otherwise the interface itself. An
/// interface sysfs does not know (not created yet, or another network namespace's sysfs) is taken
/// as its own single port: the kernel's notifications then say whether it exists and runs.
pub fn resolve_ports(sys_root: &Path, interface: &str) -> Vec<String> {
    resolve_depth(sys_root, interface, 0)
}

/// A VLAN on a bond on … is at most a few levels deep; the bound stops a looped fake tree.
const MAX_DEPTH: u32 = 4;

fn resolve_depth(sys_root: &Path, interface: &str, depth: u32) -> Vec<String> {
    let dir = sys_root.join("class/net").join(interface);
    if depth < MAX_DEPTH {
        if let Ok(slaves) = std::fs::read_to_string(dir.join("bonding/slaves")) {
            let members: Vec<String> = slaves.split_whitespace().map(str::to_string).collect();
            if !members.is_empty() {
                return members;
            }
        }
        let uevent = std::fs::read_to_string(dir.join("uevent")).unwrap_or_default();
        if uevent.lines().any(|l| l.trim() == "DEVTYPE=vlan") {
            if let Some(parent) = parent_of(sys_root, &dir) {
                return resolve_depth(sys_root, &parent, depth + 1);
            }
        }
    }
    vec![interface.to_string()]
}

/// The interface whose `ifindex` is this one's `iflink`.
fn parent_of(sys_root: &Path, dir: &Path) -> Option<String> {
    let iflink = std::fs::read_to_string(dir.join("iflink")).ok()?;
    let iflink = iflink.trim();
    let own = std::fs::read_to_string(dir.join("ifindex")).unwrap_or_default();
    if own.trim() == iflink {
        return None;
    }
    std::fs::read_dir(sys_root.join("class/net"))
        .ok()?
        .flatten()
        .find(|e| {
            std::fs::read_to_string(e.path().join("ifindex")).is_ok_and(|i| i.trim() == iflink)
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
}

/// What one rtnetlink message says about the links.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkNote {
    /// Interface `name` exists; `running` is the kernel's IFF_RUNNING (up with carrier).
    Link { name: String, running: bool },
    /// Interface `name` was removed.
    Removed { name: String },
    /// The dump that lists every interface is complete.
    DumpDone,
}

const NLMSG_HDR: usize = 16;
const IFINFOMSG: usize = 16;
const NLMSG_DONE: u16 = 3;
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
const IFLA_IFNAME: u16 = 3;
const IFF_RUNNING: u32 = 0x40;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
/// The multicast group of link changes (RTMGRP_LINK).
const RTMGRP_LINK: u32 = 1;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Every link note in one datagram (several netlink messages may share it). Malformed or
/// unrelated messages are skipped: nothing the kernel sends can stop the monitor.
pub fn parse(datagram: &[u8]) -> Vec<LinkNote> {
    let mut notes = Vec::new();
    let mut at = 0;
    while let (Some(len), Some(kind)) = (u32_at(datagram, at), u16_at(datagram, at + 4)) {
        let len = len as usize;
        if len < NLMSG_HDR || at + len > datagram.len() {
            break;
        }
        let msg = &datagram[at + NLMSG_HDR..at + len];
        match kind {
            NLMSG_DONE => notes.push(LinkNote::DumpDone),
            RTM_NEWLINK | RTM_DELLINK => {
                if let Some(note) = parse_link(kind, msg) {
                    notes.push(note);
                }
            }
            _ => {}
        }
        at += (len + 3) & !3;
    }
    notes
}

fn parse_link(kind: u16, msg: &[u8]) -> Option<LinkNote> {
    let flags = u32_at(msg, 8)?;
    let mut at = IFINFOMSG;
    while let (Some(len), Some(ty)) = (u16_at(msg, at), u16_at(msg, at + 2)) {
        let len = len as usize;
        if len < 4 || at + len > msg.len() {
            return None;
        }
        if ty == IFLA_IFNAME {
            let raw = &msg[at + 4..at + len];
            let end = raw.iter().position(|b| *b == 0).unwrap_or(raw.len());
            let name = String::from_utf8_lossy(&raw[..end]).into_owned();
            return Some(if kind == RTM_DELLINK {
                LinkNote::Removed { name }
            } else {
                LinkNote::Link {
                    name,
                    running: flags & IFF_RUNNING != 0,
                }
            });
        }
        at += (len + 3) & !3;
    }
    None
}

/// The request for a full listing of the links.
fn dump_request() -> Vec<u8> {
    let mut b = Vec::with_capacity(NLMSG_HDR + IFINFOMSG);
    b.extend_from_slice(&((NLMSG_HDR + IFINFOMSG) as u32).to_ne_bytes());
    b.extend_from_slice(&RTM_GETLINK.to_ne_bytes());
    b.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    b.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    b.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it in
    b.extend_from_slice(&[0u8; IFINFOMSG]); // AF_UNSPEC, every interface
    b
}

/// A subscription to the kernel's link changes, with the initial listing asked for.
pub struct LinkEvents {
    socket: TokioSocket,
}

impl LinkEvents {
    /// Join the link group, then ask for the listing. Must run inside a tokio runtime.
    pub async fn subscribe() -> std::io::Result<Self> {
        let mut socket = TokioSocket::new(NETLINK_ROUTE)?;
        socket.socket_mut().bind(&SocketAddr::new(0, RTMGRP_LINK))?;
        socket
            .send_to(&dump_request(), &SocketAddr::new(0, 0))
            .await?;
        Ok(LinkEvents { socket })
    }

    /// The notes of the next datagram from the kernel.
    pub async fn next(&mut self) -> std::io::Result<Vec<LinkNote>> {
        let (bytes, _) = self.socket.recv_from_full().await?;
        Ok(parse(&bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u16, flags: u32, name: &str) -> Vec<u8> {
        let mut attr = Vec::new();
        let alen = 4 + name.len() + 1;
        attr.extend_from_slice(&(alen as u16).to_ne_bytes());
        attr.extend_from_slice(&IFLA_IFNAME.to_ne_bytes());
        attr.extend_from_slice(name.as_bytes());
        attr.push(0);
        while attr.len() % 4 != 0 {
            attr.push(0);
        }
        let len = NLMSG_HDR + IFINFOMSG + attr.len();
        let mut b = Vec::new();
        b.extend_from_slice(&(len as u32).to_ne_bytes());
        b.extend_from_slice(&kind.to_ne_bytes());
        b.extend_from_slice(&[0u8; 10]);
        b.extend_from_slice(&[0u8; 8]); // family, pad, type, index
        b.extend_from_slice(&flags.to_ne_bytes());
        b.extend_from_slice(&[0u8; 4]);
        b.extend_from_slice(&attr);
        b
    }

    #[test]
    fn parses_new_and_removed_links_and_the_end_of_a_dump() {
        let mut d = message(RTM_NEWLINK, 0x1 | IFF_RUNNING, "eth0");
        d.extend(message(RTM_NEWLINK, 0x1, "bond0"));
        d.extend(message(RTM_DELLINK, 0, "macvlan1"));
        let mut done = vec![0u8; 20];
        done[..4].copy_from_slice(&20u32.to_ne_bytes());
        done[4..6].copy_from_slice(&NLMSG_DONE.to_ne_bytes());
        d.extend(done);
        assert_eq!(
            parse(&d),
            vec![
                LinkNote::Link {
                    name: "eth0".into(),
                    running: true
                },
                LinkNote::Link {
                    name: "bond0".into(),
                    running: false
                },
                LinkNote::Removed {
                    name: "macvlan1".into()
                },
                LinkNote::DumpDone,
            ]
        );
    }

    #[test]
    fn truncated_or_hostile_datagrams_give_what_is_whole_and_never_panic() {
        let d = message(RTM_NEWLINK, IFF_RUNNING, "eth0");
        for cut in 0..d.len() {
            assert!(parse(&d[..cut]).is_empty());
        }
        let mut bad = d.clone();
        bad[NLMSG_HDR + IFINFOMSG..NLMSG_HDR + IFINFOMSG + 2]
            .copy_from_slice(&200u16.to_ne_bytes());
        assert!(parse(&bad).is_empty());
        assert!(parse(&[0xff; 64]).is_empty());
    }

    fn write(root: &Path, path: &str, text: &str) {
        let p = root.join(path);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(p, text).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn bonds_and_vlans_resolve_to_their_ports_on_a_fake_sysfs() {
        let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let root = t.path();
        for (name, index) in [("eth0", 2), ("eth1", 3), ("eth2", 4), ("bond0", 5)] {
            write(
                root,
                &format!("class/net/{name}/ifindex"),
                &format!("{index}\n"),
            );
            write(
                root,
                &format!("class/net/{name}/iflink"),
                &format!("{index}\n"),
            );
            write(
                root,
                &format!("class/net/{name}/uevent"),
                &format!("INTERFACE={name}\nIFINDEX={index}\n"),
            );
        }
        write(
            root,
            "class/net/bond0/uevent",
            "DEVTYPE=bond\nINTERFACE=bond0\n",
        );
        write(root, "class/net/bond0/bonding/slaves", "eth0 eth1\n");
        // vlan100 on the bond, vlan200 on a plain port.
        write(
            root,
            "class/net/vlan100/uevent",
            "DEVTYPE=vlan\nINTERFACE=vlan100\n",
        );
        write(root, "class/net/vlan100/ifindex", "6\n");
        write(root, "class/net/vlan100/iflink", "5\n");
        write(
            root,
            "class/net/vlan200/uevent",
            "DEVTYPE=vlan\nINTERFACE=vlan200\n",
        );
        write(root, "class/net/vlan200/ifindex", "7\n");
        write(root, "class/net/vlan200/iflink", "4\n");
        // A VLAN whose parent is gone stands for itself.
        write(root, "class/net/vlan300/uevent", "DEVTYPE=vlan\n");
        write(root, "class/net/vlan300/iflink", "99\n");
        let ports = |i: &str| resolve_ports(root, i);
        assert_eq!(ports("bond0"), ["eth0", "eth1"]);
        assert_eq!(ports("vlan100"), ["eth0", "eth1"]);
        assert_eq!(ports("vlan200"), ["eth2"]);
        assert_eq!(ports("eth2"), ["eth2"]);
        assert_eq!(ports("vlan300"), ["vlan300"]);
        assert_eq!(ports("unknown0"), ["unknown0"]);
    }
}
