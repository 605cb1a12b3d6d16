//! Local images: list, inspect, and build from a tar context with streamed progress.

use super::{Client, labels};
use crate::error::{Code, Error, Result};
use crate::model::{IdeAuth, IdeEndpoint};
use bollard::query_parameters::{BuildImageOptionsBuilder, ListImagesOptionsBuilder};
use futures_util::StreamExt;
use serde::Serialize;
use std::collections::HashMap;

#[derive(Debug, Clone, Serialize)]
pub struct ImageInfo {
    pub id: String,
    pub tags: Vec<String>,
    pub size_bytes: i64,
    pub created: i64,
    pub labels: HashMap<String, String>,
    /// The image's own `USER` (empty: root), from inspect only.
    pub user: String,
    /// The image's `HOME` (from its `ENV`), from inspect only: where the home volume goes.
    pub home: Option<String>,
    /// The image brings its own `HEALTHCHECK` (inspect only); Berth then adds none.
    pub has_healthcheck: bool,
}

impl ImageInfo {
    /// Port and health path of the IDE, from the image's labels or the contract's defaults.
    pub fn ide_endpoint(&self) -> Result<IdeEndpoint> {
        let mut ide = IdeEndpoint::default();
        if let Some(raw) = self.labels.get(labels::IDE_PORT) {
            ide.port = raw.parse().ok().filter(|p| *p > 0).ok_or_else(|| {
                Error::invalid(format!(
                    "image label {}={raw:?} is not a port number",
                    labels::IDE_PORT
                ))
            })?;
        }
        if let Some(raw) = self.labels.get(labels::IDE_HEALTH) {
            if !IdeEndpoint::health_path_ok(raw) {
                return Err(Error::invalid(format!(
                    "image label {}={raw:?} is not a path on the IDE's own origin (it must start with one /)",
                    labels::IDE_HEALTH
                )));
            }
            ide.health_path = raw.clone();
        }
        if let Some(raw) = self.labels.get(labels::IDE_AUTH) {
            ide.auth = Some(IdeAuth::parse(raw).ok_or_else(|| {
                Error::invalid(format!(
                    "image label {}={raw:?} names an IDE login Berth does not know",
                    labels::IDE_AUTH
                ))
            })?);
        }
        Ok(ide)
    }
}

/// One line of build output, or the progress of a step.
#[derive(Debug, Clone)]
pub enum BuildProgress {
    Line(String),
    Step { current: u32, total: u32 },
}

impl Client {
    pub async fn list_images(&self) -> Result<Vec<ImageInfo>> {
        let opts = ListImagesOptionsBuilder::default().all(false).build();
        let list = self
            .api
            .list_images(Some(opts))
            .await
            .map_err(|e| self.fail("list images", e))?;
        Ok(list
            .into_iter()
            .map(|i| ImageInfo {
                id: i.id,
                tags: i
                    .repo_tags
                    .into_iter()
                    .filter(|t| t != "<none>:<none>")
                    .collect(),
                size_bytes: i.size,
                created: i.created,
                labels: i.labels,
                user: String::new(),
                home: None,
                has_healthcheck: false,
            })
            .collect())
    }

    /// `None` when no local image has that reference (there is no registry to pull from).
    pub async fn inspect_image(&self, reference: &str) -> Result<Option<ImageInfo>> {
        let answer = self.api.inspect_image(reference).await;
        Ok(self.found("inspect image", answer)?.map(|i| {
            let config = i.config.unwrap_or_default();
            ImageInfo {
                id: i.id.unwrap_or_default(),
                tags: i.repo_tags.unwrap_or_default(),
                size_bytes: i.size.unwrap_or_default(),
                created: 0,
                home: config
                    .env
                    .iter()
                    .flatten()
                    .find_map(|e| e.strip_prefix("HOME="))
                    .filter(|h| h.starts_with('/') && *h != "/")
                    .map(str::to_string),
                has_healthcheck: config
                    .healthcheck
                    .and_then(|h| h.test)
                    .is_some_and(|t| t.first().is_some_and(|c| c != "NONE")),
                labels: config.labels.unwrap_or_default(),
                user: config.user.unwrap_or_default(),
            }
        }))
    }

    /// Builds `tag` from an uncompressed tar of the context (Dockerfile at its root), adding
    /// `labels` to the image. Every output line goes to `on_progress`.
    pub async fn build_image(
        &self,
        context_tar: impl futures_util::Stream<Item = bytes::Bytes> + Send + 'static,
        tag: &str,
        image_labels: &HashMap<String, String>,
        limits: Option<&crate::model::Limits>,
        mut on_progress: impl FnMut(BuildProgress),
    ) -> Result<()> {
        let mut opts = BuildImageOptionsBuilder::default()
            .dockerfile("Dockerfile")
            .t(tag)
            .rm(true)
            .forcerm(true)
            .labels(image_labels);
        // A build's RUN steps are the project's code: held to the limits of what it builds
        // (Docker's API takes bytes as a 32-bit number here).
        if let Some(l) = limits {
            let memory = l.memory_bytes.min(i32::MAX as u64) as i32;
            const PERIOD: i32 = 100_000;
            opts = opts
                .memory(memory)
                .memswap(memory)
                .cpuperiod(PERIOD)
                .cpuquota((l.cpus * f64::from(PERIOD)).round() as i32);
        }
        let opts = opts.build();
        let mut stream = self
            .api
            .build_image(opts, None, Some(bollard::body_stream(context_tar)));
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| self.fail(&format!("build {tag}"), e))?;
            if let Some(detail) = info.error_detail {
                let msg = detail.message.unwrap_or_else(|| "unknown error".into());
                return Err(Error::new(
                    Code::Docker,
                    format!("building {tag} failed: {}", msg.trim()),
                ));
            }
            if let Some(text) = info.stream {
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    if let Some(step) = parse_step(line) {
                        on_progress(step);
                    }
                    on_progress(BuildProgress::Line(line.to_string()));
                }
            }
        }
        Ok(())
    }
}

impl Client {
    /// Removes this install's image `reference` (a preview's build); an absent one is fine,
    /// one this install did not make is left alone.
    pub async fn remove_own_image(&self, reference: &str, install: uuid::Uuid) -> Result<()> {
        let answer = self.api.inspect_image(reference).await;
        let ours = self.found("inspect image", answer)?.is_some_and(|i| {
            labels::is_ours(i.config.as_ref().and_then(|c| c.labels.as_ref()), install)
        });
        if !ours {
            return Ok(());
        }
        let opts = bollard::query_parameters::RemoveImageOptionsBuilder::default()
            .force(true)
            .build();
        let answer = self.api.remove_image(reference, Some(opts), None).await;
        self.found("remove image", answer).map(drop)
    }
}

/// A context made in memory, as the stream [`Client::build_image`] reads.
pub fn whole_context(
    tar: Vec<u8>,
) -> impl futures_util::Stream<Item = bytes::Bytes> + Send + 'static {
    futures_util::stream::once(async move { bytes::Bytes::from(tar) })
}

/// An uncompressed tar of a build context folder (symlinks kept as links, as `docker build`).
pub fn context_from_dir(dir: &std::path::Path) -> Result<Vec<u8>> {
    if !dir.join("Dockerfile").is_file() {
        return Err(Error::invalid(format!(
            "{} has no Dockerfile",
            dir.display()
        )));
    }
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    builder
        .append_dir_all(".", dir)
        .and_then(|_| builder.into_inner())
        .map_err(|e| {
            Error::io(
                &format!("cannot pack the build context {}", dir.display()),
                e,
            )
        })
}

/// `Step 3/7 : RUN ...` from the legacy builder.
fn parse_step(line: &str) -> Option<BuildProgress> {
    let rest = line.strip_prefix("Step ")?;
    let (frac, _) = rest.split_once(' ')?;
    let (cur, total) = frac.split_once('/')?;
    Some(BuildProgress::Step {
        current: cur.parse().ok()?,
        total: total.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_context_folder_is_packed_whole() {
        let dir = tempfile::tempdir().unwrap();
        assert!(context_from_dir(dir.path()).is_err(), "no Dockerfile");
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/file"), "x").unwrap();
        let bytes = context_from_dir(dir.path()).unwrap();
        let mut names: Vec<String> = tar::Archive::new(bytes.as_slice())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        names.sort();
        assert!(names.contains(&"Dockerfile".to_string()), "{names:?}");
        assert!(names.contains(&"sub/file".to_string()), "{names:?}");
    }

    #[test]
    fn steps_are_parsed_from_build_output() {
        assert!(matches!(
            parse_step("Step 3/7 : RUN true"),
            Some(BuildProgress::Step {
                current: 3,
                total: 7
            })
        ));
        assert!(parse_step(" ---> abc").is_none());
    }

    #[test]
    fn ide_endpoint_from_labels() {
        let mut img = ImageInfo {
            id: "x".into(),
            tags: vec![],
            size_bytes: 0,
            created: 0,
            labels: HashMap::new(),
            user: String::new(),
            home: None,
            has_healthcheck: false,
        };
        assert_eq!(img.ide_endpoint().unwrap(), IdeEndpoint::default());
        img.labels.insert(labels::IDE_PORT.into(), "3000".into());
        img.labels
            .insert(labels::IDE_HEALTH.into(), "/ready".into());
        let ide = img.ide_endpoint().unwrap();
        assert_eq!((ide.port, ide.health_path.as_str()), (3000, "/ready"));
        img.labels.insert(labels::IDE_PORT.into(), "x".into());
        assert!(img.ide_endpoint().is_err());
        img.labels.insert(labels::IDE_PORT.into(), "3000".into());
        // A health path that leaves the IDE's origin is refused, never probed.
        img.labels
            .insert(labels::IDE_HEALTH.into(), "//evil.example/".into());
        let err = img.ide_endpoint().unwrap_err();
        assert!(err.message.contains("own origin"), "{}", err.message);
    }
}
