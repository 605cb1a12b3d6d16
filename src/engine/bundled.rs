//! Bundled images: Dockerfiles shipped inside the `berth` binary, built on the user's machine
//! from local files (no registry needed). A build is skipped when the image already carries
//! the hash of exactly these inputs.

use super::Engine;
use crate::docker::{BuildProgress, labels};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

pub struct Bundle {
    /// What users type: `berth image build <name>`.
    pub name: &'static str,
    pub tag: &'static str,
    pub title: &'static str,
    /// Files shipped in the binary: (path in context, bytes, mode).
    files: &'static [(&'static str, &'static [u8], u32)],
    /// Files copied from the host: (path in context, candidates on the host, Debian package).
    host_files: &'static [(&'static str, &'static [&'static str], &'static str)],
    /// For images whose context is too big or too host-specific to ship: a script (one of
    /// `files`) that assembles the context folder it is given; its output is the progress.
    prepare: Option<&'static str>,
}

pub const BUNDLED: &[Bundle] = &[
    Bundle {
        name: "test",
        tag: "berth-test:latest",
        title: "Berth test image (busybox httpd, 3 MB)",
        files: &[
            (
                "Dockerfile",
                include_bytes!("../../docker/test/Dockerfile"),
                0o644,
            ),
            (
                "www/healthz",
                include_bytes!("../../docker/test/www/healthz"),
                0o644,
            ),
            (
                "www/index.html",
                include_bytes!("../../docker/test/www/index.html"),
                0o644,
            ),
            (
                "www/drag.html",
                include_bytes!("../../docker/test/www/drag.html"),
                0o644,
            ),
            (
                "www/sw.js",
                include_bytes!("../../docker/test/www/sw.js"),
                0o644,
            ),
            (
                "www/cgi-bin/hostname",
                include_bytes!("../../docker/test/www/cgi-bin/hostname"),
                0o755,
            ),
            (
                "www/cgi-bin/request",
                include_bytes!("../../docker/test/www/cgi-bin/request"),
                0o755,
            ),
            (
                "www/cgi-bin/stream",
                include_bytes!("../../docker/test/www/cgi-bin/stream"),
                0o755,
            ),
            (
                "berth-keepalive",
                include_bytes!("../../docker/berth-keepalive"),
                0o755,
            ),
        ],
        host_files: &[
            (
                "busybox",
                &["/bin/busybox", "/usr/bin/busybox"],
                "busybox-static",
            ),
            ("tini-static", &["/usr/bin/tini-static"], "tini"),
        ],
        prepare: None,
    },
    Bundle {
        name: "workspace-offline",
        tag: "berth-workspace-offline:4.99.4",
        title: "VS Code (code-server 4.99.4), built without a registry",
        files: &[
            (
                "Dockerfile",
                include_bytes!("../../docker/workspace-offline/Dockerfile"),
                0o644,
            ),
            (
                "berth-ide",
                include_bytes!("../../docker/workspace-offline/berth-ide"),
                0o755,
            ),
            (
                "prepare.sh",
                include_bytes!("../../docker/workspace-offline/prepare.sh"),
                0o755,
            ),
            (
                "machine-settings.json",
                include_bytes!("../../docker/workspace-offline/machine-settings.json"),
                0o644,
            ),
            (
                "profile.sh",
                include_bytes!("../../docker/workspace-offline/profile.sh"),
                0o644,
            ),
            (
                "berth-keepalive",
                include_bytes!("../../docker/berth-keepalive"),
                0o755,
            ),
            (
                "extensions/berth-workspace/package.json",
                include_bytes!(
                    "../../docker/workspace-offline/extensions/berth-workspace/package.json"
                ),
                0o644,
            ),
            (
                "extensions/berth-workspace/extension.js",
                include_bytes!(
                    "../../docker/workspace-offline/extensions/berth-workspace/extension.js"
                ),
                0o644,
            ),
        ],
        host_files: &[],
        prepare: Some("prepare.sh"),
    },
];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ImageEntry {
    pub reference: String,
    pub id: Option<String>,
    pub size_bytes: Option<i64>,
    /// The bundle name, for images Berth can build itself.
    pub bundled: Option<String>,
    pub built: bool,
    pub title: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct BuildOutcome {
    pub tag: String,
    /// False when the image was already built from the same inputs.
    pub rebuilt: bool,
}

impl Bundle {
    pub fn find(name: &str) -> Result<&'static Bundle> {
        BUNDLED.iter().find(|b| b.name == name).ok_or_else(|| {
            let names: Vec<_> = BUNDLED.iter().map(|b| b.name).collect();
            Error::not_found(format!(
                "no bundled image named {name:?}; bundled images: {}",
                names.join(", ")
            ))
        })
    }

    /// The build context as (path, mode, bytes), sorted, so the hash is stable.
    fn context(&self) -> Result<Vec<(String, u32, Vec<u8>)>> {
        let mut entries: Vec<(String, u32, Vec<u8>)> = self
            .files
            .iter()
            .map(|(path, bytes, mode)| (path.to_string(), *mode, bytes.to_vec()))
            .collect();
        for (path, candidates, package) in self.host_files {
            let found = candidates.iter().find_map(|c| std::fs::read(c).ok());
            let bytes = found.ok_or_else(|| {
                Error::not_found(format!(
                    "building {} needs {} from the Debian package {package} (apt-get install {package})",
                    self.tag, candidates[0]
                ))
            })?;
            entries.push((path.to_string(), 0o755, bytes));
        }
        entries.sort();
        Ok(entries)
    }

    fn hash(entries: &[(String, u32, Vec<u8>)]) -> String {
        let mut h = Sha256::new();
        for (path, mode, bytes) in entries {
            h.update(path.as_bytes());
            h.update([0]);
            h.update(mode.to_le_bytes());
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        }
        format!("{:x}", h.finalize())
    }

    fn tar(entries: &[(String, u32, Vec<u8>)]) -> Result<Vec<u8>> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, mode, bytes) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(*mode);
            header.set_mtime(0);
            header.set_cksum();
            builder
                .append_data(&mut header, path, bytes.as_slice())
                .map_err(|e| Error::io("cannot assemble the build context", e))?;
        }
        builder
            .into_inner()
            .map_err(|e| Error::io("cannot assemble the build context", e))
    }
}

impl Engine {
    /// Local images plus the bundled ones (built or not).
    pub async fn images(&self) -> Result<Vec<ImageEntry>> {
        let docker = self.docker().await?;
        let local = docker.list_images().await?;
        let mut out: Vec<ImageEntry> = BUNDLED
            .iter()
            .map(|b| {
                let image = local.iter().find(|i| i.tags.iter().any(|t| t == b.tag));
                ImageEntry {
                    reference: b.tag.to_string(),
                    id: image.map(|i| i.id.clone()),
                    size_bytes: image.map(|i| i.size_bytes),
                    bundled: Some(b.name.to_string()),
                    built: image.is_some(),
                    title: Some(b.title.to_string()),
                }
            })
            .collect();
        for image in &local {
            for tag in &image.tags {
                if out.iter().any(|e| &e.reference == tag) {
                    continue;
                }
                out.push(ImageEntry {
                    reference: tag.clone(),
                    id: Some(image.id.clone()),
                    size_bytes: Some(image.size_bytes),
                    bundled: None,
                    built: true,
                    title: image.labels.get("dev.berth.title").cloned(),
                });
            }
        }
        Ok(out)
    }

    /// Builds a bundled image unless it is already built from the same inputs.
    pub async fn build_bundled(
        &self,
        name: &str,
        mut on_progress: impl FnMut(BuildProgress),
    ) -> Result<BuildOutcome> {
        let bundle = Bundle::find(name)?;
        let entries = bundle.context()?;
        let hash = Bundle::hash(&entries);
        let docker = self.docker().await?;
        if let Some(existing) = docker.inspect_image(bundle.tag).await?
            && existing.labels.get(labels::CONTEXT_HASH) == Some(&hash)
        {
            return Ok(BuildOutcome {
                tag: bundle.tag.to_string(),
                rebuilt: false,
            });
        }
        let image_labels = HashMap::from([
            (labels::BUNDLE.to_string(), bundle.name.to_string()),
            (labels::CONTEXT_HASH.to_string(), hash),
        ]);
        let context = match bundle.prepare {
            None => Bundle::tar(&entries)?,
            Some(script) => prepare_context(&entries, script, &mut on_progress).await?,
        };
        docker
            .build_image(
                crate::docker::whole_context(context),
                bundle.tag,
                &image_labels,
                None,
                on_progress,
            )
            .await?;
        // Recorded by id: once a later build takes the tag, this one is an older build that
        // Clean up may remove — and only ids recorded here ever are.
        if let Some(built) = docker.inspect_image(bundle.tag).await? {
            self.db(|s| s.record_bundled_build(&built.id, bundle.name))?;
        }
        Ok(BuildOutcome {
            tag: bundle.tag.to_string(),
            rebuilt: true,
        })
    }
}

/// Writes the recipe to a temporary folder, runs its prepare script on a context folder
/// (streaming its output), and packs that folder.
async fn prepare_context(
    entries: &[(String, u32, Vec<u8>)],
    script: &str,
    on_progress: &mut impl FnMut(BuildProgress),
) -> Result<Vec<u8>> {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let work = tempfile::tempdir().map_err(|e| Error::io("cannot make a build folder", e))?;
    let recipe = work.path().join("recipe");
    let context = work.path().join("context");
    for (path, mode, bytes) in entries {
        let target = recipe.join(path);
        std::fs::create_dir_all(target.parent().unwrap_or(&recipe))
            .and_then(|_| std::fs::write(&target, bytes))
            .map_err(|e| Error::io("cannot write the recipe", e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&target, std::fs::Permissions::from_mode(*mode));
        }
        #[cfg(not(unix))]
        let _ = mode;
    }
    let mut child = tokio::process::Command::new("bash")
        .arg(recipe.join(script))
        .arg(&context)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Error::io("cannot run the image's prepare script (bash)", e))?;
    let mut out = BufReader::new(child.stdout.take().expect("piped")).lines();
    let mut err = BufReader::new(child.stderr.take().expect("piped")).lines();
    let mut last_err = String::new();
    let (mut out_done, mut err_done) = (false, false);
    while !(out_done && err_done) {
        tokio::select! {
            line = out.next_line(), if !out_done => match line {
                Ok(Some(l)) => on_progress(BuildProgress::Line(l)),
                _ => out_done = true,
            },
            line = err.next_line(), if !err_done => match line {
                Ok(Some(l)) => {
                    last_err.clone_from(&l);
                    on_progress(BuildProgress::Line(l));
                }
                _ => err_done = true,
            },
        }
    }
    let status = child
        .wait()
        .await
        .map_err(|e| Error::io("the prepare script vanished", e))?;
    if !status.success() {
        return Err(Error::new(
            crate::Code::Docker,
            format!("preparing the image failed ({status}): {last_err}"),
        ));
    }
    crate::docker::context_from_dir(&context)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_hash_depends_on_every_input() {
        let a = vec![("Dockerfile".to_string(), 0o644, b"FROM scratch".to_vec())];
        let mut b = a.clone();
        assert_eq!(Bundle::hash(&a), Bundle::hash(&b));
        b[0].1 = 0o755;
        assert_ne!(Bundle::hash(&a), Bundle::hash(&b));
        let c = vec![("Dockerfile".to_string(), 0o644, b"FROM scratch ".to_vec())];
        assert_ne!(Bundle::hash(&a), Bundle::hash(&c));
    }

    #[test]
    fn unknown_bundle_lists_the_known_ones() {
        let err = Bundle::find("nope").err().unwrap();
        assert!(err.message.contains("test"), "{}", err.message);
    }

    #[test]
    fn tar_holds_every_entry() {
        let entries = vec![
            ("Dockerfile".to_string(), 0o644, b"FROM scratch".to_vec()),
            ("www/healthz".to_string(), 0o644, b"ok".to_vec()),
        ];
        let bytes = Bundle::tar(&entries).unwrap();
        let mut archive = tar::Archive::new(bytes.as_slice());
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["Dockerfile", "www/healthz"]);
    }
}
