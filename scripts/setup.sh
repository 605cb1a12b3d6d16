# Shared by scripts/run and scripts/test: install what is missing and start the Docker engine.
# Sourced, not run. Works as root or with sudo, on Debian/Ubuntu (apt).

# Build caches are per user: ~/.cache/berth (0700, and refused unless it is ours). A shared
# folder such as /var/tmp could be made first by another user, who could then plant files in
# the build.
berth_cache_dir() {
    local dir="${XDG_CACHE_HOME:-$HOME/.cache}/berth"
    mkdir -p "$dir" && chmod 0700 "$dir"
    if [ ! -O "$dir" ]; then
        echo "$dir is not owned by $(id -un); refusing to build in it" >&2
        exit 1
    fi
    echo "$dir"
}
BERTH_CACHE_ROOT=$(berth_cache_dir) || exit 1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$BERTH_CACHE_ROOT/target}"
export BERTH_CACHE_DIR="${BERTH_CACHE_DIR:-$BERTH_CACHE_ROOT/images}"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# ensure_packages PKG... — apt-get install the packages that are not installed yet.
ensure_packages() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "==> installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_rust() {
    if ! command -v cargo >/dev/null; then
        echo "Berth needs Rust 1.89 or newer (cargo): install it from https://rustup.rs and run this again" >&2
        exit 1
    fi
}

# ensure_dockerd — start the Docker engine if it does not answer: through systemd when it
# runs, else dockerd directly in the background (containers, CI machines).
ensure_dockerd() {
    docker info >/dev/null 2>&1 && return 0
    echo "==> starting the Docker engine"
    if [ -d /run/systemd/system ]; then
        as_root systemctl start docker
    else
        as_root sh -c 'nohup dockerd >/var/log/berth-dockerd.log 2>&1 &'
    fi
    for _ in $(seq 1 300); do
        docker info >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "the Docker engine did not start within 60 s; see /var/log/berth-dockerd.log" >&2
    exit 1
}

# The desktop app's build and run dependencies (Tauri v2 on WebKitGTK), and the web UI.
ensure_desktop() {
    ensure_packages libwebkit2gtk-4.1-dev build-essential file libxdo-dev libssl-dev \
        libayatana-appindicator3-dev librsvg2-dev pkg-config
    command -v npm >/dev/null || ensure_packages nodejs npm
    (cd ui && { [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error; } && npm run --silent build >/dev/null)
}

# What the end-to-end tests drive the app with: a virtual display, WebDriver, a session bus.
ensure_e2e() {
    # python3-gi + GTK: the tests' drag source (a file dragged in from another program).
    ensure_packages xvfb xauth imagemagick x11-utils xdotool webkit2gtk-driver dbus dbus-x11 at-spi2-core \
        python3-gi gir1.2-gtk-3.0
    command -v tauri-driver >/dev/null || [ -x "$HOME/.cargo/bin/tauri-driver" ] ||
        cargo install tauri-driver --locked --quiet
}

# Everything Berth and its tests need on the machine.
ensure_base() {
    ensure_rust
    # docker.io: engine and CLI; busybox-static + tini: the files of the test image.
    ensure_packages ca-certificates docker.io busybox-static tini
    # Docker Bench for Security (the CIS test, run by the integration tests) reads sockets
    # and processes with these.
    ensure_packages iproute2 procps
    # The OS keychain: libdbus to build against the Secret Service.
    ensure_packages libdbus-1-dev pkg-config
    ensure_dockerd
}

# A keychain for the tests where no desktop session runs one (scripts/with-keyring): a
# session bus, gnome-keyring's Secret Service, keyutils, and secret-tool to look inside.
ensure_test_keyring() {
    ensure_packages dbus-daemon gnome-keyring keyutils libsecret-tools
    # The preview LAN test plays a guest from a network namespace it makes (ip netns, curl).
    ensure_packages iproute2 curl
}

# build_images BERTH NAME... — builds bundled images through a throwaway data dir, whose daemon
# is stopped (and the dir removed) afterwards: a script must not leave a daemon behind.
build_images() {
    local bin=$1 dir status=0
    shift
    dir=$(mktemp -d)
    for name in "$@"; do
        BERTH_DATA_DIR="$dir" "$bin" image build "$name" | tail -n 3 || status=1
    done
    BERTH_DATA_DIR="$dir" BERTH_NO_AUTOSTART=1 "$bin" daemon stop >/dev/null || true
    rm -rf "$dir"
    return $status
}

# Berth's version: Cargo.toml's (`cargo pkgid` would answer from Cargo.lock, which lags a bump).
berth_version() {
    cargo metadata --no-deps --format-version 1 --offline |
        python3 -c 'import json, sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "berth"))'
}

# build_test_packages DIR — the packages the package tests install, signed with a throwaway
# key (made once per machine, never Berth's release key), into DIR/current (this version) and
# DIR/next (the same sources one patch version up, with a CHANGELOG section of its own: what
# a release looks like to the updater). Both trust the throwaway key instead of Berth's.
build_test_packages() {
    local out=$1 root=$PWD key="$BERTH_CACHE_ROOT/test-updater.key"
    ensure_packages rpm desktop-file-utils sudo rsync python3
    # The clean Debian 12 the .deb is installed on (kept in the engine once made).
    bash docker/workspace-offline/prepare.sh --base-only
    if [ ! -f "$key" ]; then
        ui/node_modules/.bin/tauri signer generate --ci -p "" -w "$key" >/dev/null
    fi
    local version next copy="$BERTH_CACHE_ROOT/next-version"
    version=$(berth_version)
    next=$(echo "$version" | awk -F. '{ printf "%d.%d.%d", $1, $2, $3 + 1 }')
    export TAURI_SIGNING_PRIVATE_KEY="$key" TAURI_SIGNING_PRIVATE_KEY_PASSWORD=""
    export BERTH_UPDATE_PUBKEY
    BERTH_UPDATE_PUBKEY=$(cat "$key.pub")
    rm -rf "$out" && mkdir -p "$out"
    BERTH_PACKAGE_DIR="$out/current" scripts/package --debug >/dev/null
    # The copy keeps its place and its files' times between runs, so cargo reuses its build.
    mkdir -p "$copy"
    git ls-files -co --exclude-standard -z | grep -zv '^ui/node_modules/' |
        rsync -a --delete --ignore-missing-args --from0 --files-from=- ./ "$copy/"
    ln -sfn "$root/ui/node_modules" "$copy/ui/node_modules"
    sed -i "0,/^version = \"$version\"/s//version = \"$next\"/" "$copy/Cargo.toml"
    printf '# Changelog\n\n## %s\n\n- The package tests'"'"' next version: it installs over %s.\n' \
        "$next" "$version" > "$copy/CHANGELOG.md"
    (cd "$copy" && BERTH_PACKAGE_DIR="$out/next" scripts/package --debug >/dev/null)
    unset TAURI_SIGNING_PRIVATE_KEY TAURI_SIGNING_PRIVATE_KEY_PASSWORD BERTH_UPDATE_PUBKEY
}
