// Drives a node's dashboard in headless Chromium over the DevTools protocol (puppeteer-core),
// as a person would: waits for the cluster to show, writes a key through the form and reads
// it back, and watches a node the test kills turn down and come back.
//
//   node dashboard.js URL NODE SCREENSHOT
//
// URL is the dashboard; NODE the id of the node to be killed; SCREENSHOT where the last
// picture goes. The test (raft/tests/dashboard.rs) owns the node processes; the two talk by
// lines: this prints `kill NODE` and waits for `killed` on stdin, then `restart NODE` and
// waits for `restarted`. Each step prints `step: ...`; any failure exits 1 with the page's
// text, so the test shows what the page showed.
"use strict";

const puppeteer = require("puppeteer-core");
const fs = require("fs");
const readline = require("readline");

const [url, victim, screenshot] = process.argv.slice(2);
const STEP_MS = 30000;

const lines = readline.createInterface({ input: process.stdin });
const waiting = [];
lines.on("line", (line) => { const w = waiting.shift(); if (w) w(line.trim()); });
function expectLine(want) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${want} from the test`)), STEP_MS);
    waiting.push((line) => {
      clearTimeout(timer);
      line === want ? resolve() : reject(new Error(`wanted ${want}, the test said ${line}`));
    });
  });
}

function chromium() {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  for (const path of ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/snap/bin/chromium"]) {
    if (fs.existsSync(path)) return path;
  }
  throw new Error("no Chromium: run scripts/install-peers.sh (apt-get install chromium)");
}

async function main() {
  const browser = await puppeteer.launch({
    executablePath: chromium(),
    headless: true,
    // Root in a container has no sandbox to use; /dev/shm may be small.
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
  });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1100, height: 760 });
    page.on("pageerror", (e) => console.log(`page error: ${e.message}`));
    await page.goto(url, { waitUntil: "load" });
    const wait = (what, fn, ...args) =>
      page.waitForFunction(fn, { timeout: STEP_MS, polling: 100 }, ...args)
        .catch(async (e) => { throw new Error(`${what}: ${e.message}\npage:\n${await text(page)}`); });

    // The cluster: three nodes reachable, one leader, every link of this node up.
    await wait("three nodes up and a leader", () =>
      document.querySelectorAll('#nodes tr[data-status="up"]').length === 3
      && document.getElementById("leader").dataset.leader !== ""
      && document.querySelectorAll('#links tr[data-state="up"]').length === 2);
    const leader = await page.$eval("#leader", (e) => e.dataset.leader);
    console.log(`step: the page shows 3 nodes up, leader node ${leader}`);

    // A key written through the form, and read back.
    const writeAndRead = async (key) => {
      const value = `from the browser ${Date.now()}`;
      await page.$eval("#key", (e) => { e.value = ""; });
      await page.type("#key", key);
      await page.type("#value", value);
      await page.click("#write");
      await wait(`${key} written`, (k) => document.getElementById("result").textContent.startsWith(`wrote ${k} `), key);
      console.log(`step: ${await page.$eval("#result", (e) => e.textContent)}`);
      await page.$eval("#value", (e) => { e.value = ""; });
      await page.click("#read");
      await wait(`${key} read back`, (v) => document.getElementById("result").dataset.value === v, value);
      console.log(`step: read back: ${await page.$eval("#result", (e) => e.textContent)}`);
    };
    await writeAndRead("dashboard-key");

    // A node killed turns down: unreachable itself, and its link from this node down.
    console.log(`kill ${victim}`);
    await expectLine("killed");
    await wait(`node ${victim} down`, (n) =>
      document.querySelector(`#nodes tr[data-node="${n}"]`)?.dataset.status === "down"
      && ["down", "connecting"].includes(document.querySelector(`#links tr[data-peer="${n}"]`)?.dataset.state), victim);
    console.log(`step: node ${victim} shows down`);
    await page.screenshot({ path: screenshot.replace(/\.png$/, "-down.png") });

    // Restarted, it comes back.
    console.log(`restart ${victim}`);
    await expectLine("restarted");
    await wait(`node ${victim} back`, (n) =>
      document.querySelector(`#nodes tr[data-node="${n}"]`)?.dataset.status === "up"
      && document.querySelector(`#links tr[data-peer="${n}"]`)?.dataset.state === "up"
      && document.querySelectorAll('#nodes tr[data-status="up"]').length === 3, victim);
    console.log(`step: node ${victim} is back up`);
    // The restarted node has joined: it knows the leader.
    await wait(`node ${victim} follows`, (n) =>
      document.querySelector(`#nodes tr[data-node="${n}"]`)?.dataset.role === "Follower"
      || document.querySelector(`#nodes tr[data-node="${n}"]`)?.dataset.role === "Leader", victim);
    // And the cluster still takes writes through this node.
    await writeAndRead("after-restart");
    await page.screenshot({ path: screenshot });
    console.log(`step: screenshot at ${screenshot}`);
    console.log("dashboard OK");
  } finally {
    await browser.close();
    lines.close();
  }
}

async function text(page) {
  try { return await page.evaluate(() => document.body.innerText); } catch (e) { return `(${e.message})`; }
}

main().catch((e) => { console.log(`dashboard FAILED: ${e.stack || e}`); process.exit(1); });
