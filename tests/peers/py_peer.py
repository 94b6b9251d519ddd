#!/usr/bin/env python3
"""A WebSocket peer written with Python `websockets` (asyncio API), for tether's interop tests.

    py_peer.py server               listen on 127.0.0.1:0; print `listening on ws://ADDR`;
                                    the request path picks the scenario; after each
                                    connection print one JSON report line.
    py_peer.py client URL SCENARIO  connect to a tether server, run SCENARIO with its own
                                    checks, print one JSON result line; exit 0 on success,
                                    1 on failure (the reason on stderr).

Scenarios take query parameters like paths do: `close?code=4001&reason=bye`.

TLS (wss://), from the environment, PEM file paths:
    PEER_TLS_CERT, PEER_TLS_KEY  server: serve wss:// with this chain and key (the report
                                 then names the SNI the client sent); client: present
                                 them as a client certificate
    PEER_TLS_CA                  server: require client certificates from this CA;
                                 client: trust this CA (for wss:// URLs)
The payload generators must match tests/src/payload.rs and node_peer.js byte for byte.

permessage-deflate: the server accepts it with websockets' defaults (server and client
windows of 12 bits), and reports the `Sec-WebSocket-Extensions` it answered with. The client
offers websockets' default unless the scenario names RFC 7692 parameters
(`echo?server_no_context_takeover=1&client_max_window_bits=9`), and reports the answer.

The library is used through its normal API; the one exception is sending invalid UTF-8,
which the API rightly refuses to do, so that scenario writes a text frame through the
connection's protocol object inside `send_context()` (the way `send()` itself does it).
"""

import asyncio
import json
import os
import ssl
import sys
import threading
import traceback
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.protocol import State

# Large enough for the 16 MiB messages (and then some); None would mean "no limit".
MAX_SIZE = 64 * 1024 * 1024
SIZES = [0, 125, 126, 65535, 65536, 16 * 1024 * 1024]
FRAGMENTED_LEN = 10_000
FRAGMENT_PIECE = 1000  # not a multiple of 11, so text pieces split multi-byte characters
TIMEOUT = 60


def payload(kind, n):
    """Deterministic message bytes: text is 'κόσμε ' (11 bytes) repeated, padded with
    'x' to exactly n bytes; binary byte i is (i * 31 + 7) % 251."""
    if kind == "text":
        return ("κόσμε " * (n // 11)).encode() + b"x" * (n % 11)
    period = bytes((i * 31 + 7) % 251 for i in range(251))
    return (period * (n // 251 + 1))[:n]


def pieces(data, size=FRAGMENT_PIECE):
    return [data[i : i + size] for i in range(0, len(data), size)]


def close_seen(ws):
    """What this side saw of the closing handshake: the close frame it received (1006 if
    none, 1005 if it had no code) and, when both were exchanged, which came first."""
    proto = ws.protocol
    rcvd = proto.close_rcvd
    report = {
        "code": 1006 if rcvd is None else int(rcvd.code),
        "reason": "" if rcvd is None else rcvd.reason,
    }
    if proto.close_rcvd_then_sent is not None:
        report["rcvd_then_sent"] = proto.close_rcvd_then_sent
    return report


def extensions_header(ws):
    """The Sec-WebSocket-Extensions of the handshake response (sent or received), or None."""
    return ws.response.headers.get("Sec-WebSocket-Extensions") if ws.response else None


def deflate_offer(params):
    """The permessage-deflate offer a scenario's RFC 7692 parameters ask for; None keeps
    websockets' default offer."""
    names = ["server_no_context_takeover", "client_no_context_takeover",
             "server_max_window_bits", "client_max_window_bits"]
    if not any(name in params for name in names):
        return None
    return ClientPerMessageDeflateFactory(
        server_no_context_takeover="server_no_context_takeover" in params,
        client_no_context_takeover="client_no_context_takeover" in params,
        server_max_window_bits=int(params["server_max_window_bits"]) if "server_max_window_bits" in params else None,
        client_max_window_bits=int(params["client_max_window_bits"]) if "client_max_window_bits" in params else True,
    )


def query(target):
    parts = urlsplit(target)
    return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def kind_of(message):
    return "text" if isinstance(message, str) else "binary"


def as_bytes(message):
    return message.encode() if isinstance(message, str) else message


# ---------------------------------------------------------------- server mode


async def echo_loop(ws, report):
    async for message in ws:
        report["messages"].append({"type": kind_of(message), "len": len(as_bytes(message))})
        await ws.send(message)


async def echo_counting_fragments(ws, report):
    """Like echo_loop, but reads each message frame by frame to count its fragments."""
    while True:
        fragments = []
        try:
            async for fragment in ws.recv_streaming():
                fragments.append(fragment)
        except ConnectionClosed:
            return
        message = "".join(fragments) if fragments and isinstance(fragments[0], str) else b"".join(fragments)
        report["messages"].append(
            {"type": kind_of(message), "len": len(as_bytes(message)), "fragments": len(fragments)}
        )
        await ws.send(message)


async def handler(ws):
    path, params = query(ws.request.path)
    report = {"path": path, "ok": True, "messages": [], "extensions": extensions_header(ws)}
    tls = ws.transport.get_extra_info("ssl_object")
    if tls is not None:
        report["sni"] = getattr(tls, "peer_sni", None)
    try:
        async with asyncio.timeout(TIMEOUT):
            if path == "/echo":
                await echo_loop(ws, report)
            elif path == "/expect-fragmented":
                await echo_counting_fragments(ws, report)
            elif path == "/send-fragmented":
                # A list of fragments is sent as one fragmented message (plus an empty
                # final continuation frame, websockets' way of ending it).
                await ws.send(pieces(payload("text", FRAGMENTED_LEN)), text=True)
                await ws.send(pieces(payload("binary", FRAGMENTED_LEN)), text=False)
                await echo_loop(ws, report)
            elif path == "/ping":
                pong = await ws.ping(b"peer-ping")
                await asyncio.wait_for(pong, 10)
                report["pong"] = True
                await echo_loop(ws, report)
            elif path == "/close":
                await ws.close(int(params["code"]), params.get("reason", ""))
            elif path == "/send-invalid-utf8":
                # 0xce 0xba is 'κ'; 0xff can never appear in UTF-8.
                async with ws.send_context():
                    ws.protocol.send_text(b"\xce\xba\xff")
                await echo_loop(ws, report)
            elif path == "/send-oversized":
                try:
                    await ws.send(payload("binary", int(params["n"])))
                except ConnectionClosed:
                    pass  # the peer may close while we are still writing
                await echo_loop(ws, report)
            else:
                raise Failure(f"unknown scenario path {path}")
    except ConnectionClosed:
        pass
    except Exception as exc:  # report every failure, then let the test decide
        report["ok"] = False
        report["error"] = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    try:
        async with asyncio.timeout(TIMEOUT):
            await ws.wait_closed()
    except TimeoutError:
        report["ok"] = False
        report["error"] = "connection did not close"
    report["close"] = close_seen(ws)
    print(json.dumps(report), flush=True)


def exit_when_stdin_closes():
    """The test holds our stdin; when it goes away (even killed), so do we."""
    sys.stdin.read()
    sys.stdout.flush()
    import os

    os._exit(0)


def remember_sni(tls, name, context):
    """Keeps the server name the client asked for (None if it sent none) for the report."""
    tls.peer_sni = name


def server_tls():
    """The server's TLS context, or None to serve plain ws://."""
    cert = os.environ.get("PEER_TLS_CERT")
    if not cert:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, os.environ["PEER_TLS_KEY"])
    ca = os.environ.get("PEER_TLS_CA")
    if ca:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(ca)
    context.sni_callback = remember_sni
    return context


def client_tls(url):
    """The client's TLS context for a wss:// URL (None for ws://)."""
    if not url.startswith("wss://"):
        return None
    context = ssl.create_default_context(cafile=os.environ.get("PEER_TLS_CA"))
    cert = os.environ.get("PEER_TLS_CERT")
    if cert:
        context.load_cert_chain(cert, os.environ["PEER_TLS_KEY"])
    return context


async def run_server():
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    tls = server_tls()
    async with serve(handler, "127.0.0.1", 0, max_size=MAX_SIZE, ping_interval=None, ssl=tls) as server:
        host, port = server.sockets[0].getsockname()[:2]
        scheme = "ws" if tls is None else "wss"
        print(f"listening on {scheme}://{host}:{port}", flush=True)
        await server.serve_forever()


# ---------------------------------------------------------------- client mode


async def expect_close(ws):
    """Reads until the connection closes; data messages here are a failure."""
    try:
        message = await ws.recv()
    except ConnectionClosed:
        await ws.wait_closed()
        return close_seen(ws)
    raise Failure(f"expected a close, got a {kind_of(message)} message of {len(as_bytes(message))} bytes")


async def client_echo(ws, params):
    """Every size up to `max` (default: all), both kinds, checked after the echo."""
    checked = 0
    largest = int(params.get("max", SIZES[-1]))
    for kind in ["text", "binary"]:
        for n in [n for n in SIZES if n <= largest]:
            data = payload(kind, n)
            await ws.send(data.decode() if kind == "text" else data)
            got = await ws.recv()
            check(kind_of(got) == kind, f"{kind} {n}: echo came back as {kind_of(got)}")
            check(as_bytes(got) == data, f"{kind} {n}: echo differs (got {len(as_bytes(got))} bytes)")
            checked += 1
    await ws.close()
    return {"checked": checked}


async def client_send_fragmented(ws, params):
    for kind in ["text", "binary"]:
        data = payload(kind, FRAGMENTED_LEN)
        await ws.send(pieces(data), text=(kind == "text"))
        got = await ws.recv()
        check(kind_of(got) == kind and as_bytes(got) == data, f"fragmented {kind}: echo differs")
    await ws.close()
    return {"sent_fragments": len(pieces(payload("text", FRAGMENTED_LEN)))}


async def client_expect_fragmented(ws, params):
    fragments = {}
    for kind in ["text", "binary"]:
        parts = [part async for part in ws.recv_streaming()]
        message = "".join(parts) if kind == "text" else b"".join(parts)
        check(kind_of(message) == kind, f"expected {kind}, got {kind_of(message)}")
        check(as_bytes(message) == payload(kind, FRAGMENTED_LEN), f"fragmented {kind} differs")
        check(len(parts) >= 2, f"{kind} came in {len(parts)} frame(s), expected fragments")
        fragments[kind] = len(parts)
    await ws.close()
    return {"fragments": fragments}


async def client_ping(ws, params):
    pong = await ws.ping(b"peer-ping")
    # websockets resolves the waiter only for a pong carrying the same payload.
    await asyncio.wait_for(pong, 10)
    await ws.close()
    return {"pong": True}


async def client_wait_close(ws, params):
    return {"close": await expect_close(ws)}


async def client_close(ws, params):
    await ws.close(int(params["code"]), params.get("reason", ""))
    return {"close": close_seen(ws)}


async def client_send_invalid_utf8(ws, params):
    # 0xce 0xba is 'κ'; 0xff can never appear in UTF-8.
    async with ws.send_context():
        ws.protocol.send_text(b"\xce\xba\xff")
    return {"close": await expect_close(ws)}


async def client_send_oversized(ws, params):
    try:
        await ws.send(payload("binary", int(params["n"])))
    except ConnectionClosed:
        pass  # the server may close while we are still writing
    return {"close": await expect_close(ws)}


CLIENT_SCENARIOS = {
    "echo": client_echo,
    "send-fragmented": client_send_fragmented,
    "expect-fragmented": client_expect_fragmented,
    "ping": client_ping,
    "wait-close": client_wait_close,
    "close": client_close,
    "send-invalid-utf8": client_send_invalid_utf8,
    "send-oversized": client_send_oversized,
}


async def run_client(url, scenario):
    name, params = query(scenario)
    run = CLIENT_SCENARIOS.get(name)
    if run is None:
        raise Failure(f"unknown scenario {name}")
    offer = deflate_offer(params)
    options = {} if offer is None else {"compression": None, "extensions": [offer]}
    async with asyncio.timeout(TIMEOUT):
        ws = await connect(
            url, max_size=MAX_SIZE, ping_interval=None, ssl=client_tls(url), **options
        )
        try:
            result = await run(ws, params)
            result["extensions"] = extensions_header(ws)
        finally:
            # Not `async with connect(...)`: its exit closes again, and on Python 3.11 a
            # second close of a connection the peer aborted trips over the dead transport.
            if ws.protocol.state is not State.CLOSED:
                await ws.close()
    return {"scenario": name, "ok": True, **result}


def main(argv):
    if len(argv) == 2 and argv[1] == "server":
        asyncio.run(run_server())
        return 0
    if len(argv) == 4 and argv[1] == "client":
        try:
            result = asyncio.run(run_client(argv[2], argv[3]))
        except Exception as exc:
            traceback.print_exc()
            print(f"py_peer: {argv[3]} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            print(json.dumps({"scenario": argv[3], "ok": False, "error": str(exc)}), flush=True)
            return 1
        print(json.dumps(result), flush=True)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
