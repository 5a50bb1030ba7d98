// The browser side shared by the conformance suite (skyway.test.mjs) and the data benchmark
// (bench/data-browser.mjs): Debian's Chromium with the project's flags, and a local page
// server for the unmodified skyway.js from node_modules.

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The browser binary: CHROMIUM_PATH, or Debian's chromium. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Headless, no sandbox, fake camera and microphone granted without a prompt. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
];

/** Launches Chromium with CHROMIUM_ARGS. */
export function launchChromium() {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/**
 * Launches Chromium with CHROMIUM_ARGS as a server of its own, whose `process()` gives the
 * browser's pid, and connects to it. Resolves with `{ server, browser, pid }`.
 */
export async function launchChromiumProcess() {
  const server = await chromium.launchServer({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const browser = await chromium.connect(server.wsEndpoint());
  return { server, browser, pid: server.process().pid };
}

/**
 * Serves `/skyway.js` (skyway-js 4.4.5 from node_modules) and `html` at `/` on 127.0.0.1.
 * Resolves with `{ server, url }`.
 */
export async function serveSdkPage(html) {
  const sdk = fs.readFileSync(path.join(here, 'node_modules/skyway-js/dist/skyway.js'));
  const server = http.createServer((req, res) => {
    if (req.url === '/skyway.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
      res.end(sdk);
    } else if (req.url === '/' || req.url.startsWith('/?')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(html);
    } else {
      res.writeHead(req.url === '/favicon.ico' ? 204 : 404);
      res.end();
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${server.address().port}/` };
}
