#!/usr/bin/env python3
"""Writes the udev rules tools/flash.sh installs for one board, from its board file: every serial
port and GPIO chip the board uses becomes readable and writable by group dialout (the daemon's
user village-gateway is a member, and a technician in that group can run `village-gateway probe`
and `ports`), and each serial port gets a stable name /dev/village-gateway/<function> (rs485,
voice, modem, console) that says what it is wired to whatever the kernel called it.
Usage: udev-rules.py BOARD_FILE > 60-village-gateway.rules
"""
import re
import sys
import tomllib

# A kernel device name udev can match: ttyS1, ttyAMA3, ttyUSB2, gpiochip0.
KERNEL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: udev-rules.py BOARD_FILE")
    path = sys.argv[1]
    try:
        with open(path, "rb") as f:
            board = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as error:
        sys.exit(f"udev-rules.py: cannot read board file {path}: {error}")
    name = board.get("board", {}).get("name", path)
    lines = [
        f"# VillageGateway udev rules for board {name}, written by tools/flash.sh from its board file.",
        "# Serial ports and GPIO chips the box uses: group dialout may use them (technicians'",
        "# `village-gateway probe`); serial ports also get /dev/village-gateway/<function>.",
    ]
    for function, port in sorted(board.get("serial", {}).items()):
        device = port.get("device", "")
        kernel = device.removeprefix("/dev/")
        if not device.startswith("/dev/tty") or not KERNEL_NAME.match(kernel):
            lines.append(f"# [serial.{function}] {device}: not a tty kernel name (a symlink or simulated), no rule")
            continue
        # Debian's own rules name the tty subsystem's group dialout already; MODE makes sure.
        lines.append(
            f'SUBSYSTEM=="tty", KERNEL=="{kernel}", GROUP="dialout", MODE="0660", SYMLINK+="village-gateway/{function}"'
        )
    chips = set()
    for section in ("inputs", "outputs"):
        for wired in board.get(section, {}).values():
            chip = wired.get("chip")
            if isinstance(chip, str) and KERNEL_NAME.match(chip):
                chips.add(chip)
    for chip in sorted(chips):
        lines.append(f'SUBSYSTEM=="gpio", KERNEL=="{chip}", GROUP="dialout", MODE="0660"')
    print("\n".join(lines))


if __name__ == "__main__":
    main()
