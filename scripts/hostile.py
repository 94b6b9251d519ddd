#!/usr/bin/env python3
"""Hostile WebSocket / JSON-RPC clients, and what they make a server hold, measured from
outside the server's process.

Each flood starts a fresh server process (its command comes after `--`), waits for its
`listening on ws://ADDR` line, plays a client no library would (it never reads, or sends
frames of one byte), and reports the server's memory from /proc/PID/status: VmRSS before
the flood, at its end, and VmHWM (the peak). The server is killed afterwards.

    python3 scripts/hostile.py call-flood -- target/release/examples/rpc_server 127.0.0.1:0
    python3 scripts/hostile.py invalid-batch-flood -- target/release/examples/rpc_server 127.0.0.1:0
    python3 scripts/hostile.py huge-batch -- target/release/examples/rpc_server 127.0.0.1:0
    TETHER_DEFLATE=1 python3 scripts/hostile.py deflate-tiny-frames -- target/release/examples/echo_server 127.0.0.1:0

`scripts/hostile.sh` builds the examples and runs every flood (SECURITY.md has its figures).
Only the standard library: the clients speak RFC 6455 over raw sockets, because the point is
behaviour a WebSocket library would not produce.
"""

import argparse
import base64
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib

MIB = 1 << 20


# --- the server process ------------------------------------------------------------------


class Server:
    """A server started from `argv`, its address from its `listening on ws://ADDR` line."""

    def __init__(self, argv, env=None):
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True
        )
        line = self.proc.stdout.readline()
        if not line.startswith("listening on ws://"):
            self.proc.kill()
            raise SystemExit(f"server did not start: {line!r}")
        hostport = line.strip()[len("listening on ws://"):]
        host, port = hostport.rsplit(":", 1)
        self.addr = (host, int(port))
        self.pid = self.proc.pid

    def status(self, field):
        """A field of /proc/PID/status in KiB (VmRSS, VmHWM)."""
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return 0

    def cpu_seconds(self):
        """User plus system CPU time the server used so far."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        self.proc.kill()
        self.proc.wait()


# --- a raw client ------------------------------------------------------------------------


def frame(opcode, payload, fin=True, rsv1=False):
    """One masked client frame."""
    head = bytearray()
    head.append((0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode)
    n = len(payload)
    if n < 126:
        head.append(0x80 | n)
    elif n < 1 << 16:
        head.append(0x80 | 126)
        head += struct.pack(">H", n)
    else:
        head.append(0x80 | 127)
        head += struct.pack(">Q", n)
    mask = os.urandom(4)
    head += mask
    if n == 0:
        return bytes(head)
    # XOR with the mask, a word at a time through int arithmetic.
    reps = (n + 3) // 4
    key = int.from_bytes((mask * reps)[:n], "big")
    masked = (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")
    return bytes(head) + masked


def text(payload):
    return frame(0x1, payload if isinstance(payload, bytes) else payload.encode())


def connect(addr, rcvbuf=None, deflate=False, path="/"):
    """A socket past the opening handshake. `rcvbuf` shrinks our receive buffer so a client
    that never reads stops taking the server's bytes early."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.connect(addr)
    key = base64.b64encode(os.urandom(16)).decode()
    head = (
        f"GET {path} HTTP/1.1\r\nHost: {addr[0]}:{addr[1]}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
    )
    if deflate:
        head += "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n"
    sock.sendall((head + "\r\n").encode())
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = sock.recv(1)
        if not chunk:
            raise SystemExit("server closed during the handshake")
        response += chunk
    status = response.split(b"\r\n", 1)[0]
    if b" 101 " not in status:
        raise SystemExit(f"upgrade refused: {status!r}")
    if deflate and b"permessage-deflate" not in response.lower():
        raise SystemExit("the server did not agree to permessage-deflate")
    return sock


def send_for(sock, messages, limit_s, max_bytes):
    """Sends frames from the iterator `messages` until `limit_s` seconds or `max_bytes`
    passed, or a send blocks for a whole second (the server stopped reading). Returns
    (bytes sent, whether the server stopped reading)."""
    sock.settimeout(1.0)
    sent = 0
    start = time.monotonic()
    for data in messages:
        if time.monotonic() - start > limit_s or sent >= max_bytes:
            return sent, False
        view = memoryview(data)
        while view:
            try:
                n = sock.send(view)
            except socket.timeout:
                return sent, True
            except OSError:
                return sent, True
            view = view[n:]
            sent += n
    return sent, False


class Probe:
    """Another client that keeps calling `echo` and reads its answers while a flood runs:
    whether the server keeps serving others, and its slowest answer."""

    def __init__(self, addr):
        self.addr = addr
        self.answers = 0
        self.worst = 0.0
        self.error = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        try:
            sock = connect(self.addr)
            sock.settimeout(30)
            n = 0
            buf = b""
            while not self.stop.is_set():
                n += 1
                begin = time.monotonic()
                sock.sendall(text(json.dumps({"jsonrpc": "2.0", "method": "echo", "params": [n], "id": n})))
                while True:
                    message, buf = read_message(sock, buf)
                    if message is not None and f'"id":{n}' in message:
                        break
                self.worst = max(self.worst, time.monotonic() - begin)
                self.answers += 1
                time.sleep(0.05)
        except Exception as e:  # noqa: BLE001 - reported, not raised, from the thread
            self.error = repr(e)

    def finish(self):
        self.stop.set()
        self.thread.join(35)


def read_message(sock, buf):
    """One unfragmented text message from a server (unmasked frames), or (None, buf) for a
    control frame."""
    while True:
        if len(buf) >= 2:
            b1 = buf[1] & 0x7F
            off = 2
            if b1 == 126:
                off = 4
                if len(buf) < 4:
                    b1 = None
                else:
                    b1 = struct.unpack(">H", buf[2:4])[0]
            elif b1 == 127:
                off = 10
                if len(buf) < 10:
                    b1 = None
                else:
                    b1 = struct.unpack(">Q", buf[2:10])[0]
            if b1 is not None and len(buf) >= off + b1:
                opcode = buf[0] & 0x0F
                payload = buf[off:off + b1]
                rest = buf[off + b1:]
                if opcode == 0x1:
                    return payload.decode(errors="replace"), rest
                if opcode == 0x8:
                    raise ConnectionError("closed by the server")
                return None, rest
        chunk = sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("EOF")
        buf += chunk


# --- the floods --------------------------------------------------------------------------


def report(name, server, before, extra):
    end = server.status("VmRSS")
    peak = server.status("VmHWM")
    line = {
        "flood": name,
        "rss_before_mib": round(before / 1024, 1),
        "rss_end_mib": round(end / 1024, 1),
        "peak_growth_mib": round((peak - before) / 1024, 1),
        "server_alive": server.alive(),
    }
    line.update(extra)
    print(json.dumps(line), flush=True)


def settle(server, seconds=1.0):
    time.sleep(seconds)
    return server.status("VmRSS")


def call_flood(server, args):
    """Calls `echo` with 1 KiB of params as fast as the socket takes them, never reading
    an answer."""
    before = settle(server)
    probe = Probe(server.addr)
    sock = connect(server.addr, rcvbuf=4096)
    params = json.dumps(["x" * 1024])

    def calls():
        n = 0
        while True:
            n += 1
            yield text(f'{{"jsonrpc":"2.0","method":"echo","params":{params},"id":{n}}}')

    sent, stopped = send_for(sock, calls(), args.seconds, args.max_mib * MIB)
    time.sleep(1)
    probe.finish()
    report("call-flood", server, before, {
        "sent_mib": round(sent / MIB, 1),
        "server_stopped_reading": stopped,
        "probe_answers": probe.answers,
        "probe_worst_s": round(probe.worst, 3),
        "probe_error": probe.error,
    })
    sock.close()


def invalid_batch_flood(server, args):
    """Batches of 1024 invalid entries (`[0,0,…]`, 2 KiB each), each answered with 1024
    error objects, never reading them."""
    before = settle(server)
    probe = Probe(server.addr)
    sock = connect(server.addr, rcvbuf=4096)
    batch = text("[" + ",".join(["0"] * 1024) + "]")

    def batches():
        while True:
            yield batch

    sent, stopped = send_for(sock, batches(), args.seconds, args.max_mib * MIB)
    time.sleep(1)
    probe.finish()
    report("invalid-batch-flood", server, before, {
        "sent_mib": round(sent / MIB, 1),
        "server_stopped_reading": stopped,
        "probe_answers": probe.answers,
        "probe_worst_s": round(probe.worst, 3),
        "probe_error": probe.error,
    })
    sock.close()


def huge_batch(server, args):
    """One message `[0,0,…]` of 15 MiB (--batch-mib): a batch far past the limit. Reads
    the answer."""
    before = settle(server)
    sock = connect(server.addr)
    entries = int(args.batch_mib * MIB) // 2
    payload = b"[" + b"0," * (entries - 1) + b"0]"
    sock.sendall(text(payload))
    sock.settimeout(60)
    answer, _ = read_message(sock, b"")
    report("huge-batch", server, before, {
        "message_mib": round(len(payload) / MIB, 1),
        "answer": answer[:120] if answer else None,
    })
    sock.close()


def deflate_tiny_frames(server, args):
    """One compressed message: a first frame that inflates to 30 MiB (--first-mib), then one-byte
    continuation frames, each its own inflate call. Reports the server's CPU time for the
    tiny frames."""
    before = settle(server)
    sock = connect(server.addr, deflate=True)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    big = comp.compress(b"a" * int(args.first_mib * MIB)) + comp.flush(zlib.Z_SYNC_FLUSH)
    sock.sendall(frame(0x2, big, fin=False, rsv1=True))
    time.sleep(1.0)  # let it inflate before the clock starts
    # Incompressible bytes, so each one-byte frame carries about one byte of output.
    tail = comp.compress(os.urandom(args.frames)) + comp.flush(zlib.Z_SYNC_FLUSH)
    tiny = tail[: args.frames]
    cpu_before = server.cpu_seconds()
    begin = time.monotonic()
    frames = b"".join(frame(0x0, tiny[i:i + 1], fin=False) for i in range(len(tiny)))
    sock.sendall(frames)
    # A ping after them: its pong says every frame before it was taken.
    sock.sendall(frame(0x9, b"done"))
    sock.settimeout(120)
    buf = b""
    while True:
        chunk = sock.recv(1 << 16)
        if not chunk:
            raise SystemExit("server closed the connection")
        buf += chunk
        if b"done" in buf:
            break
    elapsed = time.monotonic() - begin
    cpu = server.cpu_seconds() - cpu_before
    report("deflate-tiny-frames", server, before, {
        "first_frame_inflates_mib": args.first_mib,
        "tiny_frames": len(tiny),
        "server_cpu_s": round(cpu, 3),
        "wall_s": round(elapsed, 3),
        "cpu_us_per_frame": round(cpu / max(len(tiny), 1) * 1e6, 2),
    })
    sock.close()


FLOODS = {
    "call-flood": call_flood,
    "invalid-batch-flood": invalid_batch_flood,
    "huge-batch": huge_batch,
    "deflate-tiny-frames": deflate_tiny_frames,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("flood", choices=sorted(FLOODS))
    parser.add_argument("--seconds", type=float, default=20, help="how long a flood sends (default 20)")
    parser.add_argument("--max-mib", type=float, default=400, help="stop a flood after sending this much (default 400)")
    parser.add_argument("--batch-mib", type=float, default=15, help="the size of huge-batch's message (default 15)")
    parser.add_argument("--first-mib", type=float, default=30, help="what the first frame of deflate-tiny-frames inflates to (default 30)")
    parser.add_argument("--frames", type=int, default=20000, help="tiny frames for deflate-tiny-frames (default 20000)")
    if "--" not in sys.argv:
        parser.error("the server command goes after --")
    at = sys.argv.index("--")
    args = parser.parse_args(sys.argv[1:at])
    argv = sys.argv[at + 1:]
    if not argv:
        parser.error("the server command goes after --")
    server = Server(argv)
    try:
        FLOODS[args.flood](server, args)
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
