//! Start, create, stop and delete: the `berth` CLI against the `docker` CLI doing the same
//! work with the same flags and the same health poll.

use crate::fixture::{Fixture, IDE_IMAGE, docker, free_port, path_str, timed, wait_healthy};
use crate::stats::Report;

/// `berth create NAME` on `image` with `project` and `mem`, as the baseline gets.
fn berth_create(fx: &Fixture, name: &str, image: &str, project: &std::path::Path, mem: &str) {
    fx.berth(&[
        "create",
        name,
        "--image",
        image,
        "--project",
        path_str(project),
        "--memory",
        mem,
    ]);
}

/// The baseline's `docker <verb>` (create or run -d) with Berth's flags and the project mount.
fn docker_hardened(
    fx: &Fixture,
    verb: &[&str],
    name: &str,
    port: u16,
    mem: &str,
    image: &str,
    project: &std::path::Path,
) {
    let mut args: Vec<String> = verb.iter().map(|v| v.to_string()).collect();
    args.extend(fx.hardened_flags(name, port, mem));
    args.extend([
        "--mount".into(),
        format!("type=bind,src={},dst=/workspace/project", path_str(project)),
        image.into(),
    ]);
    docker(&args.iter().map(String::as_str).collect::<Vec<_>>());
}

fn memory_for(image: &str) -> &'static str {
    if image == IDE_IMAGE { "1g" } else { "256m" }
}

/// A stopped workspace → IDE healthy, vs `docker start` + the same poll.
pub fn start(report: &mut Report, image: &str, rounds: usize) {
    let fx = Fixture::new();
    let mem = memory_for(image);
    let project = fx.project("start");
    berth_create(&fx, "bench", image, &project, mem);
    let base = format!("{}-start", fx.tag);
    let port = free_port();
    fx.network(&base);
    docker_hardened(&fx, &["create"], &base, port, mem, image, &project);

    let (mut berth, mut bare) = (Vec::new(), Vec::new());
    for round in 0..=rounds {
        let b = timed(|| {
            fx.berth(&["start", "bench"]);
        });
        fx.berth(&["stop", "bench"]);
        let d = timed(|| {
            docker(&["start", &base]);
            wait_healthy(port);
        });
        docker(&["stop", &base]);
        if round > 0 {
            berth.push(b);
            bare.push(d);
        }
    }
    let case = if image == IDE_IMAGE {
        "start (code-server)"
    } else {
        "start (test image)"
    };
    report.paired(case, &berth, &bare, Some(1.05));
}

/// Create + start on a cached image → healthy, vs network create + `docker run` + poll.
pub fn create(report: &mut Report, rounds: usize) {
    let fx = Fixture::new();
    let image = crate::fixture::TEST_IMAGE;
    let project = fx.project("create");
    let (mut berth, mut bare) = (Vec::new(), Vec::new());
    for round in 0..=rounds {
        let name = format!("c{round}");
        let b = timed(|| {
            berth_create(&fx, &name, image, &project, "256m");
            fx.berth(&["start", &name]);
        });
        fx.berth(&["rm", &name]);
        let base = format!("{}-c{round}", fx.tag);
        let port = free_port();
        let d = timed(|| {
            fx.network(&base);
            docker_hardened(&fx, &["run", "-d"], &base, port, "256m", image, &project);
            wait_healthy(port);
        });
        docker(&["rm", "-f", &base]);
        docker(&["network", "rm", &base]);
        if round > 0 {
            berth.push(b);
            bare.push(d);
        }
    }
    report.paired("create + start", &berth, &bare, Some(1.10));
}

/// `berth stop` vs `docker stop`, then `berth rm` vs `docker rm` + `docker network rm`.
pub fn stop_delete(report: &mut Report, rounds: usize) {
    let fx = Fixture::new();
    let image = crate::fixture::TEST_IMAGE;
    let project = fx.project("sd");
    let (mut stop_b, mut stop_d, mut rm_b, mut rm_d) = (vec![], vec![], vec![], vec![]);
    for round in 0..=rounds {
        let name = format!("s{round}");
        berth_create(&fx, &name, image, &project, "256m");
        fx.berth(&["start", &name]);
        let base = format!("{}-s{round}", fx.tag);
        let port = free_port();
        fx.network(&base);
        docker_hardened(&fx, &["run", "-d"], &base, port, "256m", image, &project);
        wait_healthy(port);

        let sb = timed(|| {
            fx.berth(&["stop", &name]);
        });
        let sd = timed(|| {
            docker(&["stop", &base]);
        });
        let rb = timed(|| {
            fx.berth(&["rm", &name]);
        });
        let rd = timed(|| {
            docker(&["rm", &base]);
            docker(&["network", "rm", &base]);
        });
        if round > 0 {
            stop_b.push(sb);
            stop_d.push(sd);
            rm_b.push(rb);
            rm_d.push(rd);
        }
    }
    report.paired("stop", &stop_b, &stop_d, None);
    report.paired("delete (container + network)", &rm_b, &rm_d, None);
}
