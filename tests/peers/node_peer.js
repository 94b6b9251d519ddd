#!/usr/bin/env node
// A WebSocket peer written with Node `ws`, for tether's interop tests.
//
//   node_peer.js server               listen on 127.0.0.1:0; print `listening on ws://ADDR`;
//                                     the request path picks the scenario; after each
//                                     connection print one JSON report line.
//   node_peer.js client URL SCENARIO  connect to a tether server, run SCENARIO with its own
//                                     checks, print one JSON result line; exit 0 on
//                                     success, 1 on failure (the reason on stderr).
//
// Scenarios take query parameters like paths do: `close?code=4001&reason=bye`.
//
// TLS (wss://), from the environment, PEM file paths:
//   PEER_TLS_CERT, PEER_TLS_KEY  server: serve wss:// with this chain and key (the report
//                                then names the SNI the client sent); client: present
//                                them as a client certificate
//   PEER_TLS_CA                  server: require client certificates from this CA;
//                                client: trust this CA (for wss:// URLs)
// The payload generators must match tests/src/payload.rs and py_peer.py byte for byte.
//
// permessage-deflate: the server accepts it with ws's defaults (threshold 0, so every message
// is compressed), and reports the `Sec-WebSocket-Extensions` it answered with and the bytes
// its socket read. The client offers ws's default unless the scenario names RFC 7692
// parameters (`echo?server_no_context_takeover=1&client_max_window_bits=9`), and reports the
// answer and the bytes its socket read.
// Only ws's public API is used: `send(data, { binary, fin })` for fragments and for text
// frames carrying raw bytes (ws does not validate what it sends), and binaryType
// 'fragments' to see how a binary message was framed (ws gives text messages whole).
'use strict';

const fs = require('fs');
const https = require('https');
const { WebSocket, WebSocketServer } = require('ws');

// Large enough for the 16 MiB messages (and then some).
const MAX_PAYLOAD = 64 * 1024 * 1024;
const SIZES = [0, 125, 126, 65535, 65536, 16 * 1024 * 1024];
const FRAGMENTED_LEN = 10000;
const FRAGMENT_PIECE = 1000; // not a multiple of 11, so text pieces split multi-byte characters
const TIMEOUT_MS = 60000;

// Deterministic message bytes: text is 'κόσμε ' (11 bytes) repeated, padded with 'x' to
// exactly n bytes; binary byte i is (i * 31 + 7) % 251.
function payload(kind, n) {
  if (kind === 'text') {
    return Buffer.concat([
      Buffer.from('κόσμε '.repeat(Math.floor(n / 11)), 'utf8'),
      Buffer.alloc(n % 11, 'x'),
    ]);
  }
  const buf = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) buf[i] = (i * 31 + 7) % 251;
  return buf;
}

function pieces(data, size = FRAGMENT_PIECE) {
  const out = [];
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, i + size));
  return out;
}

// Sends `data` as one message cut into frames (ws tracks the continuation opcode).
function sendFragmented(ws, data, binary) {
  const parts = pieces(data);
  parts.forEach((part, i) => ws.send(part, { binary, fin: i === parts.length - 1 }));
}

class Failure extends Error {}

function check(cond, what) {
  if (!cond) throw new Failure(what);
}

// ws's permessage-deflate options for a scenario's RFC 7692 parameters (compress every
// message); `true` (ws's default offer) if it names none.
function deflateOptions(params) {
  const names = ['server_no_context_takeover', 'client_no_context_takeover', 'server_max_window_bits', 'client_max_window_bits'];
  if (!names.some((name) => name in params)) return true;
  const options = { threshold: 0 };
  if ('server_no_context_takeover' in params) options.serverNoContextTakeover = true;
  if ('client_no_context_takeover' in params) options.clientNoContextTakeover = true;
  if ('server_max_window_bits' in params) options.serverMaxWindowBits = Number(params.server_max_window_bits);
  if ('client_max_window_bits' in params) options.clientMaxWindowBits = Number(params.client_max_window_bits);
  return options;
}

// The value of a `Sec-WebSocket-Extensions` line among response header lines, or null.
function extensionsLine(lines) {
  const line = lines.find((l) => /^sec-websocket-extensions:/i.test(l));
  return line ? line.slice(line.indexOf(':') + 1).trim() : null;
}

function parseScenario(target) {
  const url = new URL(target, 'ws://peer.invalid');
  return { name: url.pathname, params: Object.fromEntries(url.searchParams) };
}

// Turns a ws connection's events into awaitable reads: next() yields the next message
// ({ data: Buffer, binary, fragments }) and rejects once the connection is closed;
// `closed` resolves with the close code ws saw (1006: no close frame) and reason.
function inbox(ws) {
  const queue = [];
  const waiters = [];
  let closedInfo = null;
  ws.binaryType = 'fragments';
  const closed = new Promise((resolve) => {
    ws.on('close', (code, reason) => {
      closedInfo = { code, reason: reason.toString('utf8') };
      resolve(closedInfo);
      for (const w of waiters.splice(0)) w.reject(new Failure('closed'));
    });
  });
  ws.on('error', (err) => process.stderr.write(`node_peer: ws error: ${err.message}\n`));
  ws.on('message', (data, isBinary) => {
    // With binaryType 'fragments', binary messages are an array of frame payloads.
    const message = Array.isArray(data)
      ? { data: Buffer.concat(data), binary: true, fragments: data.length }
      : { data: Buffer.from(data), binary: isBinary, fragments: null };
    const w = waiters.shift();
    if (w) w.resolve(message);
    else queue.push(message);
  });
  return {
    closed,
    next() {
      if (queue.length > 0) return Promise.resolve(queue.shift());
      if (closedInfo) return Promise.reject(new Failure('closed'));
      return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
    },
  };
}

function isClosedError(err) {
  return err instanceof Failure && err.message === 'closed';
}

function kindOf(message) {
  return message.binary ? 'binary' : 'text';
}

// ---------------------------------------------------------------- server mode

async function echoLoop(ws, box, report) {
  for (;;) {
    let message;
    try {
      message = await box.next();
    } catch (err) {
      if (isClosedError(err)) return;
      throw err;
    }
    report.messages.push({
      type: kindOf(message),
      len: message.data.length,
      fragments: message.fragments,
    });
    ws.send(message.data, { binary: message.binary });
  }
}

async function serverScenario(ws, name, params, box, report) {
  switch (name) {
    case '/echo':
    case '/expect-fragmented': // fragments are counted for every message (binary only)
      return echoLoop(ws, box, report);
    case '/send-fragmented':
      sendFragmented(ws, payload('text', FRAGMENTED_LEN), false);
      sendFragmented(ws, payload('binary', FRAGMENTED_LEN), true);
      return echoLoop(ws, box, report);
    case '/ping': {
      const pong = new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Failure('no pong within 10 s')), 10000);
        ws.once('pong', (data) => {
          clearTimeout(timer);
          resolve(data);
        });
      });
      ws.ping(Buffer.from('peer-ping'));
      const data = await pong;
      check(data.toString() === 'peer-ping', `pong payload ${JSON.stringify(data.toString())}`);
      report.pong = true;
      return echoLoop(ws, box, report);
    }
    case '/close':
      ws.close(Number(params.code), params.reason || '');
      await box.closed;
      return undefined;
    case '/send-invalid-utf8':
      // 0xce 0xba is 'κ'; 0xff can never appear in UTF-8.
      ws.send(Buffer.from([0xce, 0xba, 0xff]), { binary: false });
      return echoLoop(ws, box, report);
    case '/send-oversized':
      ws.send(payload('binary', Number(params.n)), { binary: true });
      return echoLoop(ws, box, report);
    default:
      throw new Failure(`unknown scenario path ${name}`);
  }
}

// TLS options from the environment (see the top of this file): the server's certificate
// and, if a CA is given, the client certificates it requires.
function serverTls() {
  const cert = process.env.PEER_TLS_CERT;
  if (!cert) return null;
  const options = { cert: fs.readFileSync(cert), key: fs.readFileSync(process.env.PEER_TLS_KEY) };
  if (process.env.PEER_TLS_CA) {
    Object.assign(options, { ca: fs.readFileSync(process.env.PEER_TLS_CA), requestCert: true, rejectUnauthorized: true });
  }
  return options;
}

// The client's: the CA it trusts and the certificate it presents, where given.
function clientTls() {
  const options = {};
  if (process.env.PEER_TLS_CA) options.ca = fs.readFileSync(process.env.PEER_TLS_CA);
  if (process.env.PEER_TLS_CERT) {
    options.cert = fs.readFileSync(process.env.PEER_TLS_CERT);
    options.key = fs.readFileSync(process.env.PEER_TLS_KEY);
  }
  return options;
}

function runServer() {
  // The test holds our stdin; when it goes away (even killed), so do we.
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
  const tls = serverTls();
  const options = { maxPayload: MAX_PAYLOAD, perMessageDeflate: { threshold: 0 } };
  let wss;
  if (tls) {
    const server = https.createServer(tls);
    wss = new WebSocketServer({ server, ...options });
    server.on('tlsClientError', (err) => process.stderr.write(`node_peer: TLS: ${err.message}\n`));
    server.listen(0, '127.0.0.1', () => {
      const { address, port } = server.address();
      process.stdout.write(`listening on wss://${address}:${port}\n`);
    });
  } else {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0, ...options });
    wss.on('listening', () => {
      const { address, port } = wss.address();
      process.stdout.write(`listening on ws://${address}:${port}\n`);
    });
  }
  // The response headers of each upgrade, to report what was agreed.
  const answered = new WeakMap();
  wss.on('headers', (headers, req) => answered.set(req, extensionsLine(headers)));
  wss.on('connection', async (ws, req) => {
    const { name, params } = parseScenario(req.url);
    const box = inbox(ws);
    const report = { path: name, ok: true, messages: [], extensions: answered.get(req) || null };
    // The name the client asked for by SNI (false if it sent none).
    if (tls) report.sni = req.socket.servername || null;
    const timer = setTimeout(() => ws.terminate(), TIMEOUT_MS);
    try {
      await serverScenario(ws, name, params, box, report);
    } catch (err) {
      report.ok = false;
      report.error = String(err && err.stack ? err.stack : err);
      process.stderr.write(`node_peer: ${name}: ${report.error}\n`);
    }
    report.close = await box.closed;
    report.bytes_read = req.socket.bytesRead;
    clearTimeout(timer);
    process.stdout.write(`${JSON.stringify(report)}\n`);
  });
}

// ---------------------------------------------------------------- client mode

// Reads until the connection closes; a data message here is a failure.
async function expectClose(box) {
  try {
    const message = await box.next();
    throw new Failure(`expected a close, got a ${kindOf(message)} message of ${message.data.length} bytes`);
  } catch (err) {
    if (!isClosedError(err)) throw err;
  }
  return box.closed;
}

const CLIENT_SCENARIOS = {
  // Every size up to `max` (default: all), both kinds, checked after the echo.
  async echo(ws, box, params) {
    let checked = 0;
    const largest = 'max' in params ? Number(params.max) : SIZES[SIZES.length - 1];
    for (const kind of ['text', 'binary']) {
      for (const n of SIZES.filter((size) => size <= largest)) {
        const data = payload(kind, n);
        ws.send(data, { binary: kind === 'binary' });
        const got = await box.next();
        check(kindOf(got) === kind, `${kind} ${n}: echo came back as ${kindOf(got)}`);
        check(got.data.equals(data), `${kind} ${n}: echo differs (got ${got.data.length} bytes)`);
        checked += 1;
      }
    }
    ws.close(1000);
    await box.closed;
    return { checked };
  },

  async 'send-fragmented'(ws, box) {
    for (const kind of ['text', 'binary']) {
      const data = payload(kind, FRAGMENTED_LEN);
      sendFragmented(ws, data, kind === 'binary');
      const got = await box.next();
      check(kindOf(got) === kind && got.data.equals(data), `fragmented ${kind}: echo differs`);
    }
    ws.close(1000);
    await box.closed;
    return { sent_fragments: pieces(payload('text', FRAGMENTED_LEN)).length };
  },

  async 'expect-fragmented'(ws, box) {
    const fragments = {};
    for (const kind of ['text', 'binary']) {
      const got = await box.next();
      check(kindOf(got) === kind, `expected ${kind}, got ${kindOf(got)}`);
      check(got.data.equals(payload(kind, FRAGMENTED_LEN)), `fragmented ${kind} differs`);
      // ws reports frames for binary messages only; text arrives whole (null).
      if (got.fragments !== null) {
        check(got.fragments >= 2, `${kind} came in ${got.fragments} frame(s), expected fragments`);
      }
      fragments[kind] = got.fragments;
    }
    ws.close(1000);
    await box.closed;
    return { fragments };
  },

  async ping(ws, box) {
    const pong = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Failure('no pong within 10 s')), 10000);
      ws.once('pong', (data) => {
        clearTimeout(timer);
        resolve(data);
      });
    });
    ws.ping(Buffer.from('peer-ping'));
    const data = await pong;
    check(data.toString() === 'peer-ping', `pong payload ${JSON.stringify(data.toString())}`);
    ws.close(1000);
    await box.closed;
    return { pong: true };
  },

  async 'wait-close'(ws, box) {
    return { close: await expectClose(box) };
  },

  async close(ws, box, params) {
    ws.close(Number(params.code), params.reason || '');
    return { close: await box.closed };
  },

  async 'send-invalid-utf8'(ws, box) {
    // 0xce 0xba is 'κ'; 0xff can never appear in UTF-8.
    ws.send(Buffer.from([0xce, 0xba, 0xff]), { binary: false });
    return { close: await expectClose(box) };
  },

  async 'send-oversized'(ws, box, params) {
    ws.send(payload('binary', Number(params.n)), { binary: true });
    return { close: await expectClose(box) };
  },
};

async function runClient(url, scenario) {
  const { name, params } = parseScenario(scenario);
  const key = name.replace(/^\//, '');
  const run = CLIENT_SCENARIOS[key];
  if (!run) throw new Failure(`unknown scenario ${key}`);
  const ws = new WebSocket(url, {
    maxPayload: MAX_PAYLOAD,
    perMessageDeflate: deflateOptions(params),
    ...clientTls(),
  });
  const box = inbox(ws);
  let upgrade = null;
  ws.once('upgrade', (res) => {
    upgrade = res;
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Failure(`HTTP ${res.statusCode}`)));
  });
  const result = await run(ws, box, params);
  return {
    scenario: key,
    ok: true,
    ...result,
    extensions: upgrade.headers['sec-websocket-extensions'] || null,
    bytes_read: upgrade.socket.bytesRead,
  };
}

function main(argv) {
  if (argv.length === 1 && argv[0] === 'server') {
    runServer();
    return;
  }
  if (argv.length === 3 && argv[0] === 'client') {
    const timer = setTimeout(() => {
      process.stderr.write(`node_peer: ${argv[2]} timed out after ${TIMEOUT_MS} ms\n`);
      process.exit(1);
    }, TIMEOUT_MS);
    runClient(argv[1], argv[2]).then(
      (result) => {
        clearTimeout(timer);
        process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
      },
      (err) => {
        clearTimeout(timer);
        process.stderr.write(`node_peer: ${argv[2]} failed: ${err && err.stack ? err.stack : err}\n`);
        process.stdout.write(`${JSON.stringify({ scenario: argv[2], ok: false, error: String(err) })}\n`, () =>
          process.exit(1),
        );
      },
    );
    return;
  }
  process.stderr.write('usage: node_peer.js server | node_peer.js client URL SCENARIO\n');
  process.exit(2);
}

main(process.argv.slice(2));
