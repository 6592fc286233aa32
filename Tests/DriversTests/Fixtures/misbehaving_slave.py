#!/usr/bin/env python3
"""A Modbus RTU slave that misbehaves on purpose, one way per slave id, for the gateway's error
paths (pymodbus cannot easily be made to send garbage). Standard library only.

  10  answers every request with exception 02 (illegal data address)
  11  answers with 7 bytes of noise
  12  sends the first 4 bytes of a good reply, then nothing (truncated)
  13  answers as slave 99 (wrong slave id), with a valid CRC
  14  never answers (silence)
  15  answers function 03 with function 04 and vice versa, with a valid CRC
  16  answers with a bad CRC
  17  answers correctly: register value = address + index
  18  bad CRC on its 1st, 3rd, 5th... request, correct on the others (a noisy line)
  19  sends 3 bytes of a reply, then exits: the slave dies mid-transaction
Reads and writes (03, 04, 06, 16) are understood. Prints READY once the port is open, and
REQUEST <slave id> as each valid request arrives (before answering).
"""
import argparse
import os
import random
import select
import sys
import termios
import tty

FRAME_BYTES_MAX = 256


def crc16_modbus(data):
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def with_crc(body):
    crc = crc16_modbus(body)
    return bytes(body) + bytes([crc & 0xFF, crc >> 8])


def request_length(buffer):
    """Total length of the request frame that buffer starts, or None while unknown."""
    if len(buffer) < 2:
        return None
    if buffer[1] in (0x03, 0x04, 0x06):
        return 8
    if buffer[1] == 0x10:
        return 9 + buffer[6] if len(buffer) >= 7 else None
    return len(buffer)  # unknown function: take what came


def good_reply(request):
    slave, function = request[0], request[1]
    address = int.from_bytes(request[2:4], "big")
    if function in (0x03, 0x04):
        count = int.from_bytes(request[4:6], "big")
        data = b"".join(((address + i) & 0xFFFF).to_bytes(2, "big") for i in range(count))
        return with_crc(bytes([slave, function, len(data)]) + data)
    return with_crc(request[:6])  # 06 and 16 echo address and value/count


def reply_to(request, requests_seen, noise):
    slave, function = request[0], request[1]
    if slave == 10:
        return with_crc(bytes([slave, function | 0x80, 0x02]))
    if slave == 11:
        return bytes(noise.randrange(256) for _ in range(7))
    if slave == 12:
        return good_reply(request)[:4]
    if slave == 13:
        return with_crc(bytes([99]) + good_reply(request)[1:-2])
    if slave == 14:
        return b""
    if slave == 15:
        swapped = {0x03: 0x04, 0x04: 0x03}.get(function, function ^ 0x01)
        return with_crc(bytes([slave, swapped]) + good_reply(request)[2:-2])
    if slave == 16:
        reply = bytearray(good_reply(request))
        reply[-1] ^= 0xFF
        return bytes(reply)
    if slave == 17:
        return good_reply(request)
    if slave == 18:
        reply = bytearray(good_reply(request))
        if requests_seen[18] % 2 == 1:
            reply[-2] ^= 0x01
        return bytes(reply)
    if slave == 19:
        return good_reply(request)[:3]
    return b""  # not one of ours: stay off the bus


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", required=True)
    arguments = parser.parse_args()
    port = os.open(arguments.port, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(port, termios.TCSANOW)
    noise = random.Random(11)  # fixed seed: the same noise every run
    requests_seen = {slave: 0 for slave in range(256)}
    print("READY", flush=True)
    buffer = b""
    while True:
        # A request ends when its length is known and complete; a 50 ms gap drops a partial one.
        readable, _, _ = select.select([port], [], [], 0.05)
        if not readable:
            buffer = b""
            continue
        chunk = os.read(port, FRAME_BYTES_MAX)
        if not chunk:
            return
        buffer = (buffer + chunk)[-FRAME_BYTES_MAX:]
        length = request_length(buffer)
        if length is None or len(buffer) < length:
            continue
        request, buffer = buffer[:length], buffer[length:]
        if crc16_modbus(request[:-2]) != int.from_bytes(request[-2:], "little"):
            continue  # a real slave ignores a frame with a bad CRC
        requests_seen[request[0]] += 1
        print(f"REQUEST {request[0]}", flush=True)  # lets a test act mid-transaction
        reply = reply_to(request, requests_seen, noise)
        if reply:
            os.write(port, reply)
        if request[0] == 19:
            termios.tcdrain(port)
            os._exit(0)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
