#!/usr/bin/env python3
"""Floods a tether server's edge from another process and prints what it held.

    python3 scripts/edge-flood.py [--idle N] [--flood N] -- SERVER_COMMAND...

Starts SERVER_COMMAND (an example server: it takes its address as the first argument
after the command and prints `listening on ws://ADDR`; this script passes 127.0.0.1:0),
then, from this process:

1. reads the server's resident memory (VmRSS, /proc) at rest;
2. opens --idle upgraded WebSocket connections (default 1000) from 4 loopback source
   addresses and keeps them open, idle: the memory per open connection;
3. opens --flood more connections at once (default 4000) from 16 other loopback
   addresses, each sending an upgrade request, and sorts their answers: 101 (room was
   left under the limit), 503, or closed without an answer; with the server's memory
   and its peak (VmHWM) after the flood;
4. closes everything, waits for the count to fall, and checks that a new client is
   upgraded.

Prints one line per step and exits 0, or 1 if the server died or a new client was not
served at the end. Needs Linux (/proc, the 127.0.0.0/8 loopback range) and about
idle + flood + 100 file descriptors in this process.
"""

import argparse
import asyncio
import re
import subprocess
import sys
import time

UPGRADE = (
    "GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
TIMEOUT = 30


def memory(pid):
    """VmRSS and VmHWM of `pid`, in KiB."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0])
    return fields["VmRSS"], fields["VmHWM"]


async def upgrade(host, port, source):
    """One connection: its answer's status (0: closed unanswered) and the streams."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, local_addr=(source, 0)), TIMEOUT
        )
    except OSError:
        return 0, None
    try:
        writer.write(UPGRADE.format(host=f"{host}:{port}").encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        writer.close()
        return 0, None
    status = int(head.split(b" ", 2)[1])
    if status != 101:
        # As a client does once refused: it hangs up.
        writer.close()
        return status, None
    return status, writer


async def run(args, host, port, pid):
    rest, _ = memory(pid)
    print(f"at rest: {rest / 1024:.1f} MiB resident")

    sources = [f"127.0.0.{i}" for i in range(1, 5)]
    start = time.monotonic()
    idle = await asyncio.gather(
        *(upgrade(host, port, sources[i % len(sources)]) for i in range(args.idle))
    )
    opened = [w for status, w in idle if status == 101]
    held, _ = memory(pid)
    per = (held - rest) / max(len(opened), 1)
    print(
        f"{len(opened)} idle connections open ({time.monotonic() - start:.2f} s): "
        f"{held / 1024:.1f} MiB resident, {per:.1f} KiB per connection"
    )

    flood_sources = [f"127.0.1.{i}" for i in range(1, 17)]
    start = time.monotonic()
    flood = await asyncio.gather(
        *(upgrade(host, port, flood_sources[i % len(flood_sources)]) for i in range(args.flood))
    )
    took = time.monotonic() - start
    counts = {}
    for status, _ in flood:
        counts[status] = counts.get(status, 0) + 1
    after, peak = memory(pid)
    print(
        f"flood of {args.flood} more in {took:.2f} s: "
        f"{counts.get(101, 0)} upgraded, {counts.get(503, 0)} answered 503, "
        f"{counts.get(0, 0)} closed unanswered, others {dict((k, v) for k, v in counts.items() if k not in (0, 101, 503))}; "
        f"{after / 1024:.1f} MiB resident, peak {peak / 1024:.1f} MiB"
    )

    for writer in opened + [w for _, w in flood if w is not None]:
        writer.close()
    await asyncio.sleep(1)
    status, writer = await upgrade(host, port, "127.0.0.1")
    if writer is not None:
        writer.close()
    end, _ = memory(pid)
    print(f"after closing them all: a new client gets {status}; {end / 1024:.1f} MiB resident")
    return status == 101


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--flood", type=int, default=4000)
    parser.add_argument("command", nargs="+")
    args = parser.parse_args()
    server = subprocess.Popen(
        args.command + ["127.0.0.1:0"], stdout=subprocess.PIPE, text=True
    )
    try:
        line = server.stdout.readline()
        match = re.search(r"ws://([\d.]+):(\d+)", line)
        if not match:
            print(f"the server said {line!r}", file=sys.stderr)
            return 1
        host, port = match.group(1), int(match.group(2))
        ok = asyncio.run(run(args, host, port, server.pid))
        if server.poll() is not None:
            print("the server died", file=sys.stderr)
            return 1
        return 0 if ok else 1
    finally:
        server.kill()
        server.wait()


sys.exit(main())
