#!/bin/sh
# The on-the-box half of tools/flash.sh: puts a staged payload into a root filesystem, or rolls
# the binary back. POSIX sh, so it runs on a minimal board image; each file is written beside
# its place and renamed over it, so a power cut leaves the old file or the new, never half.
# Usage: flash-install.sh install ROOT STAGING | flash-install.sh rollback ROOT STAGING
set -eu

action=$1
root=${2%/}
payload=$3/files

bin="$root/usr/local/bin/village-gateway"
previous="$root/usr/local/lib/village-gateway/village-gateway.previous"
etc="$root/etc/village-gateway"
unit="$root/etc/systemd/system/village-gateway.service"
wants="$root/etc/systemd/system/multi-user.target.wants/village-gateway.service"
rules="$root/etc/udev/rules.d/60-village-gateway.rules"
boards="$root/usr/share/village-gateway/boards"
sysusers="$root/usr/lib/sysusers.d/village-gateway.conf"
polkit_rule="$root/etc/polkit-1/rules.d/60-village-gateway.rules"
# The daemon's own user (packaging/village-gateway.sysusers): it owns /etc/village-gateway.
user=village-gateway

fail() { echo "flash.sh: on the box: $*" >&2; exit 1; }

# at_least A B: version A (MAJOR.MINOR) is B or newer.
at_least() {
    a_major=${1%%.*} a_minor=${1#*.} b_major=${2%%.*} b_minor=${2#*.}
    a_minor=${a_minor%%.*} b_minor=${b_minor%%.*}
    [ "$a_major" -gt "$b_major" ] || { [ "$a_major" -eq "$b_major" ] && [ "$a_minor" -ge "$b_minor" ]; }
}

# The glibc of the root being installed: the running system's from getconf, a mounted root's from
# the version string inside its libc.so.6 (any architecture). Empty when it cannot be told.
root_glibc() {
    if [ -z "$root" ] && command -v getconf >/dev/null 2>&1; then
        version=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{ print $2 }')
        [ -n "$version" ] && { echo "$version"; return; }
    fi
    for libc in "$root"/lib/*/libc.so.6 "$root"/usr/lib/*/libc.so.6 "$root"/lib/libc.so.6 "$root"/lib64/libc.so.6 "$root"/usr/lib/libc.so.6; do
        [ -f "$libc" ] || continue
        version=$(grep -a -o 'release version [0-9][0-9]*\.[0-9][0-9]*' "$libc" 2>/dev/null | head -1 | awk '{ print $3 }')
        [ -n "$version" ] && { echo "$version"; return; }
    done
}
changed=0
unchanged=0
rules_changed=0

# put SOURCE DEST MODE: installs unless DEST already has that content and mode.
put() {
    if [ -f "$2" ] && cmp -s "$1" "$2" && [ "$(stat -c %a "$2")" = "$3" ]; then
        unchanged=$((unchanged + 1))
        return 1
    fi
    mkdir -p "$(dirname "$2")"
    cp "$1" "$2.flash-new"
    chmod "$3" "$2.flash-new"
    mv -f "$2.flash-new" "$2"
    echo "  installed $2"
    changed=$((changed + 1))
    return 0
}

# Only when this root is the running system: a mounted SD card's systemd is not ours to poke.
running_systemd() { [ "$root" = "" ] && [ -d /run/systemd/system ]; }

restart_service() {
    if running_systemd; then
        systemctl daemon-reload
        systemctl enable village-gateway.service
        systemctl restart village-gateway.service
        echo "  restarted village-gateway.service"
    fi
}

case "$action" in
install)
    # Checked before anything changes: a box with no configuration would not start.
    if [ ! -f "$etc/gateway.toml" ] && [ ! -f "$payload/gateway.toml" ]; then
        fail "$etc/gateway.toml does not exist and no --config was given; give --config FILE (check it first with village-gateway check-config FILE)"
    fi
    # A binary the board's loader refuses would leave the box without warnings at its next start.
    if [ -f "$payload/glibc-needed" ]; then
        needed=$(cat "$payload/glibc-needed")
        have=$(root_glibc)
        if [ -z "$have" ]; then
            echo "  could not tell the glibc of ${root:-/}: this village-gateway needs glibc $needed or newer"
        elif ! at_least "$have" "$needed"; then
            packed=""
            at_least "$have" 2.36 || packed=", and with VG_PACKED_RELOCATIONS=0 (packed relocations need glibc 2.36)"
            fail "${root:-/} has glibc $have, but this village-gateway needs $needed or newer; build it for this board with an SDK whose glibc is no newer than $have$packed"
        fi
    fi
    mkdir -p "$etc" "$(dirname "$previous")"
    chmod 0750 "$etc"
    if [ -f "$bin" ] && cmp -s "$payload/village-gateway" "$bin"; then
        unchanged=$((unchanged + 1))
    else
        if [ -f "$bin" ]; then
            # The binary being replaced is the rollback target; copied, so $bin never disappears.
            cp -p "$bin" "$previous.flash-new"
            mv -f "$previous.flash-new" "$previous"
            echo "  kept the previous binary as $previous"
        fi
        put "$payload/village-gateway" "$bin" 755 || true
    fi
    put "$payload/board.toml" "$etc/board.toml" 644 || true
    for board in "$payload"/boards/*.toml; do
        put "$board" "$boards/$(basename "$board")" 644 || true
    done
    if [ -f "$etc/gateway.toml" ]; then
        if [ -f "$payload/gateway.toml" ] && ! cmp -s "$payload/gateway.toml" "$etc/gateway.toml"; then
            echo "  kept $etc/gateway.toml: it differs from --config, and the box's configuration is never overwritten (edit it there)"
        fi
        unchanged=$((unchanged + 1))
    else
        # Holds phone numbers and county credentials: the box's user only (given to it below).
        put "$payload/gateway.toml" "$etc/gateway.toml" 640 || true
    fi
    put "$payload/village-gateway.service" "$unit" 644 || true
    put "$payload/village-gateway.sysusers" "$sysusers" 644 || true
    put "$payload/village-gateway-reboot.rules" "$polkit_rule" 644 || true
    # The unit runs as $user: create it (and its membership of dialout) in this root, the way
    # systemd-sysusers does at boot, so the first start already finds it.
    if ! grep -q "^$user:" "$root/etc/passwd" 2>/dev/null; then
        command -v systemd-sysusers >/dev/null 2>&1 ||
            fail "systemd-sysusers is not installed here, so user $user cannot be created in ${root:-/}; create it by hand (a system user in group dialout, home /var/lib/village-gateway) and run flash.sh again"
        systemd-sysusers --root="${root:-/}" "$sysusers" || fail "systemd-sysusers could not create user $user in ${root:-/}"
        echo "  created user $user (member of dialout)"
        changed=$((changed + 1))
    fi
    # The shell's `commit` writes gateway.toml and its history beside it, as $user.
    owner=$(awk -F: -v name="$user" '$1 == name { print $3 ":" $4 }' "$root/etc/passwd")
    [ -n "$owner" ] || fail "user $user is not in $root/etc/passwd after systemd-sysusers"
    if [ -n "$(find "$etc" \( ! -user "${owner%:*}" -o ! -group "${owner#*:}" \) -print 2>/dev/null | head -1)" ]; then
        chown -R "$owner" "$etc"
        echo "  gave $etc to $user"
        changed=$((changed + 1))
    fi
    if put "$payload/60-village-gateway.rules" "$rules" 644; then rules_changed=1; fi
    # What `systemctl enable` does, done by hand so it works on a mounted root with no systemd.
    if [ "$(readlink "$wants" 2>/dev/null || true)" != /etc/systemd/system/village-gateway.service ]; then
        mkdir -p "$(dirname "$wants")"
        ln -sfn /etc/systemd/system/village-gateway.service "$wants"
        echo "  enabled village-gateway.service (multi-user.target)"
        changed=$((changed + 1))
    fi
    if [ "$changed" -gt 0 ]; then
        if running_systemd && [ "$rules_changed" = 1 ]; then udevadm control --reload && udevadm trigger; fi
        restart_service
    fi
    echo "flash.sh: $changed changed, $unchanged unchanged in ${root:-/}"
    ;;
rollback)
    [ -f "$previous" ] || fail "no previous binary at $previous: nothing to roll back to (only an install that replaced a binary keeps one)"
    [ -f "$bin" ] || fail "no installed binary at $bin to roll back"
    # Swapped, so a second --rollback returns to the newer binary.
    cp -p "$bin" "$previous.flash-swap"
    cp -p "$previous" "$bin.flash-new"
    mv -f "$bin.flash-new" "$bin"
    mv -f "$previous.flash-swap" "$previous"
    echo "  rolled $bin back to the previous binary (the replaced one is now $previous)"
    restart_service
    ;;
*)
    fail "unknown action '$action' (install or rollback)"
    ;;
esac
