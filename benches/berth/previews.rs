//! Previews: `berth preview create` (snapshot + container + start + first answer, image
//! cached) against the same work with the docker CLI — network, hardened `docker create` with
//! a volume, `tar | docker cp` of the same files, `docker start`, the same poll for an answer.
//! Once with a small project, once with 10,000 files / 100 MB.

use crate::fixture::{
    Fixture, HARDENING, TEST_IMAGE, docker, free_port, path_str, timed, wait_answer,
};
use crate::stats::Report;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

const SERVE: &str = "httpd -f -p 3000 -h .";

pub fn run(report: &mut Report, rounds: usize) {
    let fx = Fixture::new();
    let small = fx.project("app");
    std::fs::write(small.join("index.html"), "hello\n").unwrap();
    compare(
        report,
        &fx,
        "preview create (small project)",
        &small,
        rounds,
        1.2,
    );

    let big = fx.project("big");
    fill(&big, 10_000, 10 * 1024);
    compare(
        report,
        &fx,
        "preview create (10k files, 100 MB)",
        &big,
        rounds.min(3),
        1.2,
    );
}

fn compare(report: &mut Report, fx: &Fixture, case: &str, project: &Path, rounds: usize, max: f64) {
    let ws = format!("w{}", case.len());
    fx.berth(&[
        "create",
        &ws,
        "--image",
        TEST_IMAGE,
        "--project",
        path_str(project),
    ]);
    let (mut berth, mut bare) = (Vec::new(), Vec::new());
    for round in 0..=rounds {
        let mut id = String::new();
        let b = timed(|| {
            let out = fx.berth(&[
                "preview", "create", &ws, "--image", TEST_IMAGE, "--cmd", SERVE, "--port", "3000",
                "--json",
            ]);
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            id = v["id"].as_str().unwrap().to_string();
        });
        fx.berth(&["preview", "rm", &id]);
        let name = format!("{}-p{round}", fx.tag);
        let port = free_port();
        let d = timed(|| bare_preview(fx, &name, port, project));
        docker(&["rm", "-f", &name]);
        docker(&["network", "rm", &name]);
        docker(&["volume", "rm", &name]);
        if round > 0 {
            berth.push(b);
            bare.push(d);
        }
    }
    fx.berth(&["rm", &ws]);
    report.paired(case, &berth, &bare, Some(max));
}

/// What a careful user types for the same preview.
fn bare_preview(fx: &Fixture, name: &str, port: u16, project: &Path) {
    // SAFETY: getuid/getgid have no preconditions.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let folder = project.file_name().unwrap().to_str().unwrap();
    docker(&[
        "network",
        "create",
        "--label",
        &format!("{}=1", fx.tag),
        name,
    ]);
    docker(
        &[
            &[
                "create",
                "--name",
                name,
                "--network",
                name,
                "--label",
                &format!("{}=1", fx.tag),
                "-p",
                &format!("127.0.0.1:{port}:3000"),
                "--read-only",
                "--tmpfs",
                "/tmp",
                "--memory",
                "1g",
                "--memory-swap",
                "1g",
                "--cpus",
                "1",
                "--pids-limit",
                "512",
                "--restart",
                "no",
                "--user",
                &format!("{uid}:{gid}"),
                "-e",
                "HOME=/tmp",
                "--mount",
                &format!("type=volume,src={name},dst=/workspace"),
                "-w",
                &format!("/workspace/{folder}"),
            ][..],
            &HARDENING[..],
            &[TEST_IMAGE, "/bin/sh", "-c", SERVE][..],
        ]
        .concat(),
    );
    // `tar | docker cp -`: the project as a folder of the volume.
    let parent = project.parent().unwrap();
    let mut tar = Command::new("tar")
        .args(["-C", path_str(parent), "-cf", "-", folder])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let cp = Command::new("docker")
        .args(["cp", "-", &format!("{name}:/workspace")])
        .stdin(tar.stdout.take().unwrap())
        .status()
        .unwrap();
    assert!(
        tar.wait().unwrap().success() && cp.success(),
        "tar | docker cp"
    );
    docker(&["start", name]);
    wait_answer(port);
}

/// `files` files of `size` bytes in 100 folders.
fn fill(dir: &Path, files: usize, size: usize) {
    let body: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
    for i in 0..files {
        let sub = dir.join(format!("d{:03}", i % 100));
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::File::create(sub.join(format!("f{i}.bin")))
            .and_then(|mut f| f.write_all(&body))
            .unwrap();
    }
}
