#!/usr/bin/env bash
# Prepares the build context of `berth-workspace-offline` without any container registry:
#   1. the base image berth-base:bookworm-slim, made by debootstrap from the host's Debian
#      mirror, without translations, manuals and docs;
#   2. code-server installed from npm on the host, with the fixes for its offline traps
#      (ripgrep download, nested npx, global installs), trimmed of what only developers of
#      code-server need (source maps, compiler objects);
#   3. npm itself and the Claude Code CLI from npm: only Claude's native binary goes into
#      the image, once;
#   4. the context folder: Dockerfile, launcher, settings, Berth's extensions, the host's
#      node (stripped), code-server's node_modules and the claude binary.
# Steps 1 to 3 are cached (the base image in Docker, the npm installs in $BERTH_CACHE_DIR).
# Usage: prepare.sh CONTEXT_DIR   (run by `berth image build workspace-offline`)
#        prepare.sh --base-only    (step 1 alone: the package tests' clean Debian)
set -euo pipefail
ctx=$1
here=$(cd "$(dirname "$0")" && pwd)
# Per user (never a shared folder another user could have made first), private, ours.
cache=${BERTH_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/berth/images}
mkdir -p "$cache" && chmod 0700 "$cache"
[ -O "$cache" ] || { echo "$cache is not owned by $(id -un); refusing to use it" >&2; exit 1; }
cs_version=4.99.4
claude_version=2.1.331
npm_version=10.9.4

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

base=berth-base:bookworm-slim
if ! docker image inspect "$base" >/dev/null 2>&1; then
    echo "Step A: Debian base image (debootstrap)"
    need debootstrap debian-archive-keyring gpgv
    mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
    mirror=${mirror:-http://deb.debian.org/debian}
    rootfs=$(mktemp -d)
    # The mirror is plain http: every package is checked against Debian's archive keys.
    as_root debootstrap --variant=minbase --force-check-gpg \
        --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
        bookworm "$rootfs" "$mirror" >/dev/null
    as_root rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    # Translations, manuals and docs are ~50 MB nobody reads in a container (licences stay);
    # the same rule then holds for every package installed on top.
    as_root sh -c "cd '$rootfs/usr/share' && rm -rf locale/*/ man/* info/* &&
        find doc -mindepth 1 -not -name copyright -not -type d -delete &&
        printf '%s\\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \\
            'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' \\
            'path-exclude /usr/share/locale/*' 'path-include /usr/share/locale/locale.alias' \\
            > '$rootfs/etc/dpkg/dpkg.cfg.d/berth-slim'"
    as_root tar --numeric-owner -C "$rootfs" -c . | docker import -c 'CMD ["/bin/bash"]' - "$base" >/dev/null
    as_root rm -rf "$rootfs"
fi
[ "$ctx" = "--base-only" ] && exit 0

# The -r2 suffix names the recipe: a cache made by an older recipe is not reused.
cs_dir=$cache/code-server-$cs_version-r2
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
            "code-server@$cs_version")
    # 160 MB of source maps and the native modules' compiler objects are for debugging and
    # rebuilding code-server, not for running it.
    find "$cs_dir/node_modules" -name '*.map' -type f -delete
    find "$cs_dir/node_modules" -type d \( -path '*/build/Release/obj.target' -o -path '*/build/Release/.deps' \) -prune -exec rm -rf {} +
    rm -rf "$cs_dir/tmp"
    touch "$cs_dir/.complete"
fi

claude_dir=$cache/claude-code-$claude_version-r1
if [ ! -f "$claude_dir/.complete" ]; then
    echo "Step C: Claude Code $claude_version and npm $npm_version from npm"
    rm -rf "$claude_dir" && mkdir -p "$claude_dir"
    (cd "$claude_dir" && echo '{"private":true}' > package.json &&
        npm install --no-audit --no-fund --loglevel=error "@anthropic-ai/claude-code@$claude_version" "npm@$npm_version")
    # Claude Code 2.x is a native binary from a per-platform package; its postinstall copies
    # it over the main package's placeholder. Keep exactly one copy, checked to run.
    bin=$claude_dir/node_modules/@anthropic-ai/claude-code-linux-x64/claude
    [ -x "$bin" ] || { echo "the Claude Code native binary is missing from the npm install" >&2; exit 1; }
    "$bin" --version | grep -q "^$claude_version " || { echo "the Claude Code binary does not run" >&2; exit 1; }
    mv "$bin" "$claude_dir/claude"
    mv "$claude_dir/node_modules/npm" "$claude_dir/npm"
    rm -rf "$claude_dir/node_modules" "$claude_dir/package.json" "$claude_dir/package-lock.json"
    touch "$claude_dir/.complete"
fi

echo "Step D: build context"
mkdir -p "$ctx"
cp "$here/Dockerfile" "$here/berth-ide" "$here/berth-keepalive" "$here/machine-settings.json" "$here/profile.sh" "$ctx/"
rm -rf "$ctx/extensions" && cp -a "$here/extensions" "$ctx/extensions"
# Debug symbols are 12 MB of the host's node; the image runs it, nobody debugs it there.
strip -o "$ctx/node" "$(command -v node)" 2>/dev/null || cp "$(command -v node)" "$ctx/node"
rm -rf "$ctx/node_modules"
# Hard links when the cache is on the same file system: no 300 MB copy.
cp -al "$cs_dir/node_modules" "$ctx/node_modules" 2>/dev/null || cp -a "$cs_dir/node_modules" "$ctx/node_modules"
ln "$claude_dir/claude" "$ctx/claude" 2>/dev/null || cp "$claude_dir/claude" "$ctx/claude"
rm -rf "$ctx/npm" && cp -a "$claude_dir/npm" "$ctx/npm" && rm -rf "$ctx/npm/docs" "$ctx/npm/man"
# Read-mes and change logs of code-server's own dependencies (not the extensions': VS Code
# shows those) are for people browsing npm. Unlinking them here leaves the cache whole.
find "$ctx/node_modules" -path '*/lib/vscode/extensions' -prune -o -type f \
    \( -iname 'readme*' -o -iname 'changelog*' -o -iname 'history.md' \) -exec rm -f {} +
echo "context ready: $(du -sh "$ctx" | cut -f1)"
