#!/usr/bin/env bash
# Builds (once) the small x86_64 kernel `make hil` boots, from Debian's linux-source package and
# tools/hil/kernel.config, and prints the bzImage's path. The result is cached outside the clone,
# keyed by the linux-source version and the fragment's hash, so CI and later runs reuse it.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
fragment="$here/kernel.config"
source_package="linux-source-6.1"
tarball="/usr/src/$source_package.tar.xz"
jobs="${HIL_KERNEL_JOBS:-2}"

fail() { echo "hil: build-kernel: $*" >&2; exit 1; }

[ -f "$tarball" ] || fail "$tarball missing: install it with 'apt-get install linux-source-6.1' (make hil-deps does)"
version="$(dpkg-query -W -f='${Version}' "$source_package" 2>/dev/null)" \
    || fail "cannot read the version of $source_package (is it installed with dpkg?)"
fragment_hash="$(sha256sum "$fragment" | cut -c1-16)"
cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/village-gateway/hil"
key="linux-$version-$fragment_hash"
image="$cache_root/$key/bzImage"

if [ -f "$image" ]; then
    echo "$image"
    exit 0
fi

# One build at a time per cache (two `make hil` at once, or CI next to a developer): the second
# waits for the first and then finds its image.
mkdir -p "$cache_root"
exec 9>"$cache_root/.lock"
flock 9
if [ -f "$image" ]; then
    echo "$image"
    exit 0
fi

build_dir="$cache_root/$key.build"
source_dir="$cache_root/src-$version"
mkdir -p "$cache_root"
# The extracted tree is shared by all fragment hashes of this version; it is built out of tree.
if [ ! -f "$source_dir/.extracted" ]; then
    echo "hil: extracting $tarball into $source_dir" >&2
    rm -rf "$source_dir" "$source_dir.partial"
    mkdir -p "$source_dir.partial"
    tar -xJf "$tarball" -C "$source_dir.partial" --strip-components=1
    touch "$source_dir.partial/.extracted"
    mv "$source_dir.partial" "$source_dir"
fi

mkdir -p "$build_dir"
echo "hil: configuring the kernel in $build_dir" >&2
make -s -C "$source_dir" O="$build_dir" ARCH=x86_64 KCONFIG_ALLCONFIG="$fragment" allnoconfig >&2
# allnoconfig drops silently what Kconfig dependencies forbid; a missing option would only show
# up later as a guest that cannot boot, so check every line here.
missing=""
while IFS= read -r line; do
    case "$line" in ''|'#'*) continue ;; esac
    grep -qxF "$line" "$build_dir/.config" || missing="$missing $line"
done < "$fragment"
[ -z "$missing" ] || fail "these options of $fragment did not survive allnoconfig (unmet dependencies):$missing"

echo "hil: building the kernel with -j$jobs (log: $build_dir/build.log)" >&2
if ! make -C "$source_dir" O="$build_dir" ARCH=x86_64 -j"$jobs" bzImage > "$build_dir/build.log" 2>&1; then
    tail -20 "$build_dir/build.log" >&2
    fail "kernel build failed; full log in $build_dir/build.log"
fi
mkdir -p "$cache_root/$key"
cp "$build_dir/arch/x86/boot/bzImage" "$image.partial"
mv "$image.partial" "$image"
echo "$image"
