// Loads a page, and fetches from it, through Playwright's routeFromHAR in
// Chromium, so every response comes from the HAR and none from the network.
// Usage: node replay.js HAR PAGE_URL [RESOURCE_URL…]
// Prints one JSON object: {url: {status, body (base64 of the bytes received)}}.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

async function main() {
  const [har, pageUrl, ...resources] = process.argv.slice(2);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-view-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  try {
    // notFound 'abort': a URL missing from the HAR fails instead of going out.
    await context.routeFromHAR(har, { notFound: 'abort' });
    const page = await context.newPage();
    const response = await page.goto(pageUrl);
    const out = {
      [pageUrl]: { status: response.status(), body: (await response.body()).toString('base64') },
    };
    for (const url of resources) {
      out[url] = await page.evaluate(async (u) => {
        const r = await fetch(u);
        const bytes = new Uint8Array(await r.arrayBuffer());
        let s = '';
        for (const b of bytes) s += String.fromCharCode(b);
        return { status: r.status, body: btoa(s) };
      }, url);
    }
    process.stdout.write(JSON.stringify(out) + '\n');
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
