'use strict';
// screenshot.js URL OUT [WATCH_S [PIPELINE [INPUT]]]: the picture of the
// dashboard in docs/dashboard.png. Opens URL (an API) in headless Chromium at
// 1280 px wide, keeps the page open WATCH_S seconds (default 180) so that its
// throughput chart fills with whatever load runs meanwhile, submits one job of
// PIPELINE (default blog4, input {"sleep":3}), shows it in the detail panel
// while it runs, and saves the whole page scaled to 1000 px wide as the PNG
// OUT. Not a test: it checks nothing. Make the PNG small afterwards, e.g.
//   pngquant --quality 70-95 --output docs/dashboard.png 96 OUT
// Needs playwright-core in tests/browser/node_modules (test_dashboard.sh
// installs it) and CHROMIUM (default /usr/bin/chromium).
const { chromium } = require('playwright-core');

const [url, out, watchS = '180', pipeline = 'blog4', input = '{"sleep":3}'] = process.argv.slice(2);
if (!url || !out) {
  console.error('usage: node screenshot.js URL OUT [WATCH_S [PIPELINE [INPUT]]]');
  process.exit(2);
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    page.on('pageerror', (e) => console.error('page error: ' + e.message));
    await page.goto(url + '/', { waitUntil: 'load' });
    await page.waitForFunction(() => document.getElementById('conn').textContent === 'live', null, { timeout: 20000 });
    await page.waitForTimeout(Number(watchS) * 1000);
    await page.selectOption('#pipeline', pipeline);
    await page.fill('#input', input);
    await page.click('#submit');
    await page.waitForSelector('#submit-result[data-job-id]', { timeout: 15000 });
    const id = await page.getAttribute('#submit-result', 'data-job-id');
    await page.waitForFunction(
      (jid) => {
        const tr = document.querySelector('#jobs tr[data-job-id="' + CSS.escape(jid) + '"]');
        return tr && /stage [2-9]/.test(tr.querySelector('.stage-text').textContent);
      },
      id,
      { timeout: 60000, polling: 100 },
    );
    await page.click('#jobs tr[data-job-id="' + id + '"] td.stage-text');
    await page.waitForSelector('#d-timeline rect.tl-bar.running', { timeout: 10000 });
    await page.waitForTimeout(1000);
    const png = await page.screenshot({ fullPage: true });
    // scaled by the browser itself: the PNG shown at 1000 px wide, saved again
    const w = png.readUInt32BE(16);
    const h = Math.round((png.readUInt32BE(20) * 1000) / w);
    const view = await browser.newPage({ viewport: { width: 1000, height: h } });
    await view.setContent('<body></body>');
    await view.evaluate(
      ([data, height]) => {
        document.body.style.margin = '0';
        const img = document.createElement('img');
        img.style.cssText = 'display:block;width:1000px;height:' + height + 'px';
        img.src = 'data:image/png;base64,' + data;
        document.body.appendChild(img);
        return img.decode();
      },
      [png.toString('base64'), h],
    );
    await view.screenshot({ path: out });
    console.log(out + ': job ' + id + ', 1000x' + h);
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
