//! The link's loop: commands from the actor go out sealed, datagrams from agents come in verified.

use crate::settings::SettingsPush;
use crate::{lock, LinkCmd, NodeLinkConfig, ReportedInventory, Shared};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use steward_controller::EventSender;
use steward_maintenance::io::ProtocolNetwork;
use steward_maintenance::state::Network;
use steward_protocol::{
    AckResult, ClusterSecret, Command, Direction, EncodeError, MacKey, Message, RateLimitedLog,
    Sealer, Verifier, WireCommand, MAX_DATAGRAM,
};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

struct Peer {
    addrs: [Option<IpAddr>; 3],
    /// The key messages *to* this host are signed with (derived once).
    key: MacKey,
}

pub(crate) struct LinkTask {
    secret: ClusterSecret,
    sealer: Sealer,
    verifier: Verifier,
    sockets: [Option<Arc<UdpSocket>>; 3],
    peers: HashMap<String, Peer>,
    node_port: u16,
    shared: Arc<Shared>,
    epoch: u64,
    origin: Instant,
    /// "A newer controller spoke to this node" warnings, rate limited.
    deposed_log: RateLimitedLog,
    /// Sends that arrived before the epoch was known.
    parked: Vec<LinkCmd>,
}

impl LinkTask {
    pub(crate) fn new(
        cfg: &NodeLinkConfig,
        secret: ClusterSecret,
        session: u64,
        sockets: [Option<UdpSocket>; 3],
        shared: Arc<Shared>,
    ) -> Result<LinkTask, EncodeError> {
        let mut verifier = Verifier::controller(secret.clone());
        verifier.set_log_limit(cfg.drop_log_per_minute.max(1), 60_000);
        let [m, c, p] = sockets;
        Ok(LinkTask {
            secret,
            sealer: Sealer::new(&cfg.sender, Direction::ControllerToNode, session)?,
            verifier,
            sockets: [m.map(Arc::new), c.map(Arc::new), p.map(Arc::new)],
            peers: HashMap::new(),
            node_port: cfg.node_port,
            shared,
            epoch: 0,
            origin: Instant::now(),
            deposed_log: RateLimitedLog::new(5, 60_000),
            parked: Vec::new(),
        })
    }

    pub(crate) async fn run(
        mut self,
        mut cmds: mpsc::UnboundedReceiver<LinkCmd>,
        attach: oneshot::Receiver<(EventSender, u64)>,
    ) {
        // Until the controller has its epoch nothing may be sent; provisioning may happen already.
        let (events, epoch) = {
            tokio::pin!(attach);
            loop {
                tokio::select! {
                    a = &mut attach => match a {
                        Ok(v) => break v,
                        Err(_) => return, // the controller never started
                    },
                    cmd = cmds.recv() => match cmd {
                        None => return,
                        Some(LinkCmd::Send { host, id, command, networks }) => {
                            // Keep order: park sends until attached.
                            self.park(LinkCmd::Send { host, id, command, networks });
                        }
                        // Nothing may go out before the epoch is known: hold the settings,
                        // and let the first alive reports bring the push.
                        Some(LinkCmd::Settings(settings)) => {
                            let _ = lock(&self.shared.settings).set(settings);
                        }
                        Some(other) => self.command(other).await,
                    },
                }
            }
        };
        self.epoch = epoch;
        for cmd in std::mem::take(&mut self.parked) {
            self.command(cmd).await;
        }
        let mut buf_m = vec![0u8; MAX_DATAGRAM + 1];
        let mut buf_c = vec![0u8; MAX_DATAGRAM + 1];
        let mut buf_p = vec![0u8; MAX_DATAGRAM + 1];
        let mgmt = self.sockets[0].clone();
        let cluster = self.sockets[1].clone();
        let pxeboot = self.sockets[ProtocolNetwork::Pxeboot.index()].clone();
        loop {
            tokio::select! {
                cmd = cmds.recv() => match cmd {
                    None => return,
                    Some(cmd) => self.command(cmd).await,
                },
                r = recv(&mgmt, &mut buf_m) => {
                    if let Some((n, src)) = r {
                        self.receive(&buf_m[..n], src, &events).await;
                    }
                }
                r = recv(&cluster, &mut buf_c) => {
                    if let Some((n, src)) = r {
                        self.receive(&buf_c[..n], src, &events).await;
                    }
                }
                r = recv(&pxeboot, &mut buf_p) => {
                    if let Some((n, src)) = r {
                        self.receive(&buf_p[..n], src, &events).await;
                    }
                }
            }
        }
    }

    fn park(&mut self, cmd: LinkCmd) {
        self.parked.push(cmd);
    }

    async fn command(&mut self, cmd: LinkCmd) {
        match cmd {
            LinkCmd::Provision { host, addrs } => {
                for net in ProtocolNetwork::ALL {
                    self.verifier.allow(&host, net, addrs[net.index()]);
                }
                let key = self.secret.controller_key(&host);
                lock(&self.shared.settings).provision(&host);
                self.peers.insert(host, Peer { addrs, key });
            }
            LinkCmd::Forget(host) => {
                self.verifier.forget(&host);
                self.peers.remove(&host);
                lock(&self.shared.inventory).remove(&host);
                lock(&self.shared.settings).forget(&host);
            }
            LinkCmd::Send {
                host,
                id,
                command,
                networks,
            } => {
                let message = Message::Command(Command {
                    id,
                    command: WireCommand::Known(command),
                });
                for net in networks {
                    self.send_one(&host, net, &message).await;
                }
            }
            LinkCmd::Settings(settings) => {
                let due = lock(&self.shared.settings).set(settings);
                for host in due {
                    self.push_settings(&host).await;
                }
            }
        }
    }

    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    /// Config push to one host, on every heartbeat network it has (the agent acts once per
    /// command id; pxeboot carries reboots only).
    async fn push_settings(&mut self, host: &str) {
        let (id, settings) = {
            let mut push = lock(&self.shared.settings);
            (push.push_id(host, self.now_ms()), push.current())
        };
        let message = Message::Command(Command {
            id,
            command: WireCommand::Settings(settings),
        });
        for net in Network::ALL {
            let routable = self
                .peers
                .get(host)
                .is_some_and(|p| p.addrs[net.index()].is_some());
            if routable {
                self.send_one(host, net.into(), &message).await;
            }
        }
    }

    async fn send_one(&mut self, host: &str, net: ProtocolNetwork, message: &Message) {
        let target = self
            .peers
            .get(host)
            .and_then(|p| p.addrs[net.index()].map(|ip| (ip, p.key.clone())));
        let (Some((ip, key)), Some(sock)) = (target, self.sockets[net.index()].clone()) else {
            lock(&self.shared.stats).unroutable += 1;
            tracing::debug!(host, network = ?net, "no address or socket for this network; command not sent");
            return;
        };
        let frame = match self.sealer.seal(&key, net, self.epoch, message) {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(host, "cannot encode a command: {e}");
                lock(&self.shared.stats).send_errors += 1;
                return;
            }
        };
        let to = SocketAddr::new(ip, self.node_port);
        match sock.send_to(&frame, to).await {
            Ok(_) => lock(&self.shared.stats).sent += 1,
            Err(e) => {
                tracing::debug!(host, %to, "send failed: {e}");
                lock(&self.shared.stats).send_errors += 1;
            }
        }
    }

    async fn receive(&mut self, datagram: &[u8], src: SocketAddr, events: &EventSender) {
        let now_ms = self.now_ms();
        let accepted = self.verifier.accept(datagram, src.ip(), now_ms);
        {
            let mut st = lock(&self.shared.stats);
            st.accepted = self.verifier.counters().accepted;
            st.drops = self.verifier.counters().iter().collect();
        }
        let Ok(a) = accepted else { return };
        if a.epoch > self.epoch {
            if let Some(suppressed) = self.deposed_log.allow(now_ms) {
                tracing::warn!(
                    host = %a.sender,
                    node_epoch = a.epoch,
                    our_epoch = self.epoch,
                    suppressed,
                    "a controller with a newer epoch has spoken to this node: this controller is deposed"
                );
            }
        }
        match &a.message {
            Message::Inventory(inv) => {
                let at_ms = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                lock(&self.shared.inventory).insert(
                    a.sender.clone(),
                    ReportedInventory {
                        inventory: inv.clone(),
                        at_ms,
                    },
                );
            }
            Message::Alive(alive) => {
                let due =
                    lock(&self.shared.settings).alive(&a.sender, alive.settings_generation, now_ms);
                if due {
                    self.push_settings(&a.sender).await;
                }
            }
            // Config pushes are the link's own commands: their acks are not the core's business.
            Message::Ack(ack) if SettingsPush::is_push(ack.id) => {
                lock(&self.shared.settings).ack(&a.sender, ack.id, &ack.result);
                return;
            }
            Message::Ack(ack) if ack.result != AckResult::Ok => {
                lock(&self.shared.stats).negative_acks += 1;
                tracing::warn!(host = %a.sender, command = ?ack.id, result = ?ack.result, "the node did not carry out a command");
            }
            _ => {}
        }
        if let Some(ev) =
            steward_maintenance::node_message::to_event(&a.sender, a.network, &a.message)
        {
            events.send(ev).await;
        }
    }
}

async fn recv(sock: &Option<Arc<UdpSocket>>, buf: &mut [u8]) -> Option<(usize, SocketAddr)> {
    match sock {
        Some(s) => match s.recv_from(buf).await {
            Ok(v) => Some(v),
            Err(e) => {
                // ICMP errors from earlier sends surface here on Linux; they are not fatal.
                tracing::trace!("recv: {e}");
                None
            }
        },
        None => std::future::pending().await,
    }
}
