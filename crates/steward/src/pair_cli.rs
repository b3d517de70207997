//! `steward controller --store etcd://…`: one controller of a pair (docs/controller-pair.md). The
//! holder of the etcd lease is active and runs the controller on the shared store fenced by its
//! lease; the other is standby, mirrors the store, serves reads and refuses writes naming the
//! active. The cluster secret, the store key and the API token come from this controller's own
//! data dir (installed alike on both), never through etcd.

use crate::controller_cli::{builder, RunArgs};
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use steward_controller::ControllerConfig;
use steward_controller_pair::runtime::{ActiveFactory, Grant};
use steward_controller_pair::{MirrorSpec, Pair, PairSpec, Role, StandbyPulseSpec};
use steward_maintenance::config::Config;
use steward_maintenance::SystemConfig;
use steward_store::{SecretBox, Store};
use steward_store_etcd::{parse_etcd_url, EtcdOptions, EtcdStore};
use steward_wiring::Storage;

pub(crate) async fn serve_pair(
    args: &RunArgs,
    store_url: &str,
    config: Config,
    data_dir: PathBuf,
    listener: tokio::net::TcpListener,
) -> Result<()> {
    let endpoints =
        parse_etcd_url(store_url).with_context(|| format!("--store {store_url} is not valid"))?;
    let store_dir = data_dir.join("store");
    std::fs::create_dir_all(&store_dir)
        .with_context(|| format!("cannot create {}", store_dir.display()))?;
    let cluster_secret = steward_wiring::load_or_create_cluster_secret(&data_dir)?;
    // Fail at start, not at the first takeover, if the store key cannot be read.
    SecretBox::load_or_create(&store_dir)
        .with_context(|| format!("cannot load the store key in {}", store_dir.display()))?;
    let mut auth = steward_api::Auth::load_or_create(&data_dir)
        .with_context(|| format!("cannot load the API token in {}", data_dir.display()))?;
    auth.loopback_without_token = args.lab;
    let reader: Arc<dyn Store> = Arc::new(
        EtcdStore::connect(&endpoints, EtcdOptions::default())
            .with_context(|| format!("cannot connect to {store_url}"))?,
    );
    let addr = listener
        .local_addr()
        .context("the API listener has no address")?;
    let advertise = args
        .advertise_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));

    // The standby pulses from the same addresses and ports as its active self
    // (docs/controller-pair.md#the-standby-pulses).
    let mut pulses = StandbyPulseSpec::of(
        &builder(args, config.clone(), Storage::DataDir(data_dir.clone())),
        cluster_secret.clone(),
    );
    pulses.takeover_grace = Duration::from_millis(args.takeover_grace_ms);
    let active: ActiveFactory = {
        let (args, config, endpoints) = (args.clone(), config.clone(), endpoints.clone());
        let (store_dir, data_dir) = (store_dir.clone(), data_dir.clone());
        Arc::new(move |grant: &Grant| {
            // Every write of this term carries the lease: once it is gone, the store refuses them.
            let store = EtcdStore::connect(&endpoints, EtcdOptions::default())
                .map_err(|e| e.to_string())?
                .with_fence(grant.leader_key.clone(), grant.lease);
            let secrets = SecretBox::load_or_create(&store_dir).map_err(|e| e.to_string())?;
            Ok(builder(
                &args,
                config.clone(),
                Storage::Given {
                    store: Arc::new(store),
                    secrets,
                    cluster_secret: cluster_secret.clone(),
                    dir: data_dir.clone(),
                },
            ))
        })
    };
    let system = SystemConfig {
        system_type: args.system_type.into(),
        own_host: args.hostname.clone(),
        controller_uptime: Duration::from_secs(86_400),
    };
    let mirror = MirrorSpec {
        store: reader,
        secrets: Arc::new(move || SecretBox::load_or_create(&store_dir)),
        config: ControllerConfig::new(config, system),
        auth: Arc::new(move || auth.clone()),
    };
    let mut spec = PairSpec::new(
        args.hostname.clone(),
        advertise.clone(),
        endpoints,
        active,
        mirror,
    );
    spec.ttl = Duration::from_millis(args.lease_ttl_ms);
    spec.margin = spec.ttl / 4;
    spec.pulses = Some(pulses);
    let pair = Pair::start(spec, listener).map_err(anyhow::Error::msg)?;
    println!(
        "steward controller {} (pair member, store {store_url})",
        args.hostname
    );
    println!("API: {advertise}");
    if let Some(f) = &args.url_file {
        std::fs::write(f, format!("{advertise}\n"))
            .with_context(|| format!("cannot write the URL to {}", f.display()))?;
    }
    steward_node::systemd::notify_or_log("READY=1");
    // Each role change on its own line: operators and the tests read them.
    let roles = tokio::spawn({
        let handle = pair.handle();
        async move {
            let mut last = None;
            loop {
                let role = handle.wait_role(|r| Some(r) != last.as_ref()).await;
                match &role {
                    Role::Active { epoch } => println!("role: active (epoch {epoch})"),
                    Role::Standby { active: Some(a) } => {
                        println!("role: standby (active: {} at {})", a.name, a.api_url)
                    }
                    Role::Standby { active: None } => println!("role: standby"),
                    Role::Stopped => {
                        println!("role: stopped");
                        break;
                    }
                }
                last = Some(role);
            }
        }
    });
    crate::controller_cli::wait_for_stop().await?;
    steward_node::systemd::notify_or_log("STOPPING=1");
    println!("stopping");
    pair.shutdown().await;
    roles.abort();
    Ok(())
}

#[cfg(test)]
mod tests {
    /// docs/config.md lists every option of the controller pair with its default.
    #[test]
    fn the_pair_options_are_documented() {
        const PAGE: &str = include_str!("../../../docs/config.md");
        for option in [
            "`steward controller --store URL`",
            "`steward controller --name NAME`",
            "`steward controller --advertise-url URL`",
            "`steward controller --lease-ttl-ms MS` | 3000 |",
            "`steward controller --takeover-grace-ms MS` | 1000 |",
        ] {
            assert!(PAGE.contains(option), "docs/config.md lacks {option}");
        }
    }
}
