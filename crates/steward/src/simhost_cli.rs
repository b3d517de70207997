//! `steward simhost`: one simulated machine as its own process — disk, boot, the real node agent over
//! UDP, a Redfish BMC on loopback, the lab control socket. `steward lab --processes` starts one per
//! host; tests start them to kill the controller without killing the hosts.

use anyhow::{bail, Context, Result};
use clap::Args;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;
use steward_simhost::lab::LabHost;
use steward_simhost::SimHost;

#[derive(Args, Clone, Debug)]
pub struct SimhostArgs {
    /// The host name, e.g. worker-0.
    #[arg(long)]
    pub name: String,
    /// The machine's directory (`volatile/`, `persistent/`, `bmc.sock`).
    #[arg(long)]
    pub dir: PathBuf,
    /// The node key file (`steward_node::keyfile` format, mode 0600) [default: <dir>/node.keys].
    #[arg(long)]
    pub keys: Option<PathBuf>,
    /// The agent's management address.
    #[arg(long)]
    pub mgmt_ip: IpAddr,
    /// The agent's cluster address (with --controller-cluster).
    #[arg(long)]
    pub cluster_ip: Option<IpAddr>,
    /// UDP port the agent listens on.
    #[arg(long, default_value_t = steward_protocol::DEFAULT_NODE_PORT)]
    pub node_port: u16,
    /// UDP port heartbeat pulses are answered on; 0 = no responder.
    #[arg(long, default_value_t = steward_protocol::DEFAULT_HEARTBEAT_NODE_PORT)]
    pub heartbeat_port: u16,
    /// The controller as NAME=ADDR:PORT on the management network.
    #[arg(long, value_parser = parse_peer)]
    pub controller: (String, SocketAddr),
    /// The controller's node-protocol address on the cluster network.
    #[arg(long)]
    pub controller_cluster: Option<SocketAddr>,
    /// The other controller of a pair as NAME=ADDR:PORT on the management network (repeatable):
    /// the agent accepts its commands and pulses and reports to it too.
    #[arg(long, value_parser = parse_peer)]
    pub also_controller: Vec<(String, SocketAddr)>,
    /// Serve a Redfish BMC here (loopback only).
    #[arg(long)]
    pub bmc_listen: Option<SocketAddr>,
    /// File holding the BMC password (user `admin`).
    #[arg(long)]
    pub bmc_password_file: Option<PathBuf>,
    /// Divide the boot delay and agent timers by this factor.
    #[arg(long, default_value_t = 1)]
    pub time_scale: u32,
    /// The agent's alive report period in milliseconds [default: 5000 / time scale].
    #[arg(long)]
    pub alive_period_ms: Option<u64>,
    /// Start powered off (waiting for a BMC power-on) instead of running.
    #[arg(long)]
    pub powered_off: bool,
    /// The agent's link and filesystem monitors on the real kernel (the `steward node --monitors`
    /// file).
    #[arg(long, value_name = "FILE", conflicts_with = "lab_monitors")]
    pub monitors: Option<PathBuf>,
    /// The lab's simulated links and filesystems (`steward lab link-down|fs-readonly …`).
    #[arg(long)]
    pub lab_monitors: bool,
    /// The agent's process monitor directory (`*.toml` process files; `steward lab` gives its
    /// `lab-critical` and `lab-minor` here). None: no process monitor.
    #[arg(long, value_name = "DIR")]
    pub pmon_dir: Option<PathBuf>,
    /// The agent's pxeboot address (with --controller-pxeboot): its alive reports also go there
    /// and a reboot received there is carried out (docs/protocol.md#the-pxeboot-network).
    #[arg(long, requires = "controller_pxeboot")]
    pub pxeboot_ip: Option<IpAddr>,
    /// The controller's node-protocol address on the pxeboot network.
    #[arg(long, requires = "pxeboot_ip")]
    pub controller_pxeboot: Option<SocketAddr>,
    /// The agent's failsafe: a SysRq reboot this long after a reboot command that left the
    /// machine up (`reboot-hang` fault). Off by default: a simulated machine shares the real
    /// kernel, so it needs --sysrq-trigger-path to a plain file.
    #[arg(long, value_name = "MS", requires = "sysrq_trigger_path")]
    pub failsafe_reboot_delay_ms: Option<u64>,
    /// The file the failsafe writes its SysRq command to (never the kernel's: refused under /proc).
    #[arg(long, value_name = "FILE", requires = "failsafe_reboot_delay_ms")]
    pub sysrq_trigger_path: Option<PathBuf>,
    /// A disk (block device or image file) whose partition tables and signatures the agent
    /// erases on wipe-disk, before the machine's own wipe (repeatable).
    #[arg(long = "install-disk", value_name = "PATH")]
    pub install_disks: Vec<PathBuf>,
}

fn parse_peer(s: &str) -> Result<(String, SocketAddr), String> {
    let (name, addr) = s.split_once('=').ok_or_else(|| {
        format!("'{s}': expected NAME=ADDR:PORT, e.g. controller-0=127.1.0.1:2102")
    })?;
    let addr = addr
        .parse()
        .map_err(|e| format!("'{addr}' is not ADDR:PORT: {e}"))?;
    Ok((name.to_string(), addr))
}

impl SimhostArgs {
    /// The agent options a [`LabHost`] does not carry: the pxeboot network and the safety nets.
    fn adjust_agent(&self, agent: &mut steward_node::NodeConfig) -> Result<()> {
        if let (Some(ip), Some(ctl)) = (self.pxeboot_ip, self.controller_pxeboot) {
            agent.pxeboot = Some(steward_node::config::PxebootNetwork {
                bind: SocketAddr::new(ip, self.node_port),
                controllers: vec![steward_node::config::ControllerPeer {
                    name: self.controller.0.clone(),
                    addr: ctl,
                }],
            });
        }
        if let (Some(ms), Some(path)) = (self.failsafe_reboot_delay_ms, &self.sysrq_trigger_path) {
            // A SysRq 'b' written to the real trigger reboots the machine every simhost runs on
            // (a link to it counts too).
            let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            if path.starts_with("/proc") || real.starts_with("/proc") {
                bail!(
                    "--sysrq-trigger-path {}: a simulated machine's failsafe never writes to /proc",
                    path.display()
                );
            }
            agent.safety.failsafe_reboot_delay = Some(Duration::from_millis(ms.max(1)));
            agent.safety.sysrq_trigger_path = path.clone();
        }
        agent.safety.install_disks = self.install_disks.clone();
        agent.validate().map_err(anyhow::Error::msg)
    }

    /// The machine this command line describes.
    pub fn lab_host(&self) -> Result<LabHost> {
        let keys_path = self
            .keys
            .clone()
            .unwrap_or_else(|| self.dir.join("node.keys"));
        let (key_host, keys) = steward_node::keyfile::load(&keys_path)?;
        if key_host != self.name {
            bail!(
                "{} holds the keys of '{key_host}', not of '{}'",
                keys_path.display(),
                self.name
            );
        }
        let bmc_password = match &self.bmc_password_file {
            Some(f) => std::fs::read_to_string(f)
                .with_context(|| format!("cannot read the BMC password file {}", f.display()))?
                .trim()
                .to_string(),
            None if self.bmc_listen.is_some() => {
                bail!("--bmc-listen needs --bmc-password-file")
            }
            None => String::new(),
        };
        let scale = self.time_scale.max(1);
        let monitors = match &self.monitors {
            Some(f) => {
                let text = std::fs::read_to_string(f)
                    .with_context(|| format!("cannot read the monitors file {}", f.display()))?;
                steward_node::monitors::MonitorsConfig::from_toml(&text)
                    .map_err(anyhow::Error::msg)
                    .with_context(|| format!("{} is not a valid monitors file", f.display()))?
            }
            None if self.lab_monitors => steward_simhost::lab::lab_monitors(scale),
            None => Default::default(),
        };
        Ok(LabHost {
            name: self.name.clone(),
            dir: self.dir.clone(),
            keys,
            mgmt_ip: self.mgmt_ip,
            cluster_ip: self.cluster_ip,
            node_port: self.node_port,
            heartbeat_port: (self.heartbeat_port != 0).then_some(self.heartbeat_port),
            controller: self.controller.0.clone(),
            controller_mgmt: self.controller.1,
            controller_cluster: self.controller_cluster,
            bmc_bind: self.bmc_listen,
            bmc_password,
            scale,
            alive_period: self
                .alive_period_ms
                .map(Duration::from_millis)
                .unwrap_or(Duration::from_secs(5) / scale),
            monitors,
            pmon_dir: self.pmon_dir.clone(),
        })
    }
}

pub fn run(args: SimhostArgs) -> Result<()> {
    crate::init_logging();
    let lab_host = args.lab_host()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let mut config = lab_host.config();
        if let Some(agent) = config.agent.as_mut() {
            args.adjust_agent(agent)?;
            if let Some(mgmt) = agent.networks.first_mut() {
                for (name, addr) in &args.also_controller {
                    mgmt.controllers.push(steward_node::config::ControllerPeer {
                        name: name.clone(),
                        addr: *addr,
                    });
                }
            }
        }
        let host = SimHost::start(config, !args.powered_off)
            .await
            .with_context(|| format!("cannot start simulated host {}", args.name))?;
        println!(
            "simhost {}: agent on {}:{}, BMC {}, control socket {}",
            args.name,
            args.mgmt_ip,
            args.node_port,
            host.bmc_url().unwrap_or_else(|| "none".into()),
            steward_simhost::socket_path(&args.dir).display()
        );
        crate::controller_cli::wait_for_stop().await?;
        host.shutdown().await;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SimhostArgs,
    }

    fn agent_with(extra: &[&str]) -> Result<steward_node::NodeConfig> {
        let mut argv = vec![
            "simhost",
            "--name",
            "worker-0",
            "--dir",
            "/tmp/w0",
            "--mgmt-ip",
            "10.255.0.2",
            "--controller",
            "controller-0=10.255.0.1:2102",
        ];
        argv.extend_from_slice(extra);
        let cli = Cli::try_parse_from(argv)?;
        let secret = steward_protocol::ClusterSecret::new(&[5u8; 32])?;
        let mut agent = steward_node::NodeConfig::new(
            "worker-0",
            secret.node_keys("worker-0"),
            vec![steward_node::NodeNetwork {
                network: steward_node::Network::Mgmt,
                bind: "10.255.0.2:2101".parse()?,
                controllers: vec![steward_node::config::ControllerPeer {
                    name: "controller-0".into(),
                    addr: "10.255.0.1:2102".parse()?,
                }],
            }],
        );
        cli.args.adjust_agent(&mut agent)?;
        Ok(agent)
    }

    #[test]
    fn pxeboot_and_safety_nets_reach_the_agent() {
        let a = agent_with(&[
            "--pxeboot-ip",
            "10.255.2.2",
            "--controller-pxeboot",
            "10.255.2.1:2102",
            "--failsafe-reboot-delay-ms",
            "1500",
            "--sysrq-trigger-path",
            "/tmp/w0/sysrq",
            "--install-disk",
            "/dev/loop7",
        ])
        .unwrap();
        let p = a.pxeboot.expect("pxeboot configured");
        assert_eq!(p.bind, "10.255.2.2:2101".parse().unwrap());
        assert_eq!(p.controllers[0].name, "controller-0");
        assert_eq!(p.controllers[0].addr, "10.255.2.1:2102".parse().unwrap());
        assert_eq!(
            a.safety.failsafe_reboot_delay,
            Some(Duration::from_millis(1500))
        );
        assert_eq!(a.safety.sysrq_trigger_path, PathBuf::from("/tmp/w0/sysrq"));
        assert_eq!(a.safety.install_disks, vec![PathBuf::from("/dev/loop7")]);
        // Without the flags: no pxeboot, no failsafe (a simulated machine shares the real kernel).
        let a = agent_with(&[]).unwrap();
        assert!(a.pxeboot.is_none());
        assert_eq!(a.safety.failsafe_reboot_delay, None);
    }

    #[test]
    fn the_failsafe_never_writes_the_kernels_trigger() {
        let e = agent_with(&[
            "--failsafe-reboot-delay-ms",
            "100",
            "--sysrq-trigger-path",
            "/proc/sysrq-trigger",
        ])
        .unwrap_err();
        assert!(e.to_string().contains("/proc"), "{e}");
        // Half a pair is a usage error, not a silent default.
        assert!(agent_with(&["--failsafe-reboot-delay-ms", "100"]).is_err());
        assert!(agent_with(&["--pxeboot-ip", "10.255.2.2"]).is_err());
    }
}
