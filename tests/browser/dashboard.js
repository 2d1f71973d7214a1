'use strict';
// dashboard.js: drives the stageq dashboard (GET /) in a real headless
// Chromium through playwright-core, and prints "ok - ..." / "not ok - ..."
// lines for tests/e2e/test_dashboard.sh. Every wait is bounded; nothing here
// asserts on wall-clock speed. Environment:
//   DASH_URL         the API without a token (a worker runs tests/e2e/pipelines-test.json)
//   DASH_TOKEN_URL   optional: an API started with --api-token DASH_TOKEN
//   DASH_SCREENSHOT  where to save the screenshot (a narrow one goes beside it)
//   CHROMIUM         the browser (default /usr/bin/chromium)
//   DASH_TOKEN_API_PID, DASH_RESPAWN, DASH_RESPAWN_LOG  optional: the token API's
//                    pid, and the command (split on blanks) that starts it again on
//                    the same port: the page must notice the outage and come back
// Lines "# job <name> <id>" tell the shell which jobs to check in Redis.
const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const { chromium } = require('playwright-core');

const BASE = process.env.DASH_URL;
const TOKEN_URL = process.env.DASH_TOKEN_URL || '';
const TOKEN = process.env.DASH_TOKEN || '';
const SHOT = process.env.DASH_SCREENSHOT || 'dashboard.png';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

let fails = 0;
let respawned = null; // an API this script started (killed by pid at the end)
function ok(name) {
  console.log('ok - ' + name);
}
function notOk(name, why) {
  fails++;
  console.log('not ok - ' + name + (why ? ' (' + String(why).split('\n')[0].slice(0, 300) + ')' : ''));
}
// step NAME FN: ok when FN resolves, not ok with the reason when it throws.
async function step(name, fn) {
  try {
    await fn();
    ok(name);
    return true;
  } catch (e) {
    notOk(name, e && e.message ? e.message : e);
    return false;
  }
}
function expect(cond, what) {
  if (!cond) throw new Error(what);
}

// Records what a page logs and which requests fail; "expected" entries (a
// 409 or 401 the test provokes on purpose) are counted apart.
function watch(page) {
  const w = { console: [], pageErrors: [], failed: [], bad: [], expected: [] };
  w.allow = [];
  const allowed = (text) => w.allow.some((re) => re.test(text));
  page.on('console', (m) => {
    if (m.type() !== 'error' && m.type() !== 'warning') return;
    const t = m.type() + ': ' + m.text();
    (allowed(t) ? w.expected : w.console).push(t);
  });
  page.on('pageerror', (e) => w.pageErrors.push(String(e && e.message)));
  page.on('requestfailed', (r) => w.failed.push(r.method() + ' ' + r.url() + ' ' + (r.failure() || {}).errorText));
  page.on('response', (r) => {
    if (r.status() < 400) return;
    const t = r.status() + ' ' + r.request().method() + ' ' + r.url();
    (allowed(t) ? w.expected : w.bad).push(t);
  });
  return w;
}

async function stateOf(page, id) {
  return page.evaluate((jid) => {
    const tr = document.querySelector('#jobs tr[data-job-id="' + CSS.escape(jid) + '"]');
    return tr ? tr.querySelector('.state').textContent : null;
  }, id);
}

async function waitState(page, id, state, timeoutMs) {
  await page.waitForFunction(
    ([jid, st]) => {
      const tr = document.querySelector('#jobs tr[data-job-id="' + CSS.escape(jid) + '"]');
      return tr !== null && tr.querySelector('.state').textContent === st;
    },
    [id, state],
    { timeout: timeoutMs, polling: 100 },
  );
}

async function submit(page, pipeline, input, id) {
  await page.selectOption('#pipeline', pipeline);
  await page.fill('#input', input);
  await page.fill('#job-id', id || '');
  await page.evaluate(() => {
    const r = document.getElementById('submit-result');
    r.textContent = '';
    r.removeAttribute('data-job-id');
  });
  await page.click('#submit');
  await page.waitForFunction(() => document.getElementById('submit-result').textContent !== '', null, {
    timeout: 15000,
  });
  return page.evaluate(() => {
    const r = document.getElementById('submit-result');
    return { id: r.getAttribute('data-job-id'), text: r.textContent, cls: r.className };
  });
}

async function mainFlow(browser) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const w = watch(page);
  let id1 = null;
  let id2 = null;

  await step('the page loads (200, title stageq)', async () => {
    const r = await page.goto(BASE + '/', { waitUntil: 'load', timeout: 20000 });
    expect(r && r.status() === 200, 'status ' + (r && r.status()));
    expect((await page.title()) === 'stageq', 'title ' + (await page.title()));
  });
  await step('the event stream shows "live"', async () => {
    await page.waitForFunction(() => document.getElementById('conn').textContent === 'live', null, {
      timeout: 20000,
    });
  });
  await step('the pipeline select is filled from GET /v1/pipelines', async () => {
    await page.waitForSelector('#pipeline option[value="blog4"]', { state: 'attached', timeout: 10000 });
  });
  await step('the schedules panel lists each schedule with its next run', async () => {
    await page.waitForFunction(() => document.querySelectorAll('#schedules tbody tr').length === 2, null, {
      timeout: 20000,
    });
    const want = await page.evaluate(async () => {
      const r = await fetch('/v1/schedules', { headers: { Accept: 'application/json' } });
      return (await r.json()).schedules.map((s) => [s.name, s.next_run]);
    });
    const got = await page.evaluate(() =>
      Array.from(document.querySelectorAll('#schedules tbody tr')).map((tr) => [
        tr.cells[0].textContent,
        tr.cells[3].getAttribute('data-time'),
        tr.cells[3].textContent,
        tr.cells[2].textContent,
      ]),
    );
    expect(got.length === 2, 'rows ' + JSON.stringify(got));
    for (let i = 0; i < 2; i++) {
      expect(got[i][0] === want[i][0] && got[i][1] === want[i][1], JSON.stringify(got[i]) + ' vs ' + JSON.stringify(want[i]));
      expect(got[i][2] !== '' && got[i][2] !== 'never', 'a next run is shown: ' + got[i][2]);
    }
    expect(got[0][3] === '0 0 1 1 * (Asia/Tokyo)', 'the cron and its timezone: ' + got[0][3]);
    expect(got[1][3] === 'every 3600 s', 'every_s: ' + got[1][3]);
  });
  await step('queues and live workers are shown', async () => {
    await page.waitForFunction(
      () =>
        /[1-9][0-9]* workers alive/.test(document.getElementById('workers-alive').textContent) &&
        document.querySelectorAll('#queues tbody tr').length > 0 &&
        document.querySelectorAll('#workers tbody td.mono').length > 0,
      null,
      { timeout: 20000 },
    );
  });

  // every stage text and state a row ever shows, per job, in order
  await page.evaluate(() => {
    window.dashNoReload = true;
    window.dashSeen = {};
    const record = () => {
      document.querySelectorAll('#jobs tr[data-job-id]').forEach((tr) => {
        const id = tr.getAttribute('data-job-id');
        const st = tr.querySelector('.stage-text');
        const s = tr.querySelector('.state');
        if (!st || !s) return;
        const t = s.textContent + ' | ' + st.textContent;
        const seen = (window.dashSeen[id] = window.dashSeen[id] || []);
        if (seen[seen.length - 1] !== t) seen.push(t);
      });
    };
    new MutationObserver(record).observe(document.getElementById('jobs'), {
      subtree: true,
      childList: true,
      characterData: true,
    });
  });

  await step('submitting blog4 {"sleep":1} through the form answers with its id', async () => {
    const r = await submit(page, 'blog4', '{"sleep":1}');
    expect(r.id && /\bok\b/.test(r.cls), 'result: ' + r.text);
    id1 = r.id;
    console.log('# job done ' + id1);
  });
  if (id1) {
    await step('the new job appears in the list', async () => {
      await page.waitForSelector('#jobs tr[data-job-id="' + id1 + '"]', { timeout: 10000 });
    });
    await step('its state becomes succeeded without a reload', async () => {
      await waitState(page, id1, 'succeeded', 120000);
      expect(await page.evaluate(() => window.dashNoReload === true), 'the page was reloaded');
    });
    const seen = await page.evaluate((id) => window.dashSeen[id] || [], id1);
    console.log('# stage texts seen: ' + JSON.stringify(seen));
    await step('the stage text advanced live ("stage 2/4 two N%" seen while running)', async () => {
      expect(seen.some((t) => /^running \| stage 2\/4 two [0-9]+%$/.test(t)), 'seen ' + JSON.stringify(seen));
    });
    await step('stages were seen in order (1 before 2 before 3 before 4)', async () => {
      const order = seen.map((t) => (t.match(/stage ([1-4])\/4/) || [])[1]).filter(Boolean).map(Number);
      expect(order.length > 0, 'no stage seen');
      for (let i = 1; i < order.length; i++) expect(order[i] >= order[i - 1], 'order ' + order.join(','));
    });
    await step('the progress bar of the finished job is full', async () => {
      const v = await page.getAttribute('#jobs tr[data-job-id="' + id1 + '"] .bar', 'aria-valuenow');
      expect(v === '100', 'aria-valuenow ' + v);
    });
    await step('a click shows the detail: 4 succeeded stages with timings and output', async () => {
      await page.click('#jobs tr[data-job-id="' + id1 + '"] td.stage-text');
      await page.waitForFunction(
        (id) =>
          document.getElementById('d-title').textContent === id &&
          document.querySelectorAll('#d-body .stage').length === 4,
        id1,
        { timeout: 10000 },
      );
      const d = await page.evaluate(() =>
        Array.from(document.querySelectorAll('#d-body .stage')).map((s) => ({
          state: s.querySelector('.badge').textContent,
          text: s.textContent,
          out: (s.querySelector('pre.output') || {}).textContent || '',
        })),
      );
      d.forEach((s, i) => {
        expect(s.state === 'succeeded', 'stage ' + (i + 1) + ' ' + s.state);
        expect(/started .* finished .* took /.test(s.text), 'stage ' + (i + 1) + ' timing: ' + s.text);
        expect(/"sleep": 1/.test(s.out), 'stage ' + (i + 1) + ' output: ' + s.out);
      });
      expect(await page.isHidden('#d-cancel'), 'cancel offered for a finished job');
    });
    await step('an API error is shown clearly (409 duplicate_id for a reused id)', async () => {
      w.allow.push(/409/);
      const r = await submit(page, 'blog4', '{}', id1);
      expect(/error/.test(r.cls) && /^409 duplicate_id: /.test(r.text), 'result: ' + r.text + ' [' + r.cls + ']');
    });
  }
  if (id1) {
    // The status fields a newer API adds (eta_s, stage_eta_s, per-stage
    // duration_s/expected_s) and an error history, grafted onto the real
    // reply: shown when numbers, hidden when null; markup in job data is text.
    const evil = '<img src=x onerror="window.dashXss=1"><b>bold</b>';
    await step('the detail shows eta_s, duration_s, expected_s, error and errors; hides a null stage_eta_s', async () => {
      await page.route(new RegExp('/v1/jobs/' + id1 + '$'), async (route) => {
        const resp = await route.fetch();
        const j = await resp.json();
        j.eta_s = 75;
        j.stage_eta_s = null;
        j.stages[0].duration_s = 1.25;
        j.stages[0].expected_s = 2;
        j.message = evil;
        j.stages[1].output = { note: evil };
        j.error = { code: 'exit_status', message: evil, stage: 'two', stage_index: 2, attempt: 2,
          stderr_tail: 'line1\n' + evil };
        j.errors = [{ code: 'timeout', message: 'first try', stage: 'one', stage_index: 1, attempt: 1 }, j.error];
        await route.fulfill({ response: resp, json: j });
      });
      await page.click('#d-close');
      await page.click('#jobs tr[data-job-id="' + id1 + '"] td.stage-text');
      await page.waitForFunction(() => /Errors of all attempts/.test(document.getElementById('d-body').textContent),
        null, { timeout: 10000 });
      const d = await page.evaluate(() => ({
        text: document.getElementById('d-body').textContent,
        eta: (document.querySelector('#d-body dd.eta') || {}).textContent,
        stageEta: document.querySelector('#d-body dd.stage-eta') !== null,
        stage1: document.querySelector('#d-body .stage[data-stage="1"]').textContent,
        imgs: document.querySelectorAll('img').length,
        bolds: document.querySelectorAll('#d-body b').length,
        xss: window.dashXss === 1,
      }));
      await page.unroute(new RegExp('/v1/jobs/' + id1 + '$'));
      expect(d.eta === '1 min 15 s', 'ETA (job) ' + d.eta);
      expect(!d.stageEta, 'a null stage_eta_s is shown');
      expect(/took 1\.3 s|took 1\.2 s/.test(d.stage1) && /expected 2\.0 s/.test(d.stage1), 'stage 1: ' + d.stage1);
      expect(/attempt 1: stage 1 one: timeout/.test(d.text), 'first attempt error missing');
      expect(/attempt 2: stage 2 two: exit_status/.test(d.text), 'last error missing');
      expect(d.text.includes(evil), 'markup not shown as text');
      expect(d.imgs === 0 && d.bolds === 0 && !d.xss, 'markup was parsed: ' + JSON.stringify(d));
    });
  }
  await step('invalid input JSON is refused in the page, without a request', async () => {
    let posts = 0;
    const count = (req) => {
      if (req.method() === 'POST') posts++;
    };
    page.on('request', count);
    const r = await submit(page, 'blog4', '{"sleep":', '');
    page.off('request', count);
    expect(/not valid JSON/.test(r.text) && /error/.test(r.cls), 'result: ' + r.text);
    expect(posts === 0, posts + ' POST sent');
  });
  await step('a long job (sleep 30) runs', async () => {
    const r = await submit(page, 'blog4', '{"sleep":30}', '');
    expect(r.id, 'result: ' + r.text);
    id2 = r.id;
    console.log('# job canceled ' + id2);
    await waitState(page, id2, 'running', 60000);
  });
  if (id2) {
    await step('its Cancel button makes it canceled', async () => {
      await page.click('#jobs tr[data-job-id="' + id2 + '"] button.cancel');
      await waitState(page, id2, 'canceled', 30000);
      expect(
        (await page.$('#jobs tr[data-job-id="' + id2 + '"] button.cancel')) === null,
        'the Cancel button is still there',
      );
    });
    await step('the detail of the canceled job shows stages 2-4 still pending', async () => {
      await page.click('#jobs tr[data-job-id="' + id2 + '"] td.stage-text');
      await page.waitForFunction(
        (id) =>
          document.getElementById('d-title').textContent === id &&
          document.querySelectorAll('#d-body .stage').length === 4,
        id2,
        { timeout: 10000 },
      );
      const states = await page.evaluate(() =>
        Array.from(document.querySelectorAll('#d-body .stage .badge')).map((b) => b.textContent),
      );
      expect(states.slice(1).every((s) => s === 'pending'), 'states ' + states.join(','));
    });
  }
  await step('the screenshot is saved (' + SHOT + ')', async () => {
    await page.screenshot({ path: SHOT, fullPage: true });
  });
  await step('at 380 px wide nothing overflows sideways', async () => {
    await page.setViewportSize({ width: 380, height: 800 });
    await page.waitForTimeout(300);
    const sw = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(sw <= 380, 'scrollWidth ' + sw);
    await page.screenshot({ path: SHOT.replace(/\.png$/, '') + '-narrow.png', fullPage: true });
  });
  report(w, 'the page (no token)');
  await page.close();
}

async function tokenFlow(browser) {
  const page = await browser.newPage({ viewport: { width: 1024, height: 700 } });
  const w = watch(page);
  w.allow.push(/401/, /Unauthorized/i);
  await step('with a token set, the page itself loads without it', async () => {
    const r = await page.goto(TOKEN_URL + '/', { waitUntil: 'load', timeout: 20000 });
    expect(r && r.status() === 200, 'status ' + (r && r.status()));
  });
  await step('... and asks for the token', async () => {
    await page.waitForFunction(() => /needs a token/.test(document.getElementById('banner').textContent), null, {
      timeout: 10000,
    });
    expect((await page.textContent('#conn')) !== 'live', 'live without a token');
  });
  await step('with the token typed in, it loads pipelines and goes live (SSE via ?access_token=)', async () => {
    w.allow.length = 0; // from here on, no 401 is expected
    await page.fill('#token', TOKEN);
    await page.click('#token-save');
    await page.waitForFunction(
      () =>
        document.getElementById('conn').textContent === 'live' &&
        document.querySelectorAll('#pipeline option').length > 0 &&
        document.getElementById('banner').textContent === '',
      null,
      { timeout: 20000 },
    );
  });
  await step('the token is kept in sessionStorage across a reload', async () => {
    const before = w.failed.length;
    await page.reload({ waitUntil: 'load', timeout: 20000 });
    // the reload itself aborts the open event stream and any fetch in flight
    w.failed = w.failed.filter((f, i) => i < before || !/ net::ERR_ABORTED$/.test(f));
    await page.waitForFunction(() => document.getElementById('conn').textContent === 'live', null, {
      timeout: 20000,
    });
  });
  report(w, 'the page (token)');
  if (process.env.DASH_TOKEN_API_PID && process.env.DASH_RESPAWN) {
    await step('when the API stops, the badge says "reconnecting"', async () => {
      process.kill(Number(process.env.DASH_TOKEN_API_PID), 'SIGTERM');
      await page.waitForFunction(() => document.getElementById('conn').textContent === 'reconnecting', null, {
        timeout: 20000,
      });
    });
    await step('when the API is back on its port, the page goes "live" again by itself', async () => {
      await respawnApi();
      await page.waitForFunction(() => document.getElementById('conn').textContent === 'live', null, {
        timeout: 60000,
      });
    });
  }
  await page.close();
}

// Starts DASH_RESPAWN; while the old process still holds the port the new one
// exits at once: try again, at most 40 times 0.5 s.
async function respawnApi() {
  const argv = process.env.DASH_RESPAWN.split(/\s+/).filter(Boolean);
  const log = fs.openSync(process.env.DASH_RESPAWN_LOG || '/dev/null', 'a');
  for (let i = 0; i < 40; i++) {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', log, log] });
    const exited = await new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), 1000);
      child.once('exit', () => {
        clearTimeout(t);
        resolve(true);
      });
    });
    if (!exited) {
      respawned = child;
      console.log('# respawned api pid ' + child.pid);
      return;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error('the API did not start again');
}

async function stopRespawned() {
  if (!respawned || respawned.exitCode !== null) return;
  const gone = new Promise((resolve) => respawned.once('exit', resolve));
  respawned.kill('SIGTERM');
  const t = setTimeout(() => respawned.kill('SIGKILL'), 10000);
  await gone;
  clearTimeout(t);
}

function report(w, what) {
  const show = (a) => JSON.stringify(a.slice(0, 5));
  if (w.console.length === 0) ok(what + ': no console error or warning');
  else notOk(what + ': no console error or warning', show(w.console));
  if (w.pageErrors.length === 0) ok(what + ': no uncaught exception');
  else notOk(what + ': no uncaught exception', show(w.pageErrors));
  if (w.failed.length === 0 && w.bad.length === 0) ok(what + ': no failed request');
  else notOk(what + ': no failed request', show(w.failed.concat(w.bad)));
  if (w.expected.length) console.log('# provoked on purpose: ' + show(w.expected));
}

(async () => {
  let browser = null;
  const guard = setTimeout(() => {
    notOk('the browser run ends within 280 s');
    if (respawned) respawned.kill('SIGKILL');
    process.exit(1);
  }, 280000);
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      timeout: 60000,
      args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking'],
    });
    ok('headless Chromium starts (' + browser.version() + ')');
  } catch (e) {
    notOk('headless Chromium starts', e.message);
    process.exit(1);
  }
  try {
    await mainFlow(browser);
    if (TOKEN_URL) await tokenFlow(browser);
  } catch (e) {
    notOk('the browser run completes', e.stack || e.message);
  } finally {
    await browser.close().catch(() => {});
    await stopRespawned().catch(() => {});
    clearTimeout(guard);
  }
  console.log('# screenshot: ' + path.resolve(SHOT));
  process.exit(fails === 0 ? 0 : 1);
})();
