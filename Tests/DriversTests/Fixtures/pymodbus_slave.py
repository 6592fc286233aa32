#!/usr/bin/env python3
"""A well-behaved Modbus RTU slave served by pymodbus (a stack this project did not write),
on a serial port or pty, so the gateway's master is tested against someone else's reading of
the specification.

Register map of every slave id given with --slave (holding registers; input registers are the
same except address 0, which is 2000 + id instead of 1000 + id):
  0      1000 + slave id
  1      0xFFFE            (int16 -2)
  2..3   0x0001 0x0002     (uint32 65538, big word order)
  4..5   0x41AC 0x0000     (float32 21.5, big word order)
  6..7   0x0000 0x41AC     (float32 21.5, little word order)
  8..99  8..99             (address as value)
Slave ids not given are absent: pymodbus stays silent for them, as a dead sensor would.
Prints READY on stdout once the port is open.
"""
import argparse
import asyncio
import sys

from pymodbus.datastore import ModbusDeviceContext, ModbusSequentialDataBlock, ModbusServerContext
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer

REGISTER_COUNT = 100


def register_map(slave_id, first):
    values = [first, 0xFFFE, 0x0001, 0x0002, 0x41AC, 0x0000, 0x0000, 0x41AC]
    values += list(range(len(values), REGISTER_COUNT))
    # pymodbus addresses its blocks from 1: protocol address 0 is block address 1.
    return ModbusSequentialDataBlock(1, values)


async def serve(arguments):
    devices = {
        slave_id: ModbusDeviceContext(hr=register_map(slave_id, 1000 + slave_id), ir=register_map(slave_id, 2000 + slave_id))
        for slave_id in arguments.slave
    }
    server = ModbusSerialServer(
        ModbusServerContext(devices=devices, single=False),
        framer=FramerType.RTU,
        port=arguments.port,
        baudrate=arguments.baud,
        parity=arguments.parity,
        stopbits=arguments.stop_bits,
        bytesize=8,
        ignore_missing_devices=True,
    )
    await server.serve_forever(background=True)
    print("READY", flush=True)
    await server.serving


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", required=True)
    parser.add_argument("--baud", type=int, default=9600)
    parser.add_argument("--parity", default="N", choices=["N", "E", "O"])
    parser.add_argument("--stop-bits", type=int, default=1, choices=[1, 2])
    parser.add_argument("--slave", type=int, action="append", required=True)
    try:
        asyncio.run(serve(parser.parse_args()))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
