#!/usr/bin/env python3
"""`make hil`: the box against real kernel drivers. Boots a small Linux (tools/hil/build-kernel.sh)
under qemu-system-x86_64 (TCG, no KVM) with an initramfs holding busybox, the release
village-gateway (installed by tools/flash.sh --root, as onto an SD card) and the shared libraries
it needs. In the guest it creates a gpio-sim chip through configfs and starts the daemon on
tools/hil/board.toml; the guest's ttyS1 is a 16550 whose host end is a pty served by the pymodbus
slave of Tests/DriversTests/Fixtures. Over the console (ttyS0) it then pulses the rain-gauge line
through gpio-sim's sysfs `pull`, and checks that the level rises to red, that the siren line's
`value` goes high (libgpiod on the GPIO character device), that the slave's displacement arrives
through libserialport on the 8250 UART, and that SIGTERM leaves the siren off.

Every step has a bounded timeout; a failure names its step and exits 1. Prints figures at the end.
Usage: run.py --python PYTHON_WITH_PYMODBUS [--binary FILE] [--work DIR] [--keep]
"""
import argparse
import json
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPOSITORY = os.path.dirname(os.path.dirname(HERE))

# Named limits (seconds). Generous: TCG on a shared 2-core machine is slow, and a limit here is a
# hang guard, never a measurement.
KERNEL_BUILD_TIMEOUT = 4 * 3600          # cold, niced, behind other builds
BINARY_BUILD_TIMEOUT = 2 * 3600          # a cold release build of the package
QEMU_START_TIMEOUT = 30
SLAVE_START_TIMEOUT = 60
GUEST_BOOT_TIMEOUT = 300
COMMAND_TIMEOUT = 60                     # one shell command in the guest
DAEMON_READY_TIMEOUT = 180               # first status answer (a TCG guest starts Swift slowly)
LEVEL_TIMEOUT = 120
MODBUS_TIMEOUT = 120
SHUTDOWN_TIMEOUT = 60
POLL_INTERVAL = 0.5                      # between polls of a condition that has a timeout
CONSOLE_BUFFER_MAX = 4 * 1024 * 1024     # console text kept for the failure report
GUEST_MEMORY_MB = 768

GPIO = "/sys/bus/gpio/devices/gpiochip0"
CONFIGFS = "/sys/kernel/config/gpio-sim/hil"
STATE_DIR = "/var/lib/village-gateway"
DAEMON_LOG = "/var/log/village-gateway.log"
EXPECTED_DISPLACEMENT_MM = 21.5          # pymodbus_slave.py: float32 0x41AC 0x0000 in registers 4-5


class StepFailed(Exception):
    pass


class Harness:
    def __init__(self, arguments):
        self.arguments = arguments
        self.children = []
        self.console = None
        self.current_step = None
        self.figures = {}

    # --- steps --------------------------------------------------------------------------------
    def step(self, name):
        self.current_step = name
        print(f"hil: {name}", flush=True)

    def fail(self, detail):
        raise StepFailed(detail)

    def run_host(self, command, timeout, **keywords):
        try:
            return subprocess.run(command, timeout=timeout, **keywords)
        except subprocess.TimeoutExpired:
            self.fail(f"{' '.join(command)} did not finish within {timeout} s")

    def build_kernel(self):
        if self.arguments.kernel:
            self.kernel = self.arguments.kernel
            return
        self.step("build the kernel (cached by linux-source version and tools/hil/kernel.config)")
        started = time.monotonic()
        # Niced: the kernel build takes only the CPU nobody else wants.
        result = self.run_host(["nice", "-n", "19", os.path.join(HERE, "build-kernel.sh")], KERNEL_BUILD_TIMEOUT,
                               stdout=subprocess.PIPE, text=True)
        if result.returncode != 0:
            self.fail("tools/hil/build-kernel.sh failed (its message is above)")
        self.kernel = result.stdout.strip().splitlines()[-1]
        self.figures["kernel (build or cache lookup)"] = f"{time.monotonic() - started:.1f} s"

    def build_root(self):
        self.step("install the box into the initramfs root with tools/flash.sh --root")
        self.root = os.path.join(self.work, "root")
        os.makedirs(self.root)
        command = [os.path.join(REPOSITORY, "tools", "flash.sh"), "--board", os.path.join(HERE, "board.toml"),
                   "--root", self.root, "--config", os.path.join(HERE, "gateway.toml")]
        if self.arguments.binary:
            command += ["--binary", self.arguments.binary]
        started = time.monotonic()
        if self.run_host(command, BINARY_BUILD_TIMEOUT).returncode != 0:
            self.fail("tools/flash.sh could not install the box (its message is above)")
        self.figures["flash.sh --root (build + install)"] = f"{time.monotonic() - started:.1f} s"
        binary = os.path.join(self.root, "usr/local/bin/village-gateway")

        self.step("add busybox, /init and the shared libraries ldd names")
        busybox = shutil.which("busybox") or "/bin/busybox"
        if "statically linked" not in subprocess.run(["file", "-L", busybox], capture_output=True, text=True).stdout:
            self.fail(f"{busybox} is not the static busybox: apt-get install busybox-static (make hil-deps does)")
        os.makedirs(os.path.join(self.root, "bin"), exist_ok=True)
        shutil.copy(busybox, os.path.join(self.root, "bin/busybox"))
        applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
        for applet in applets:
            link = os.path.join(self.root, "bin", applet)
            if not os.path.lexists(link):
                os.symlink("busybox", link)
        shutil.copy(os.path.join(HERE, "init"), os.path.join(self.root, "init"))
        os.chmod(os.path.join(self.root, "init"), 0o755)

        ldd = subprocess.run(["ldd", binary], capture_output=True, text=True)
        if ldd.returncode != 0:
            self.fail(f"ldd {binary} failed: {ldd.stderr.strip()}")
        libraries = re.findall(r"(/\S+) \(0x", ldd.stdout)
        if not self.arguments.allow_dynamic_swift and any("libswift" in library or "libFoundation" in library for library in libraries):
            self.fail(f"{binary} links the Swift runtime dynamically; flash.sh must build with --static-swift-stdlib:\n{ldd.stdout}")
        for library in libraries:
            target = os.path.join(self.root, library.lstrip("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy(os.path.realpath(library), target)
        # The guest's dynamic loader finds the libraries through its own cache, made here.
        with open(os.path.join(self.root, "etc/ld.so.conf"), "w") as handle:
            handle.write("/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu\n")
        if subprocess.run(["ldconfig", "-r", self.root]).returncode != 0:
            self.fail("ldconfig -r could not write the guest's library cache")
        self.figures["shared libraries copied"] = str(len(libraries))

        self.initramfs = os.path.join(self.work, "initramfs.cpio")
        with open(self.initramfs, "wb") as output:
            found = subprocess.run(["find", "."], cwd=self.root, capture_output=True, check=True).stdout
            cpio = subprocess.run(["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0"], cwd=self.root,
                                  input=found, stdout=output, stderr=subprocess.PIPE)
        if cpio.returncode != 0:
            self.fail(f"cpio failed: {cpio.stderr.decode(errors='replace')}")
        self.figures["initramfs"] = f"{os.path.getsize(self.initramfs) / 1e6:.1f} MB"

    def start_qemu(self):
        self.step("start qemu-system-x86_64 (TCG): ttyS0 console, ttyS1 on a host pty, ttyS2 technician")
        qemu = shutil.which("qemu-system-x86_64")
        if not qemu:
            self.fail("qemu-system-x86_64 not found: apt-get install qemu-system-x86 (make hil-deps does)")
        console_path = os.path.join(self.work, "console.sock")
        self.qemu_log_path = os.path.join(self.work, "qemu.log")
        command = [
            qemu, "-machine", "pc", "-accel", "tcg", "-m", str(GUEST_MEMORY_MB), "-smp", "1",
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-kernel", self.kernel, "-initrd", self.initramfs,
            "-append", "console=ttyS0 panic=-1 quiet rdinit=/init",
            # The pty first, so its path is printed before qemu waits for the console.
            "-chardev", "pty,id=rs485",
            "-chardev", f"socket,id=console,path={console_path},server=on,wait=on",
            "-chardev", "null,id=technician",
            "-serial", "chardev:console", "-serial", "chardev:rs485", "-serial", "chardev:technician",
        ]
        log = open(self.qemu_log_path, "w")
        self.qemu = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.children.append(self.qemu)
        deadline = time.monotonic() + QEMU_START_TIMEOUT
        pty = None
        while time.monotonic() < deadline:
            text = open(self.qemu_log_path).read()
            match = re.search(r"char device redirected to (/dev/pts/\d+) \(label rs485\)", text)
            if match and os.path.exists(console_path):
                pty = match.group(1)
                break
            if self.qemu.poll() is not None:
                self.fail(f"qemu exited with {self.qemu.returncode}: {text.strip()}")
            time.sleep(POLL_INTERVAL)
        if pty is None:
            self.fail(f"qemu did not open its pty and console socket within {QEMU_START_TIMEOUT} s: {open(self.qemu_log_path).read().strip()}")
        self.rs485_pty = pty

        self.step(f"start the pymodbus slave (id 1) on the guest's ttyS1 host end {pty}")
        slave_log = os.path.join(self.work, "slave.log")
        self.slave_log_path = slave_log
        slave = subprocess.Popen(
            [self.arguments.python, "-u", os.path.join(REPOSITORY, "Tests/DriversTests/Fixtures/pymodbus_slave.py"),
             "--port", pty, "--baud", "9600", "--slave", "1"],
            stdout=open(slave_log, "w"), stderr=subprocess.STDOUT)
        self.children.append(slave)
        deadline = time.monotonic() + SLAVE_START_TIMEOUT
        while "READY" not in open(slave_log).read():
            if slave.poll() is not None or time.monotonic() > deadline:
                self.fail(f"the pymodbus slave did not start: {open(slave_log).read().strip()}")
            time.sleep(POLL_INTERVAL)

        self.step("boot the guest")
        self.console = Console(console_path, self)
        started = time.monotonic()
        text = self.console.read_until(re.compile(r"HIL-GUEST-UP ([0-9.]+)\n"), GUEST_BOOT_TIMEOUT)
        self.figures["guest boot (qemu start to /init, wall)"] = f"{time.monotonic() - started:.1f} s"
        self.figures["guest boot (guest uptime at /init)"] = f"{float(text.group(1)):.1f} s"
        # Kernel messages would interleave with command output; the log stays in dmesg.
        self.guest("dmesg -n 1; export PS1=''")
        # A restarted shell (see tools/hil/init) has lost the harness's state: say so, not time out.
        self.console.fatal = re.compile(r"HIL-SHELL-EXITED \d+")

    def guest(self, command, timeout=COMMAND_TIMEOUT, check=True):
        status, output = self.console.run(command, timeout)
        if check and status != 0:
            self.fail(f"`{command}` exited {status} in the guest: {output.strip()}")
        return status, output.strip()

    def wait_in_guest(self, what, timeout, probe):
        """Polls probe() (a guest command's result check) until true or timeout; a hang guard."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            ok, last = probe()
            if ok:
                return last
            time.sleep(POLL_INTERVAL)
        self.fail(f"{what}: not within {timeout} s; last seen: {last}")

    def status(self):
        status, output = self.guest(f"village-gateway status --json --state-dir {STATE_DIR}", check=False)
        if status != 0:
            return None, output
        try:
            return json.loads(output[output.index("{"):]), output
        except ValueError:
            return None, output

    def sim_value(self, line):
        return self.guest(f"cat {GPIO}/sim_gpio{line}/value")[1]

    def exercise(self):
        self.step("create the gpio-sim chip through configfs (bank0: line 0 rain_gauge, line 1 siren)")
        self.guest(f"mkdir {CONFIGFS} {CONFIGFS}/bank0 {CONFIGFS}/bank0/line0 {CONFIGFS}/bank0/line1"
                   f" && echo 8 > {CONFIGFS}/bank0/num_lines && echo hil-gpio > {CONFIGFS}/bank0/label"
                   f" && echo rain_gauge > {CONFIGFS}/bank0/line0/name && echo siren > {CONFIGFS}/bank0/line1/name"
                   f" && echo 1 > {CONFIGFS}/live")
        chip = self.guest(f"cat {CONFIGFS}/bank0/chip_name")[1]
        if chip != "gpiochip0":
            self.fail(f"the gpio-sim bank is {chip!r}, but tools/hil/board.toml wires gpiochip0")
        self.guest("test -c /dev/gpiochip0 && test -c /dev/ttyS1")

        self.step("start the daemon on the board file and wait for its status")
        self.guest(f"village-gateway run --config /etc/village-gateway/gateway.toml --board /etc/village-gateway/board.toml"
                   f" --state-dir {STATE_DIR} < /dev/null > {DAEMON_LOG} 2>&1 & daemon=$!")

        def answered():
            if self.guest("kill -0 $daemon", check=False)[0] != 0:
                self.fail(f"the daemon exited; its log:\n{self.guest(f'cat {DAEMON_LOG}', check=False)[1]}")
            document, output = self.status()
            return document is not None, output
        started = time.monotonic()
        self.wait_in_guest("the daemon's status answer", DAEMON_READY_TIMEOUT, answered)
        self.figures["daemon start to first status (guest, TCG)"] = f"{time.monotonic() - started:.1f} s"

        self.step("before rain: rain-gauge line idles high (pull-up the daemon asked for), siren line low")
        if self.sim_value(0) != "1":
            self.fail(f"rain-gauge line value is {self.sim_value(0)!r}, expected 1: the daemon's pull-up bias did not reach gpio-sim")
        if self.sim_value(1) != "0":
            self.fail(f"siren line value is {self.sim_value(1)!r} before any rain, expected 0 (safe off)")

        self.step("pulse the rain-gauge line twice through gpio-sim's sysfs pull (two tips of 10 mm)")
        for _ in range(2):
            # The switch stays closed 200 ms, far above the board's 20 ms debounce.
            self.guest(f"echo pull-down > {GPIO}/sim_gpio0/pull && sleep 0.2 && echo pull-up > {GPIO}/sim_gpio0/pull && sleep 0.2")

        self.step("the level rises to red with both tips counted")

        def red():
            document, output = self.status()
            if document is None:
                return False, output
            rain = next((sensor for sensor in document.get("sensors", []) if sensor["id"] == "rain1"), {})
            return document["level"] == "red" and rain.get("tips") == 2, f"level {document['level']}, rain1 {rain}"
        self.wait_in_guest("level red after two tips", LEVEL_TIMEOUT, red)

        self.step("the siren line goes high (read through gpio-sim's sysfs value)")
        self.wait_in_guest("siren line value 1", LEVEL_TIMEOUT, lambda: (self.sim_value(1) == "1", self.sim_value(1)))

        self.step(f"the displacement {EXPECTED_DISPLACEMENT_MM} mm served by the Modbus slave arrives over ttyS1")

        def displacement():
            document, output = self.status()
            if document is None:
                return False, output
            slope = next((sensor for sensor in document.get("sensors", []) if sensor["id"] == "slope1"), {})
            return slope.get("value") == EXPECTED_DISPLACEMENT_MM, f"slope1 {slope}"
        self.wait_in_guest("slope1 reading", MODBUS_TIMEOUT, displacement)
        log = self.guest(f"cat {DAEMON_LOG}")[1]
        opened = [line for line in log.splitlines() if "opened serial port" in line and "/dev/ttyS1" in line]
        if not opened or "libserialport" not in opened[0]:
            self.fail(f"the daemon did not open /dev/ttyS1 with libserialport; its log:\n{log}")

        self.step("SIGTERM: the daemon stops and leaves the siren line low")
        # `wait` for the shell's own child: its exit status is the daemon's.
        status, output = self.guest("kill -TERM $daemon && wait $daemon", timeout=SHUTDOWN_TIMEOUT, check=False)
        if status != 0:
            self.fail(f"the daemon exited {status} after SIGTERM (expected 0): {output}\n{self.guest(f'tail -20 {DAEMON_LOG}', check=False)[1]}")
        if self.sim_value(1) != "0":
            self.fail(f"siren line value is {self.sim_value(1)!r} after SIGTERM, expected 0 (safe off)")

        self.step("stop the guest")
        # The kernel has no ACPI to power off with; qemu -no-reboot exits on the guest's reboot.
        self.console.send("reboot -f\n")
        try:
            self.qemu.wait(SHUTDOWN_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.fail(f"qemu did not exit within {SHUTDOWN_TIMEOUT} s of the guest's reboot -f")

    def run(self):
        started = time.monotonic()
        self.work = self.arguments.work or tempfile.mkdtemp(prefix="village-gateway-hil-")
        os.makedirs(self.work, exist_ok=True)
        try:
            self.build_kernel()
            self.build_root()
            self.start_qemu()
            self.exercise()
        except StepFailed as failure:
            print(f"hil: FAILED at step '{self.current_step}': {failure}", file=sys.stderr)
            if self.console is not None:
                print(f"hil: last console output:\n{self.console.text[-3000:]}", file=sys.stderr)
            print(f"hil: work directory kept: {self.work}", file=sys.stderr)
            return 1
        finally:
            for child in self.children:
                if child.poll() is None:
                    child.kill()
                    child.wait()
        self.figures["make hil total"] = f"{time.monotonic() - started:.1f} s"
        print("hil: passed")
        for name, value in self.figures.items():
            print(f"hil: figure: {name}: {value}")
        if not self.arguments.keep:
            shutil.rmtree(self.work, ignore_errors=True)
        return 0


class Console:
    """The guest's ttyS0 over qemu's Unix socket: commands in, output up to a numbered marker."""

    def __init__(self, path, harness):
        self.harness = harness
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.socket.connect(path)
        self.text = ""
        self.position = 0
        self.count = 0
        self.fatal = None

    def send(self, text):
        self.socket.sendall(text.encode())

    def read_until(self, pattern, timeout):
        deadline = time.monotonic() + timeout
        while True:
            match = pattern.search(self.text, self.position)
            if match:
                self.position = match.end()
                return match
            if self.fatal and (fatal := self.fatal.search(self.text, self.position)):
                self.harness.fail(f"the guest's shell exited ({fatal.group(0)}) while waiting for {pattern.pattern!r}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.harness.fail(f"no {pattern.pattern!r} on the console within {timeout} s")
            readable, _, _ = select.select([self.socket], [], [], remaining)
            if readable:
                try:
                    data = self.socket.recv(65536)
                except OSError as error:
                    self.harness.fail(f"the console connection failed ({error}): qemu exited (see qemu.log in the work directory)")
                if not data:
                    self.harness.fail("the console closed: qemu exited (see qemu.log in the work directory)")
                self.text += data.decode(errors="replace").replace("\r", "")
                if len(self.text) > CONSOLE_BUFFER_MAX:
                    cut = len(self.text) - CONSOLE_BUFFER_MAX
                    self.text = self.text[cut:]
                    self.position = max(0, self.position - cut)

    def run(self, command, timeout):
        self.count += 1
        marker = f"HIL-DONE-{self.count}"
        start = self.position
        # The marker's status is expanded by the shell, so the typed text can never match it.
        self.send(f"{command}\necho {marker}-$?-END\n")
        match = self.read_until(re.compile(rf"{marker}-(\d+)-END"), timeout)
        return int(match.group(1)), self.text[start:match.start()]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", required=True, help="a Python with pymodbus (make venv: .venv/bin/python)")
    parser.add_argument("--binary", help="install this village-gateway instead of building one (flash.sh --binary)")
    parser.add_argument("--allow-dynamic-swift", action="store_true",
                        help="with --binary: accept a build that links the Swift runtime dynamically (a debug build, "
                             "to iterate on the harness quickly); its libraries are copied in like the others")
    parser.add_argument("--kernel", help="boot this bzImage instead of building tools/hil/kernel.config's")
    parser.add_argument("--work", help="work directory (default: a new temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory after a pass")
    return Harness(parser.parse_args()).run()


if __name__ == "__main__":
    sys.exit(main())
