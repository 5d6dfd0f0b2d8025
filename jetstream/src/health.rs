//! Whether the log's replicas are all caught up: a check for operators and for tests that
//! lose NATS nodes one at a time.

use crate::bridge::{remote, Bridge};
use crate::names;
use crate::open::addresses;
use async_nats::jetstream;
use mdbd_engine::log::StorageError;
use std::time::Duration;

/// True when the stream and the bucket of log `name` each have a leader and every other
/// replica is online and current: the NATS cluster can then lose any one node without the
/// log losing its quorum. Answers within `timeout`.
pub fn replicas_current(
    servers: &[String],
    name: &str,
    timeout: Duration,
) -> Result<bool, StorageError> {
    let bridge = Bridge::new(timeout)?;
    let servers = servers.to_vec();
    let streams = [names::stream(name), format!("KV_{}", names::bucket(name))];
    bridge.run("checking the log's replicas", async move {
        let addrs = addresses(&servers)?;
        let client = async_nats::connect(addrs).await.map_err(remote)?;
        let js = jetstream::new(client);
        for name in streams {
            let mut stream = js.get_stream(&name).await.map_err(remote)?;
            let info = stream.info().await.map_err(remote)?;
            let wanted = info.config.num_replicas.saturating_sub(1);
            let current = info.cluster.as_ref().is_some_and(|c| {
                c.leader.is_some()
                    && c.replicas.len() == wanted
                    && c.replicas.iter().all(|r| r.current && !r.offline)
            });
            if !current {
                return Ok(false);
            }
        }
        Ok(true)
    })
}
