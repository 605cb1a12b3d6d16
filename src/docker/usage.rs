//! What containers use and what Berth's objects take on disk: Docker's stats stream, the
//! limits a container really runs with, the machine, and sizes.

use super::{Client, labels};
use crate::error::{Error, Result};
use crate::model::Limits;
use crate::resources::{Machine, Reading, VolumeFacts};
use bollard::models::ContainerStatsResponse;
use bollard::query_parameters::{ListContainersOptionsBuilder, StatsOptionsBuilder};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use serde::Deserialize;
use std::collections::HashMap;
use uuid::Uuid;

/// Volume sizes and when they were measured.
pub(super) type Measured = (std::time::Instant, HashMap<String, u64>);

/// How long a volume measurement is reused.
const SIZES_FRESH: std::time::Duration = std::time::Duration::from_secs(5);

/// A container of this install with the size of its writable layer.
#[derive(Debug, Clone)]
pub struct ContainerSize {
    pub id: String,
    pub labels: HashMap<String, String>,
    pub running: bool,
    /// Docker's word: created, running, paused, restarting, exited, dead.
    pub state: String,
    pub size_bytes: u64,
}

impl Client {
    /// Docker's stats for one container, a reading about every second, until the container
    /// stops or the stream is dropped (which closes its connection: nothing stays open).
    /// Docker goes on sending empty frames ([`Reading::stopped`]) for a stopped container.
    pub fn stats_stream(&self, id: &str) -> BoxStream<'static, Result<Reading>> {
        let opts = StatsOptionsBuilder::default().stream(true).build();
        let this = self.clone();
        self.api
            .stats(id, Some(opts))
            .map(move |r| r.map(reading).map_err(|e| this.fail("container stats", e)))
            .boxed()
    }

    /// The limits the container runs with (`None`: it does not exist). A zero means none.
    pub async fn container_limits(&self, id: &str) -> Result<Option<Limits>> {
        let answer = self.api.inspect_container(id, None).await;
        Ok(self.found("inspect container", answer)?.map(|c| {
            let hc = c.host_config.unwrap_or_default();
            Limits {
                cpus: hc.nano_cpus.unwrap_or(0) as f64 / 1e9,
                memory_bytes: hc.memory.unwrap_or(0).max(0) as u64,
                pids: hc.pids_limit.unwrap_or(0),
            }
        }))
    }

    /// The cores and memory the engine has (inside Docker Desktop's VM: the VM's).
    pub async fn machine(&self) -> Result<Machine> {
        let info = self.api.info().await.map_err(|e| self.fail("info", e))?;
        Ok(Machine {
            cpus: info.ncpu.unwrap_or(1).max(1) as u32,
            memory_bytes: info.mem_total.unwrap_or(0).max(0) as u64,
        })
    }

    /// This install's containers with the size of their writable layers.
    pub async fn container_sizes(&self, install: Uuid) -> Result<Vec<ContainerSize>> {
        Ok(self
            .list_ours(install, None, true)
            .await?
            .into_iter()
            .map(|c| ContainerSize {
                id: c.id.unwrap_or_default(),
                running: c.state == Some(bollard::models::ContainerSummaryStateEnum::RUNNING),
                state: c.state.map(|s| s.to_string()).unwrap_or_default(),
                labels: c.labels.unwrap_or_default(),
                size_bytes: c.size_rw.unwrap_or(0).max(0) as u64,
            })
            .collect())
    }

    /// The images any container on the engine was made from (anyone's: an image in use is
    /// never a leftover, and Docker would refuse to remove it anyway).
    pub async fn images_in_use(&self) -> Result<std::collections::HashSet<String>> {
        let opts = ListContainersOptionsBuilder::default().all(true).build();
        let list = self
            .api
            .list_containers(Some(opts))
            .await
            .map_err(|e| self.fail("list containers", e))?;
        Ok(list.into_iter().filter_map(|c| c.image_id).collect())
    }

    /// Removes image `id` — not forced, so one a container uses (made from it meanwhile)
    /// stays. Untagged parent layers only it used go with it (the older builder keeps each
    /// build step as one); tags and shared layers stay. The caller proves it is a leftover.
    pub async fn remove_image_unforced(&self, id: &str) -> Result<()> {
        let opts = bollard::query_parameters::RemoveImageOptionsBuilder::default()
            .force(false)
            .build();
        let answer = self.api.remove_image(id, Some(opts), None).await;
        self.found("remove image", answer).map(drop)
    }

    /// This install's volumes with their sizes. Docker measures volumes only in its
    /// disk-usage API (`/system/df`); bollard 0.21 reads only the shape of API 1.52+ (older
    /// engines answer `Volumes`, and so may newer ones without `verbose`), so Berth asks over
    /// the socket itself and reads either. Where that is
    /// not a local socket the sizes stay unknown.
    /// Without `measure`, sizes are left out (measuring can take a while on a busy engine).
    pub async fn volumes(&self, install: Uuid, measure: bool) -> Result<Vec<VolumeFacts>> {
        let opts = bollard::query_parameters::ListVolumesOptionsBuilder::default()
            .filters(&labels::install_filter(install, None))
            .build();
        let list = self
            .api
            .list_volumes(Some(opts))
            .await
            .map_err(|e| self.fail("list volumes", e))?;
        let measured = if measure {
            self.volume_sizes().await
        } else {
            Ok(HashMap::new())
        };
        let sizes = match measured {
            Ok(sizes) => sizes,
            Err(e) => {
                tracing::debug!("volume sizes unknown: {e}");
                HashMap::new()
            }
        };
        Ok(list
            .volumes
            .unwrap_or_default()
            .into_iter()
            .filter(|v| labels::is_ours(Some(&v.labels), install))
            .map(|v| VolumeFacts {
                size_bytes: sizes.get(&v.name).copied(),
                name: v.name,
                labels: v.labels,
            })
            .collect())
    }

    /// One measurement at a time; one that is a few seconds old is as good as a new one.
    async fn volume_sizes(&self) -> Result<HashMap<String, u64>> {
        let mut last = self.volume_sizes.lock().await;
        if let Some((at, sizes)) = last.as_ref()
            && at.elapsed() < SIZES_FRESH
        {
            return Ok(sizes.clone());
        }
        let sizes = self.measure_volumes().await?;
        *last = Some((std::time::Instant::now(), sizes.clone()));
        Ok(sizes)
    }

    #[cfg(unix)]
    async fn measure_volumes(&self) -> Result<HashMap<String, u64>> {
        let Some(path) = self.host.strip_prefix("unix://") else {
            return Err(Error::new(
                crate::error::Code::Docker,
                format!("{} is not a local socket", self.host),
            ));
        };
        let body = disk_usage_body(path).await?;
        parse_volume_sizes(&body)
    }

    #[cfg(not(unix))]
    async fn measure_volumes(&self) -> Result<HashMap<String, u64>> {
        Err(Error::new(
            crate::error::Code::Docker,
            "volume sizes are read over a Unix socket only",
        ))
    }
}

/// `GET /system/df?type=volume` over the engine's socket (hyper, one connection). Engines
/// before API 1.42 ignore `type` and measure everything; that takes them a second or two.
#[cfg(unix)]
async fn disk_usage_body(socket: &str) -> Result<bytes::Bytes> {
    use http_body_util::{BodyExt, Empty};
    use hyper_util::rt::TokioIo;
    let failed = |e: &dyn std::fmt::Display| {
        Error::new(
            crate::error::Code::Docker,
            format!("docker disk usage failed: {e}"),
        )
    };
    let stream = tokio::net::UnixStream::connect(socket)
        .await
        .map_err(|e| failed(&e))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| failed(&e))?;
    tokio::spawn(conn);
    let req = hyper::Request::get("/system/df?type=volume")
        .header(hyper::header::HOST, "docker")
        .body(Empty::<bytes::Bytes>::new())
        .expect("a well-formed request");
    let answer = async {
        let res = sender.send_request(req).await.map_err(|e| failed(&e))?;
        let status = res.status();
        let body = res.into_body().collect().await.map_err(|e| failed(&e))?;
        if !status.is_success() {
            return Err(failed(&format!("{status}")));
        }
        Ok(body.to_bytes())
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), answer)
        .await
        .map_err(|_| failed(&"no answer within 60 s"))?
}

/// Volume sizes from either shape of `/system/df`: `Volumes` (API ≤ 1.51) or
/// `VolumeUsage.Items` (1.52+). A size of -1 means Docker did not measure it.
fn parse_volume_sizes(body: &[u8]) -> Result<HashMap<String, u64>> {
    #[derive(Deserialize)]
    struct Df {
        #[serde(rename = "Volumes", default)]
        volumes: Option<Vec<Volume>>,
        #[serde(rename = "VolumeUsage", default)]
        usage: Option<Usage>,
    }
    #[derive(Deserialize)]
    struct Usage {
        #[serde(rename = "Items", default)]
        items: Option<Vec<Volume>>,
    }
    #[derive(Deserialize)]
    struct Volume {
        #[serde(rename = "Name")]
        name: String,
        #[serde(rename = "UsageData", default)]
        usage: Option<Data>,
    }
    #[derive(Deserialize)]
    struct Data {
        #[serde(rename = "Size")]
        size: i64,
    }
    let df: Df = serde_json::from_slice(body).map_err(|e| {
        Error::new(
            crate::error::Code::Docker,
            format!("unreadable docker disk usage: {e}"),
        )
    })?;
    let volumes = df
        .volumes
        .or(df.usage.and_then(|u| u.items))
        .unwrap_or_default();
    Ok(volumes
        .into_iter()
        .filter_map(|v| {
            let size = v.usage?.size;
            (size >= 0).then_some((v.name, size as u64))
        })
        .collect())
}

/// The counters Berth uses from one stats answer. cgroup v2 calls the reclaimable page cache
/// `inactive_file`, v1 `total_inactive_file` (beside its own-cgroup-only `inactive_file`).
fn reading(s: ContainerStatsResponse) -> Reading {
    let cpu = s.cpu_stats.unwrap_or_default();
    let pre = s.precpu_stats.unwrap_or_default();
    let memory = s.memory_stats.unwrap_or_default();
    let stats = memory.stats.unwrap_or_default();
    // v1 has both: the total includes child cgroups, as `docker stats` counts it.
    let cache = stats
        .get("total_inactive_file")
        .or_else(|| stats.get("inactive_file"))
        .copied()
        .unwrap_or(0);
    let pids = s.pids_stats.unwrap_or_default();
    let (rx, tx) = s
        .networks
        .unwrap_or_default()
        .values()
        .fold((0, 0), |(rx, tx), n| {
            (rx + n.rx_bytes.unwrap_or(0), tx + n.tx_bytes.unwrap_or(0))
        });
    let online = cpu.online_cpus.filter(|n| *n > 0).unwrap_or_else(|| {
        cpu.cpu_usage
            .as_ref()
            .and_then(|u| u.percpu_usage.as_ref())
            .map_or(1, |p| p.len().max(1) as u32)
    });
    Reading {
        cpu_ns: cpu.cpu_usage.and_then(|u| u.total_usage).unwrap_or(0),
        system_ns: cpu.system_cpu_usage.unwrap_or(0),
        pre_cpu_ns: pre.cpu_usage.and_then(|u| u.total_usage).unwrap_or(0),
        pre_system_ns: pre.system_cpu_usage.unwrap_or(0),
        online_cpus: online,
        memory_bytes: memory.usage.unwrap_or(0),
        memory_cache_bytes: cache,
        memory_limit_bytes: memory.limit.unwrap_or(0),
        pids: pids.current.unwrap_or(0),
        pids_limit: pids.limit.unwrap_or(0),
        rx_bytes: rx,
        tx_bytes: tx,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_sizes_are_read_from_both_shapes_of_disk_usage() {
        let old = br#"{"LayersSize":1,"Images":[],"Volumes":[
            {"Name":"a","UsageData":{"Size":42,"RefCount":1}},
            {"Name":"b","UsageData":{"Size":-1,"RefCount":0}},
            {"Name":"c"}]}"#;
        let sizes = parse_volume_sizes(old).unwrap();
        assert_eq!(sizes, HashMap::from([("a".to_string(), 42)]));
        let new = br#"{"VolumeUsage":{"ActiveCount":1,"TotalSize":9,"Items":[
            {"Name":"d","UsageData":{"Size":9,"RefCount":1}}]}}"#;
        assert_eq!(
            parse_volume_sizes(new).unwrap(),
            HashMap::from([("d".to_string(), 9)])
        );
        assert!(parse_volume_sizes(b"<html>").is_err());
    }

    #[test]
    fn a_stats_answer_becomes_a_reading_on_cgroup_v1_and_v2() {
        let v2: ContainerStatsResponse = serde_json::from_str(
            r#"{"cpu_stats":{"cpu_usage":{"total_usage":300},"system_cpu_usage":2000,"online_cpus":2},
                "precpu_stats":{"cpu_usage":{"total_usage":100},"system_cpu_usage":1000},
                "memory_stats":{"usage":500,"limit":1000,"stats":{"inactive_file":50}},
                "pids_stats":{"current":3,"limit":64},
                "networks":{"eth0":{"rx_bytes":10,"tx_bytes":20},"eth1":{"rx_bytes":1,"tx_bytes":2}}}"#,
        )
        .unwrap();
        let r = reading(v2);
        assert_eq!(
            (r.cpu_ns, r.pre_cpu_ns, r.system_ns, r.pre_system_ns),
            (300, 100, 2000, 1000)
        );
        assert_eq!(
            (r.online_cpus, r.memory_cache_bytes, r.pids, r.pids_limit),
            (2, 50, 3, 64)
        );
        assert_eq!((r.rx_bytes, r.tx_bytes), (11, 22));
        let v1: ContainerStatsResponse = serde_json::from_str(
            r#"{"cpu_stats":{"cpu_usage":{"total_usage":1,"percpu_usage":[1,0,0,0]}},
                "memory_stats":{"usage":500,"stats":{"inactive_file":30,"total_inactive_file":70}}}"#,
        )
        .unwrap();
        let r = reading(v1);
        assert_eq!((r.online_cpus, r.memory_cache_bytes), (4, 70));
    }
}
