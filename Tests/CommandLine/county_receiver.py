#!/usr/bin/env python3
"""A county receiver for the link-cut test and benchmark (issue 18): the HTTP push endpoint
(docs/county-api.md, "Push") and an SL 651-2014 centre over TCP, written from the documents, not
from the box's code. Every report is logged with the receiver's monotonic time of arrival (one
JSON object a line), so the test measures from the county's side.

The HTTP side stores every report it is sent and answers {"stored": [...]}, its receipt signed
with the station's key (--key-hex; the box marks nothing delivered on an unsigned receipt); it does
not check the request's signature (the HTTP push tests do). The SL 651 side cuts frames by their length field, checks the
CRC (CRC-16/MODBUS, high byte first), answers each report frame with an ACK echoing its serial and
ignores keep-alives (2F), as centres do.

Usage: county_receiver.py --host ADDR --http-port N --sl651-port N --log FILE --key-hex HEX
Prints READY once both listen.
"""
import argparse
import hashlib
import hmac
import http.server
import json
import socket
import socketserver
import sys
import threading
import time

LOCK = threading.Lock()
LOG = None
KEY = b""

# Bounds: a receiver for one box in a test, not a county.
HTTP_BODY_BYTES_MAX = 8 << 20
SL651_BUFFER_BYTES_MAX = 64 << 10


def record(entry):
    entry["t"] = time.monotonic()
    with LOCK:
        LOG.write(json.dumps(entry, ensure_ascii=False) + "\n")
        LOG.flush()


def crc16_modbus(data):
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


class PushHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > HTTP_BODY_BYTES_MAX:
            self.answer(400, {"error": "bad_request", "reason": f"body of {length} bytes"})
            return
        try:
            document = json.loads(self.rfile.read(length))
        except ValueError as error:
            self.answer(400, {"error": "bad_request", "reason": str(error)})
            return
        stored = []
        for report in document.get("reports", []):
            entry = {"transport": "http", "sequence": report["sequence"], "priority": report.get("priority"),
                     "kind": report.get("kind")}
            if report.get("kind") == "linkOutage":
                entry["payload"] = report.get("payload")
            record(entry)
            stored.append(report["sequence"])
        self.answer(200, {"stored": stored})

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        # The receipt's signature (docs/county-api.md, "Push"): RECEIPT, station, the request's
        # nonce, the status and the body's SHA-256, HMAC-SHA256 under the station's key.
        text = "\n".join(["RECEIPT", self.headers.get("X-VG-Station", ""), self.headers.get("X-VG-Nonce", ""),
                          str(status), hashlib.sha256(data).hexdigest()])
        self.send_header("X-VG-Response-Signature", hmac.new(KEY, text.encode(), hashlib.sha256).hexdigest())
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class ThreadingHTTPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def sl651_answer(frame, serial_bytes):
    """The centre's ACK: station before centre, direction 1000, the uplink's serial, a send time."""
    body = serial_bytes + bytes.fromhex("260714031500")
    length = 0x8000 | len(body)
    head = b"\x7e\x7e" + frame[3:8] + frame[2:3] + frame[8:10] + frame[10:11] + bytes([length >> 8, length & 0xFF, 0x02])
    data = head + body + b"\x06"
    crc = crc16_modbus(data)
    return data + bytes([crc >> 8, crc & 0xFF])


class SL651Handler(socketserver.BaseRequestHandler):
    def handle(self):
        buffer = b""
        self.request.settimeout(600)
        while True:
            try:
                chunk = self.request.recv(4096)
            except OSError:
                return
            if not chunk:
                return
            buffer = (buffer + chunk)[-SL651_BUFFER_BYTES_MAX:]
            while len(buffer) >= 13:
                if buffer[0:2] != b"\x7e\x7e":
                    buffer = buffer[1:]
                    continue
                body_length = ((buffer[11] << 8) | buffer[12]) & 0x0FFF
                total = 13 + 1 + body_length + 1 + 2
                if len(buffer) < total:
                    break
                frame, buffer = buffer[:total], buffer[total:]
                if crc16_modbus(frame[:-2]) != (frame[-2] << 8 | frame[-1]):
                    record({"transport": "sl651", "rejected": frame.hex()})
                    continue
                function = frame[10]
                serial = frame[14:16]
                if function == 0x2F:
                    continue
                record({"transport": "sl651", "serial": serial[0] << 8 | serial[1], "function": function})
                self.request.sendall(sl651_answer(frame, serial))


class ThreadingTCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    global LOG, KEY
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--sl651-port", type=int, required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--key-hex", required=True, help="the station's key, as in the box's key_file")
    arguments = parser.parse_args()
    KEY = bytes.fromhex(arguments.key_hex)
    LOG = open(arguments.log, "a", encoding="utf-8")
    http_server = ThreadingHTTPServer((arguments.host, arguments.http_port), PushHandler)
    sl651_server = ThreadingTCPServer((arguments.host, arguments.sl651_port), SL651Handler)
    for server in (http_server, sl651_server):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print("READY", flush=True)
    try:
        sys.stdin.read()  # runs until its parent closes stdin or kills it
    finally:
        http_server.shutdown()
        sl651_server.shutdown()


if __name__ == "__main__":
    main()
