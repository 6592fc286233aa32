#!/usr/bin/env bash
# Installs a VillageGateway box: builds the release binary for the board's architecture and puts
# it, the configuration, the board file, the systemd unit and udev rules into a mounted root
# filesystem (--root DIR, e.g. an SD card) or onto a running box (--ssh USER@HOST).
# Idempotent; keeps the previous binary for --rollback; never overwrites an existing gateway.toml.
set -euo pipefail

usage() {
    cat <<'USAGE'
usage: tools/flash.sh --board NAME|FILE (--root DIR | --ssh USER@HOST [--root DIR]) [options]
       tools/flash.sh --rollback (--root DIR | --ssh USER@HOST [--root DIR]) [--ssh-option OPT]...

  --board NAME|FILE   the board: a name from boards/ (raspberry-pi-4, orange-pi-zero-3,
                      beaglebone-black, sim) or a board file
  --root DIR          install into this root filesystem (with --ssh: the directory on the box;
                      default /)
  --ssh USER@HOST     install over SSH (needs root on the box, or password-less sudo)
  --ssh-option OPT    passed to ssh as -o OPT, e.g. Port=2222 (repeatable)
  --config FILE       the box's gateway.toml; installed only where none exists yet (required
                      then), never over an existing one
  --arch ARCH         aarch64, armv7 or x86_64; default: from the board (sim: this machine's)
  --swift-sdk ID      cross-compile with this Swift SDK (default: found in `swift sdk list`)
  --binary FILE       install this already built village-gateway instead of building one
  --rollback          put back the binary the last install replaced
  -h, --help          this text

Exit status: 0 installed (or nothing to change), 2 wrong arguments, 3 no Swift SDK for the
target, 1 any other failure.
USAGE
}

fail() { echo "flash.sh: $*" >&2; exit 1; }
wrong() { echo "flash.sh: $*" >&2; echo "run tools/flash.sh --help for the options" >&2; exit 2; }

repository="$(cd "$(dirname "$0")/.." && pwd)"
board="" root="" ssh_target="" config="" arch="" swift_sdk="" binary="" rollback=0 strip_binary=0
ssh_options=()
# Named limits: how long an SSH connection may take to open, and how long a remote install may run.
ssh_connect_timeout_seconds=20
remote_install_timeout_seconds=300

need_value() { [ $# -ge 2 ] && [ -n "$2" ] && [ "${2#--}" = "$2" ] || wrong "$1 needs a value"; }
while [ $# -gt 0 ]; do
    case "$1" in
        --board) need_value "$@"; board=$2; shift 2 ;;
        --root) need_value "$@"; root=$2; shift 2 ;;
        --ssh) need_value "$@"; ssh_target=$2; shift 2 ;;
        --ssh-option) need_value "$@"; ssh_options+=(-o "$2"); shift 2 ;;
        --config) need_value "$@"; config=$2; shift 2 ;;
        --arch) need_value "$@"; arch=$2; shift 2 ;;
        --swift-sdk) need_value "$@"; swift_sdk=$2; shift 2 ;;
        --binary) need_value "$@"; binary=$2; shift 2 ;;
        --rollback) rollback=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) wrong "unknown argument '$1'" ;;
    esac
done

[ -n "$root" ] || [ -n "$ssh_target" ] || wrong "say where to install: --root DIR (a mounted root filesystem) or --ssh USER@HOST"
if [ -n "$ssh_target" ]; then
    case "$ssh_target" in
        *@?*) ;;
        *) wrong "--ssh '$ssh_target' must be USER@HOST, e.g. root@192.168.1.50" ;;
    esac
    root=${root:-/}
    case "$root" in /*) ;; *) wrong "--root '$root' must be an absolute path on the box" ;; esac
else
    [ -d "$root" ] || wrong "--root '$root' is not a directory; mount the box's root filesystem and give its mount point"
    root="$(cd "$root" && pwd)"
fi
if [ "$rollback" = 1 ]; then
    [ -z "$board$config$arch$swift_sdk$binary" ] || wrong "--rollback takes only --root, --ssh and --ssh-option: it puts back the previous binary, nothing else"
else
    [ -n "$board" ] || wrong "--board is required: a name from boards/ ($(cd "$repository/boards" && ls ./*.toml | sed 's|^\./||; s|\.toml$||' | tr '\n' ' ' | sed 's/ $//')) or a board file"
fi

# Runs the target's install step (tools/flash-install.sh) on the box or locally with the staged
# payload; over SSH the payload travels as one tar stream, so a half-copied install never runs.
run_install() {  # run_install STAGING ACTION
    local staging=$1 action=$2
    cp "$repository/tools/flash-install.sh" "$staging/flash-install.sh"
    if [ -z "$ssh_target" ]; then
        sh "$staging/flash-install.sh" "$action" "$root" "$staging"
        return
    fi
    local quoted_root
    quoted_root=$(printf "'%s'" "$(printf '%s' "$root" | sed "s/'/'\\\\''/g")")
    # shellcheck disable=SC2029  # the remote command is built here on purpose
    tar -C "$staging" -cf - . | timeout "$remote_install_timeout_seconds" ssh -o BatchMode=yes \
        -o ConnectTimeout="$ssh_connect_timeout_seconds" "${ssh_options[@]}" "$ssh_target" \
        "set -e; d=\$(mktemp -d); trap 'rm -rf \"\$d\"' EXIT; tar -C \"\$d\" -xf -; \
         if [ \"\$(id -u)\" = 0 ]; then sh \"\$d/flash-install.sh\" $action $quoted_root \"\$d\"; \
         else sudo -n sh \"\$d/flash-install.sh\" $action $quoted_root \"\$d\"; fi" \
        || fail "the install over SSH to $ssh_target failed (see above); nothing is half-installed: each file is replaced by a rename"
}

staging="$(mktemp -d)"
trap 'rm -rf "$staging"' EXIT

if [ "$rollback" = 1 ]; then
    run_install "$staging" rollback
    exit 0
fi

# --- The board and its architecture ----------------------------------------------------------
if [ -f "$board" ]; then
    board_file=$board
elif [ -f "$repository/boards/$board.toml" ]; then
    board_file="$repository/boards/$board.toml"
else
    wrong "no board '$board': give a board file or one of: $(cd "$repository/boards" && ls ./*.toml | sed 's|^\./||; s|\.toml$||' | tr '\n' ' ')"
fi
command -v python3 >/dev/null || fail "python3 is needed to read the board file (apt-get install python3)"
board_name=$(python3 - "$board_file" <<'PY'
import sys, tomllib
try:
    with open(sys.argv[1], "rb") as f:
        print(tomllib.load(f)["board"]["name"])
except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as e:
    sys.exit(f"flash.sh: cannot read [board] name from {sys.argv[1]}: {e}")
PY
) || exit 2

host_arch=$(uname -m)
case "$host_arch" in armv7*) host_arch=armv7 ;; arm64) host_arch=aarch64 ;; esac
if [ -z "$arch" ]; then
    # The boards' usual operating systems: 64-bit Raspberry Pi OS and Armbian on the H618, 32-bit
    # Debian on the AM3358 (which cannot run 64-bit code).
    case "$board_name" in
        raspberry-pi-4|orange-pi-zero-3) arch=aarch64 ;;
        beaglebone-black) arch=armv7 ;;
        sim) arch=$host_arch ;;
        qemu-x86_64) arch=x86_64 ;;
        *) wrong "board '$board_name' ($board_file) has no known architecture; give --arch aarch64, armv7 or x86_64" ;;
    esac
fi
case "$arch" in
    aarch64|armv7|x86_64) ;;
    *) wrong "--arch '$arch' is not one of aarch64, armv7, x86_64" ;;
esac

if [ -n "$config" ]; then
    [ -f "$config" ] || wrong "--config '$config' is not a file"
fi

# --- The binary ----------------------------------------------------------------------------------
elf_machine() {  # the ELF machine of a file, in --arch words ("" if not an ELF executable)
    local machine
    machine=$(LC_ALL=C readelf -h "$1" 2>/dev/null | sed -n 's/^ *Machine: *//p')
    case "$machine" in
        *X86-64*) echo x86_64 ;;
        *AArch64*) echo aarch64 ;;
        ARM) echo armv7 ;;
        *) echo "" ;;
    esac
}

swift_bin=${SWIFT:-swift}
# The compiler flags of every board build (function sections for the release link's function order:
# tools/board-build-flags says why), shared with make soak and make footprint.
mapfile -t board_build_flags < <(grep -v '^#' "$repository/tools/board-build-flags" | grep -v '^[[:space:]]*$')
if [ -n "$binary" ]; then
    [ -f "$binary" ] || wrong "--binary '$binary' is not a file"
    built_arch=$(elf_machine "$binary")
    [ -n "$built_arch" ] || wrong "--binary '$binary' is not an ELF executable for aarch64, armv7 or x86_64"
    [ "$built_arch" = "$arch" ] || wrong "--binary '$binary' is built for $built_arch, but the board needs $arch"
elif [ "$arch" = "$host_arch" ]; then
    echo "flash.sh: building village-gateway natively for $arch (release, static Swift runtime)" >&2
    # The Swift runtime is linked in: the box has no Swift toolchain, and it is the smaller box in
    # memory too (Benchmarks/Footprint/run.py, x86_64, 8 Modbus registers at 1 Hz: 30.9 MiB
    # resident, against 37.5 MiB with the runtime, Foundation and ICU as shared libraries, whose
    # relocated data and scattered pages cost more than the static binary's; Package.swift's
    # release link flags take the static one from 36.3 to 30.9 MiB, and its function order with
    # tools/board-build-flags' function sections to 22.3 MiB).
    build_flags=(-c release --static-swift-stdlib "${board_build_flags[@]}" --package-path "$repository")
    "$swift_bin" build "${build_flags[@]}" --product village-gateway >&2 || fail "the release build failed (see above)"
    binary="$("$swift_bin" build "${build_flags[@]}" --show-bin-path)/village-gateway"
    # Symbols and debug information are half the release binary (188 MB -> 90 MB): an SD card and
    # an update over a village's mobile link are better off without them.
    strip_binary=1
else
    if [ -z "$swift_sdk" ]; then
        sdks=$("$swift_bin" sdk list 2>/dev/null || true)
        # An SDK whose id names the architecture, else the static Linux SDK (aarch64 and x86_64).
        pattern=$arch
        [ "$arch" != armv7 ] || pattern='armv7|armhf'
        swift_sdk=$(grep -iE "$pattern" <<<"$sdks" | head -1 || true)
        if [ -z "$swift_sdk" ] && [ "$arch" != armv7 ] && grep -q 'static-linux' <<<"$sdks"; then
            swift_sdk="$arch-swift-linux-musl"
        fi
    fi
    if [ -z "$swift_sdk" ]; then
        version=$("$swift_bin" --version 2>&1 | sed -n 's/.*Swift version \([0-9][0-9.]*\).*/\1/p' | head -1)
        {
            echo "flash.sh: no Swift SDK for $arch is installed (\`swift sdk list\` names none), so village-gateway cannot be built for board $board_name here."
            if [ "$arch" = aarch64 ]; then
                echo "Install the static Linux SDK matching this Swift ($version), with the checksum from https://www.swift.org/install/linux/ :"
                echo "  swift sdk install https://download.swift.org/swift-$version-release/static-sdk/swift-$version-RELEASE/swift-${version}-RELEASE_static-linux-0.0.1.artifactbundle.tar.gz --checksum <checksum>"
            else
                echo "There is no official armv7 SDK; generate a Debian 12 armhf one and install it:"
                echo "  git clone https://github.com/swiftlang/swift-sdk-generator && cd swift-sdk-generator && swift run swift-sdk-generator make-linux-sdk --swift-version $version-RELEASE --distribution-name debian --distribution-version 12 --target armv7-unknown-linux-gnueabihf"
                echo "  swift sdk install Bundles/<the generated bundle>.artifactbundle"
            fi
            echo "The SDK's sysroot also needs libgpiod, libserialport and libsqlite3 for $arch."
            echo "Or run tools/flash.sh on the board itself (it builds natively), or give a binary built elsewhere with --binary FILE."
        } >&2
        exit 3
    fi
    echo "flash.sh: cross-compiling village-gateway for $arch with Swift SDK $swift_sdk" >&2
    build_flags=(-c release --swift-sdk "$swift_sdk" "${board_build_flags[@]}" --package-path "$repository")
    "$swift_bin" build "${build_flags[@]}" --product village-gateway >&2 || fail "the cross build with SDK $swift_sdk failed (see above)"
    binary="$("$swift_bin" build "${build_flags[@]}" --show-bin-path)/village-gateway"
    [ "$(elf_machine "$binary")" = "$arch" ] || fail "SDK $swift_sdk built $binary for $(elf_machine "$binary"), not $arch; give the right one with --swift-sdk"
fi

# A configuration or board file that would stop the box at start is caught here, while the
# binary can run on this machine.
if [ "$arch" = "$host_arch" ]; then
    "$binary" boards check "$board_file" > /dev/null || fail "board file $board_file has problems (listed above); fix them first"
    if [ -n "$config" ]; then
        "$binary" check-config --quiet "$config" > /dev/null || fail "--config '$config' has problems (listed above); fix them first"
    fi
fi

# --- The payload ------------------------------------------------------------------------------
mkdir -p "$staging/files"
if [ "$strip_binary" = 1 ]; then
    strip -o "$staging/files/village-gateway" "$binary" || fail "strip $binary failed"
else
    cp "$binary" "$staging/files/village-gateway"
fi
# The oldest glibc the binary loads on: its highest GLIBC_x.y symbol version, and 2.36 for the
# packed relocations of the release link (the loader's GLIBC_ABI_DT_RELR, Package.swift).
# flash-install.sh refuses a root whose glibc is older, rather than installing a box the loader
# will not start. No readelf here, or a binary without glibc versions (musl): no check.
if command -v readelf >/dev/null 2>&1; then
    versions=$(readelf -V --wide "$binary" 2>/dev/null | grep -o 'GLIBC_[0-9A-Z_.]*' | sort -u || true)
    glibc_needed=$(printf '%s\n' "$versions" | grep -o '^GLIBC_[0-9][0-9.]*$' | sed 's/^GLIBC_//' | sort -V | tail -1 || true)
    if printf '%s\n' "$versions" | grep -qx GLIBC_ABI_DT_RELR; then
        glibc_needed=$(printf '%s\n' "${glibc_needed:-0}" 2.36 | sort -V | tail -1)
    fi
    [ -z "$glibc_needed" ] || echo "$glibc_needed" > "$staging/files/glibc-needed"
fi
cp "$board_file" "$staging/files/board.toml"
mkdir -p "$staging/files/boards"
cp "$repository"/boards/*.toml "$staging/files/boards/"
cp "$repository/packaging/village-gateway.service" "$staging/files/village-gateway.service"
cp "$repository/packaging/village-gateway.sysusers" "$staging/files/village-gateway.sysusers"
cp "$repository/packaging/village-gateway-reboot.rules" "$staging/files/village-gateway-reboot.rules"
[ -z "$config" ] || cp "$config" "$staging/files/gateway.toml"
python3 "$repository/tools/udev-rules.py" "$board_file" > "$staging/files/60-village-gateway.rules" \
    || fail "cannot write udev rules for $board_file"
echo "flash.sh: installing board $board_name ($arch) into ${ssh_target:+$ssh_target:}$root" >&2
run_install "$staging" install
