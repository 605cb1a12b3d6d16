#!/usr/bin/env bash
# Prepares the build context of `berth-workspace-offline` without any container registry:
#   1. the base image berth-base:bookworm, made by debootstrap from the host's Debian mirror;
#   2. code-server (and the Claude Code CLI) installed from npm on the host, with the fixes
#      for their offline traps (ripgrep download, nested npx, global installs);
#   3. the context folder: Dockerfile, launcher, the host's node, the node_modules.
# Steps 1 and 2 are cached (the base image in Docker, the npm installs in $BERTH_CACHE_DIR).
# Usage: prepare.sh CONTEXT_DIR   (run by `berth image build workspace-offline`)
set -euo pipefail
ctx=$1
here=$(cd "$(dirname "$0")" && pwd)
cache=${BERTH_CACHE_DIR:-/var/tmp/berth-cache}
cs_version=4.99.4
claude_version=2.1.331

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
need() {
    local missing=()
    for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing ${missing[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

if ! docker image inspect berth-base:bookworm >/dev/null 2>&1; then
    echo "Step A: Debian base image (debootstrap)"
    need debootstrap
    mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
    mirror=${mirror:-http://deb.debian.org/debian}
    rootfs=$(mktemp -d)
    as_root debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >/dev/null
    as_root rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    as_root tar --numeric-owner -C "$rootfs" -c . | docker import -c 'CMD ["/bin/bash"]' - berth-base:bookworm >/dev/null
    as_root rm -rf "$rootfs"
fi

cs_dir=$cache/code-server-$cs_version
if [ ! -f "$cs_dir/.complete" ]; then
    echo "Step B: code-server $cs_version from npm (native modules compile: a minute or two)"
    need libkrb5-dev libxkbfile-dev libsecret-1-dev python3 make g++ pkg-config ripgrep
    rm -rf "$cs_dir" && mkdir -p "$cs_dir/tmp"
    # @vscode/ripgrep downloads rg from GitHub in its postinstall; it looks in this cache
    # first, so hand it Debian's rg (at the archive's top level: it unpacks into its bin/).
    rgcache=$cs_dir/tmp/vscode-ripgrep-cache-1.15.11
    mkdir -p "$rgcache/pack" && cp "$(command -v rg)" "$rgcache/pack/rg"
    tar -C "$rgcache/pack" -czf "$rgcache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" rg
    # A local install (a global one breaks the nested npm of the postinstall); node-pty's
    # postinstall runs `npx node-gyp`, which must not stop to ask; as root, code-server's own
    # postinstall refuses to run unless told the permissions are meant.
    (cd "$cs_dir" && echo '{"private":true}' > package.json &&
        TMPDIR=$cs_dir/tmp npm_config_yes=true npm_config_unsafe_perm=true npm install --no-audit --no-fund --loglevel=error \
            "code-server@$cs_version" "@anthropic-ai/claude-code@$claude_version")
    rm -rf "$cs_dir/tmp"
    touch "$cs_dir/.complete"
fi

echo "Step C: build context"
mkdir -p "$ctx"
cp "$here/Dockerfile" "$here/berth-ide" "$ctx/"
cp "$(command -v node)" "$ctx/node"
rm -rf "$ctx/node_modules"
# Hard links when the cache is on the same file system: no 600 MB copy.
cp -al "$cs_dir/node_modules" "$ctx/node_modules" 2>/dev/null || cp -a "$cs_dir/node_modules" "$ctx/node_modules"
echo "context ready: $(du -sh "$ctx" | cut -f1)"
