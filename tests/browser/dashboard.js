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
let queuesStatus = null; // what GET /v1/queues answers (404: an API without it)
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
  // an API without GET /v1/queues answers 404 to the page's probe of it
  const always = queuesStatus === 404 ? [/^404 GET .*\/v1\/queues$/, /status of 404 \(Not Found\)/] : [];
  const allowed = (text) => w.allow.some((re) => re.test(text)) || always.some((re) => re.test(text));
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

// A chart series (a polyline the page draws): the values it shows (its
// data-values) and its points [[x, y]]; null when the page drew none.
async function series(page, sel) {
  return page.evaluate((s) => {
    const e = document.querySelector(s);
    if (!e) return null;
    const v = (e.getAttribute('data-values') || '').split(',').filter((x) => x !== '').map(Number);
    const pts = (e.getAttribute('points') || '').split(' ').filter(Boolean).map((p) => p.split(',').map(Number));
    return { values: v, points: pts };
  }, sel);
}

// Waits until the series sel shows a value above 0 (what 'any'), or ends
// with a value of at least 1 (what 'last'); the chart samples GET /metrics
// every 5 s. (No function is passed in: the page's CSP forbids eval.)
async function waitSeries(page, sel, what, timeoutMs) {
  await page.waitForFunction(
    ([s, w]) => {
      const e = document.querySelector(s);
      if (!e) return false;
      const v = (e.getAttribute('data-values') || '').split(',').filter((x) => x !== '').map(Number);
      return w === 'any' ? v.some((x) => x > 0) : v.length > 0 && v[v.length - 1] >= 1;
    },
    [sel, what],
    { timeout: timeoutMs, polling: 250 },
  );
}

// The stage timeline of the detail panel: one entry per row.
// The timeline's rows, each with the scale (px per s) it was drawn at, read
// in one go: a running stage's timeline is redrawn as time goes, its scale
// stepping down as the time shown grows.
async function timeline(page) {
  return page.evaluate(() => {
    const pic = document.getElementById('d-timeline');
    const scale = pic ? Number(pic.getAttribute('data-px-per-s')) : NaN;
    return Array.from(document.querySelectorAll('#d-timeline .tl-row')).map((g) => {
      const bar = g.querySelector('rect.tl-bar');
      const exp = g.querySelector('rect.tl-exp');
      const r = (e) => e && { x: Number(e.getAttribute('x')), w: Number(e.getAttribute('width')), s: Number(e.getAttribute('data-s')) };
      return { stage: g.getAttribute('data-stage'), state: g.getAttribute('data-state'), bar: r(bar), exp: r(exp),
        cls: bar ? bar.getAttribute('class') : null, scale };
    });
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
    await page.waitForFunction(() => document.querySelectorAll('#schedules tbody tr').length === 3, null, {
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
    expect(got.length === 3, 'rows ' + JSON.stringify(got));
    for (let i = 0; i < 3; i++) {
      expect(got[i][0] === want[i][0] && got[i][1] === want[i][1], JSON.stringify(got[i]) + ' vs ' + JSON.stringify(want[i]));
      expect(got[i][2] !== '' && got[i][2] !== 'never', 'a next run is shown: ' + got[i][2]);
    }
    expect(got[0][3] === '0 0 1 1 * (Asia/Tokyo)', 'the cron and its timezone: ' + got[0][3]);
    expect(got[1][3] === 'every 3600 s', 'every_s: ' + got[1][3]);
    expect(got[2][3] === '5-59/20 * * * * (Asia/Kolkata)', 'the third cron: ' + got[2][3]);
  });
  await step("the schedules picture shows each schedule's runs in the coming hour", async () => {
    await page.waitForFunction(() => document.querySelectorAll('#sched-chart .sc-row').length === 3, null, {
      timeout: 20000,
    });
    const d = await page.evaluate(() => {
      const pic = document.getElementById('sched-chart');
      return {
        from: Date.parse(pic.getAttribute('data-from')),
        to: Date.parse(pic.getAttribute('data-to')),
        label: pic.getAttribute('aria-labelledby'),
        text: document.getElementById('sched-text').textContent,
        // the next run the page got in the same reply (the table's cells)
        next: Array.from(document.querySelectorAll('#schedules tbody tr')).map((tr) => tr.cells[3].getAttribute('data-time')),
        rows: Array.from(pic.querySelectorAll('.sc-row')).map((g) => ({
          name: g.getAttribute('data-name'),
          count: Number(g.getAttribute('data-count')),
          ticks: Array.from(g.querySelectorAll('.sc-tick')).map((t) => t.getAttribute('data-t')),
          text: g.textContent,
        })),
      };
    });
    console.log('# schedules picture: ' + JSON.stringify(d.rows.map((r) => [r.name, r.ticks])));
    expect(d.rows.map((r) => r.name).join() === 'dash-yearly,dash-hourly,dash-kolkata', 'lanes ' + JSON.stringify(d.rows));
    expect(d.to - d.from === 3600000, 'the window is an hour: ' + (d.to - d.from));
    expect(d.label === 'sched-h sched-text', 'named by its heading and text: ' + d.label);
    for (const r of d.rows) {
      expect(r.ticks.length === r.count, r.name + ': ' + r.ticks.length + ' ticks, data-count ' + r.count);
      for (const t of r.ticks) expect(Date.parse(t) > d.from && Date.parse(t) <= d.to, r.name + ': tick ' + t + ' outside the hour');
    }
    const [yearly, hourly, kolkata] = d.rows;
    expect(yearly.count === 0 && /next .*\u2192/.test(yearly.text), 'yearly: no run this hour, its next run named: ' + yearly.text);
    expect(hourly.count === 1 && hourly.ticks[0] === d.next[1], 'hourly: one run, at its next_run ' + d.next[1] + ': ' + hourly.ticks);
    // local minutes 5, 25, 45 in UTC+5:30: UTC minutes 35, 55, 15 (a page that
    // ignored the time zone would disagree with next_run and draw one tick)
    expect(kolkata.count === 3, 'the Kolkata cron runs 3 times an hour: ' + kolkata.ticks);
    expect(kolkata.ticks[0] === d.next[2], 'its first tick is next_run ' + d.next[2] + ': ' + kolkata.ticks[0]);
    for (const t of kolkata.ticks) {
      const u = new Date(t);
      expect([15, 35, 55].includes(u.getUTCMinutes()) && u.getUTCSeconds() === 0, 'Kolkata tick at ' + t);
    }
    expect(/dash-kolkata: 3 runs/.test(d.text), 'the text equivalent: ' + d.text);
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
    /* the pool serves two queues (--queues default:3,spare:1): both, weighted, in its order */
    const cells = await page.$$eval('#workers tbody tr', (rows) => rows.map((r) => r.cells[1] && r.cells[1].textContent));
    expect(cells.includes('default:3, spare:1'), 'a worker row lists its queues: ' + JSON.stringify(cells));
  });

  let chartH = null;
  await step('the throughput chart is drawn from GET /metrics: succeeded, failed and a depth line per queue', async () => {
    await page.waitForFunction(() => Number(document.getElementById('chart').getAttribute('data-samples')) >= 2, null, {
      timeout: 30000,
    });
    const queues = await page.evaluate(async () => {
      const r = await fetch('/v1/stats', { headers: { Accept: 'application/json' } });
      return Object.keys((await r.json()).queues).sort();
    });
    const d = await page.evaluate(() => {
      const pic = document.getElementById('chart');
      return {
        role: pic.getAttribute('role'),
        label: pic.getAttribute('aria-labelledby'),
        height: pic.getBoundingClientRect().height,
        depth: Array.from(pic.querySelectorAll('polyline[data-series="depth"]')).map((e) => e.getAttribute('data-queue')),
        legend: document.getElementById('chart-legend').textContent,
        text: document.getElementById('chart-text').textContent,
      };
    });
    const ok = await series(page, '#chart polyline[data-series="succeeded"]');
    const failed = await series(page, '#chart polyline[data-series="failed"]');
    console.log('# chart: ' + JSON.stringify({ d, ok, failed }));
    expect(d.role === 'img' && d.label === 'chart-h chart-text', 'role/label ' + d.role + ' ' + d.label);
    expect(ok && ok.values.length >= 1 && ok.points.length === ok.values.length, 'succeeded series ' + JSON.stringify(ok));
    expect(failed && failed.values.length === ok.values.length, 'failed series ' + JSON.stringify(failed));
    expect(JSON.stringify(d.depth) === JSON.stringify(queues), 'depth lines ' + d.depth + ' vs queues ' + queues);
    for (const q of queues) expect(d.legend.includes('queued: ' + q), 'legend: ' + d.legend);
    expect(/succeeded\/s and [0-9.]+ failed\/s/.test(d.text) && /Queued: /.test(d.text), 'text: ' + d.text);
    chartH = d.height;
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
    await step("the chart's succeeded series rises after the job finished (drawn above its zero line)", async () => {
      await waitSeries(page, '#chart polyline[data-series="succeeded"]', 'any', 30000);
      const ok = await series(page, '#chart polyline[data-series="succeeded"]');
      const text = await page.textContent('#chart-text');
      console.log('# succeeded/s: ' + ok.values.join(',') + ' | ' + text);
      const top = ok.values.indexOf(Math.max(...ok.values));
      const zero = ok.values.indexOf(0);
      if (zero >= 0) expect(ok.points[top][1] < ok.points[zero][1], 'the peak is drawn higher than a zero: ' + JSON.stringify(ok.points));
      const n = Number((text.match(/: ([0-9]+) succeeded,/) || [])[1]);
      expect(n >= 1, 'the text counts the job: ' + text);
      const h = await page.evaluate(() => document.getElementById('chart').getBoundingClientRect().height);
      expect(h === chartH, 'the chart keeps its height: ' + chartH + ' then ' + h);
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
    await step('its timeline: one bar per stage, scaled by its duration, beside a ghost bar of its expected time', async () => {
      const st = await page.evaluate(async (id) => {
        const r = await fetch('/v1/jobs/' + id, { headers: { Accept: 'application/json' } });
        return (await r.json()).stages;
      }, id1);
      const tl = await timeline(page);
      console.log('# timeline: ' + JSON.stringify(tl));
      expect(tl.length === 4, tl.length + ' rows');
      const scale = tl[0].scale;
      tl.forEach((r, i) => {
        expect(r.state === 'succeeded' && r.cls === 'tl-bar succeeded', 'row ' + (i + 1) + ' ' + r.state + ' ' + r.cls);
        expect(Math.abs(r.bar.s - st[i].duration_s) < 0.002, 'row ' + (i + 1) + ' took ' + r.bar.s + ', the API says ' + st[i].duration_s);
        expect(Math.abs(r.bar.w - r.bar.s * scale) <= 1.5, 'row ' + (i + 1) + ': width ' + r.bar.w + ' for ' + r.bar.s + ' s');
        if (i > 0) expect(r.bar.x >= tl[i - 1].bar.x + tl[i - 1].bar.w - 1.5, 'row ' + (i + 1) + ' starts after row ' + i);
        if (typeof st[i].expected_s === 'number') {
          expect(r.exp && Math.abs(r.exp.s - st[i].expected_s) < 0.002 && r.exp.x === r.bar.x, 'row ' + (i + 1) + ' ghost ' + JSON.stringify(r.exp));
          expect(Math.abs(r.exp.w - r.exp.s * scale) <= 1.5, 'row ' + (i + 1) + ': ghost width ' + r.exp.w);
        } else {
          expect(!r.exp, 'row ' + (i + 1) + ' has a ghost without expected_s');
        }
      });
      expect(tl.some((r) => r.exp), 'no ghost bar: the first run of blog4 records its durations');
      const label = await page.getAttribute('#d-timeline', 'aria-label');
      expect(/^Stage timeline: one .*; two .*; three .*; four /.test(label), 'aria-label ' + label);
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
  let id3 = null;
  await step("a failing job (permanent) becomes failed, and the chart's failed series rises", async () => {
    const r = await submit(page, 'permanent', '{}', '');
    expect(r.id, 'result: ' + r.text);
    id3 = r.id;
    console.log('# job failed ' + id3);
    await waitState(page, id3, 'failed', 60000);
    await waitSeries(page, '#chart polyline[data-series="failed"]', 'any', 30000);
    const text = await page.textContent('#chart-text');
    expect(Number((text.match(/ ([0-9]+) failed\./) || [])[1]) >= 1, 'the text counts it: ' + text);
  });
  await step("a job on a queue no worker serves (slowdemo, queue slow) shows in that queue's depth line", async () => {
    const r = await submit(page, 'slowdemo', '{}', '');
    expect(r.id, 'result: ' + r.text);
    console.log('# job waiting ' + r.id);
    await waitSeries(page, '#chart polyline[data-queue="slow"]', 'last', 30000);
    const text = await page.textContent('#chart-text');
    expect(/slow [1-9]/.test(text), 'the text: ' + text);
  });
  await step('a long job (sleep 30) runs', async () => {
    const r = await submit(page, 'blog4', '{"sleep":30}', '');
    expect(r.id, 'result: ' + r.text);
    id2 = r.id;
    console.log('# job canceled ' + id2);
    await waitState(page, id2, 'running', 60000);
  });
  await step('a stage that sends no event (8 s of sleep): its running bar grows between two samples 1.5 s apart', async () => {
    const id = await page.evaluate(async () => {
      const r = await fetch('/v1/jobs', { method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ pipeline: 'quiet', input: {} }) });
      return (await r.json()).id;
    });
    expect(id, 'no id');
    await page.waitForSelector('#jobs tr[data-job-id="' + id + '"]', { timeout: 10000 });
    await waitState(page, id, 'running', 60000);
    await page.click('#jobs tr[data-job-id="' + id + '"] td.stage-text');
    await page.waitForFunction(
      (jid) => document.getElementById('d-title').textContent === jid && document.querySelector('#d-timeline rect.tl-bar.running'),
      id,
      { timeout: 10000 },
    );
    await page.waitForTimeout(300); // the status read by the click has come
    const a = await timeline(page);
    await page.waitForTimeout(1500);
    const b = await timeline(page);
    console.log('# running bar: ' + JSON.stringify([a[0], b[0]]));
    expect(a.length === 1 && b.length === 1 && a[0].bar && b[0].bar, 'rows ' + JSON.stringify([a, b]));
    const scale = b[0].scale; // the one it was drawn at
    expect(Math.abs(b[0].bar.w - b[0].bar.s * scale) <= 1.5, 'width ' + b[0].bar.w + ' for ' + b[0].bar.s + ' s at ' + scale + ' px/s');
    if (b[0].state === 'running') {
      // (the scale may step up between the samples: the time grows, the width follows it)
      expect(b[0].bar.s > a[0].bar.s, 'the running bar did not grow: ' + JSON.stringify([a[0].bar, b[0].bar]));
    } else {
      console.log('# the stage ended between the samples (a slow machine): not checked');
    }
  });
  if (id2) {
    await step("the running job's timeline: the running stage has a bar, later stages are ghosts after it", async () => {
      await page.click('#jobs tr[data-job-id="' + id2 + '"] td.stage-text');
      await page.waitForFunction(
        (id) => document.getElementById('d-title').textContent === id && document.querySelector('#d-timeline rect.tl-bar.running'),
        id2,
        { timeout: 10000 },
      );
      const b = await timeline(page);
      expect(b.length === 4 && b[0].state === 'running' && b[0].bar, 'rows ' + JSON.stringify(b));
      for (let i = 1; i < 4; i++) {
        expect(b[i].state === 'pending' && !b[i].bar, 'stage ' + (i + 1) + ' ' + JSON.stringify(b[i]));
        expect(b[i].exp && b[i].exp.x >= b[i - 1].exp.x + b[i - 1].exp.w - 1.5, 'stage ' + (i + 1) + ' ghost after stage ' + i + ': ' + JSON.stringify(b));
      }
    });
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
  await buttons(page, w, queuesStatus, id1, id2, id3);
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

// The queue's Pause/Resume buttons and the job's Retry button. An API with GET
// /v1/queues drives them for real; one without it (404) must show none of them,
// and then the page is checked against the contract with those routes answered
// in the browser (GET /v1/queues, POST /v1/queues/{q}/pause|resume, POST
// /v1/jobs/{id}/retry): the requests it sends and how it shows the answers.
async function buttons(page, w, status, id1, id2, id3) {
  const queueRow = (q) => '#queues tr[data-queue="' + q + '"]';
  if (status === 404) {
    await step('GET /v1/queues answers 404 here: no Pause/Resume and no Retry button', async () => {
      await page.waitForTimeout(1500); // a stats round after the probe
      const d = await page.evaluate(() => ({
        head: document.getElementById('q-act-head').classList.contains('hidden'),
        qButtons: document.querySelectorAll('#queues button').length,
        retries: document.querySelectorAll('#jobs button.retry').length,
        rows: document.querySelectorAll('#queues tbody tr').length,
      }));
      expect(d.head && d.qButtons === 0 && d.retries === 0 && d.rows > 0, JSON.stringify(d));
      if (id3) {
        await page.click('#jobs tr[data-job-id="' + id3 + '"] td.stage-text');
        await page.waitForFunction((id) => document.getElementById('d-title').textContent === id, id3, { timeout: 10000 });
        expect(await page.isHidden('#d-retry'), 'Retry offered for the failed job');
      }
    });
    const sent = [];
    const paused = {};
    await page.route(/\/v1\/queues$/, (route) => {
      const names = ['default', 'idle', 'slow'];
      route.fulfill({ json: { queues: names.map((n) => ({ name: n, queued: 0, scheduled: 0, paused: !!paused[n],
        paused_at: paused[n] ? new Date().toISOString() : null, rate_limit: null })) } });
    });
    await page.route(/\/v1\/queues\/[^/]+\/(pause|resume)$/, (route) => {
      const req = route.request();
      const m = req.url().match(/\/v1\/queues\/([^/]+)\/(pause|resume)$/);
      sent.push(req.method() + ' ' + m[0]);
      paused[decodeURIComponent(m[1])] = m[2] === 'pause';
      route.fulfill({ json: { queue: decodeURIComponent(m[1]), paused: m[2] === 'pause' } });
    });
    await page.route(/\/v1\/jobs\/[^/]+\/retry$/, (route) => {
      const req = route.request();
      sent.push(req.method() + ' ' + req.url().replace(/^.*(\/v1\/)/, '$1'));
      route.fulfill({ status: 200, json: { id: req.url().split('/').slice(-2)[0], state: 'queued' } });
    });
    const before = w.failed.length;
    await page.reload({ waitUntil: 'load', timeout: 20000 });
    w.failed = w.failed.filter((f, i) => i < before || !/ net::ERR_ABORTED$/.test(f));
    await step('with GET /v1/queues (answered in the browser): a Pause button per queue; it POSTs /v1/queues/{q}/pause', async () => {
      await page.waitForSelector(queueRow('slow') + ' button.pause', { timeout: 20000 });
      expect(await page.isVisible('#q-act-head'), 'the column is hidden');
      expect((await page.getAttribute(queueRow('slow') + ' button.pause', 'aria-label')) === 'Pause queue slow', 'aria-label');
      await page.click(queueRow('slow') + ' button.pause');
      await page.waitForSelector(queueRow('slow') + ' button.resume', { timeout: 10000 });
      expect(sent.join() === 'POST /v1/queues/slow/pause', 'sent ' + sent.join());
      expect((await page.textContent(queueRow('slow') + ' .badge')) === 'paused', 'no paused badge');
      expect((await page.$(queueRow('default') + ' .badge')) === null, 'default shown paused');
    });
    await step('... and Resume POSTs /v1/queues/{q}/resume and the queue shows running again', async () => {
      await page.click(queueRow('slow') + ' button.resume');
      await page.waitForSelector(queueRow('slow') + ' button.pause', { timeout: 10000 });
      expect(sent.slice(1).join() === 'POST /v1/queues/slow/resume', 'sent ' + sent.join());
      expect((await page.$(queueRow('slow') + ' .badge')) === null, 'still a paused badge');
    });
    await step('Retry on the failed and the canceled job (not the succeeded one); it POSTs /v1/jobs/{id}/retry', async () => {
      await page.waitForSelector('#jobs tr[data-job-id="' + id3 + '"] button.retry', { timeout: 20000 });
      expect((await page.$('#jobs tr[data-job-id="' + id2 + '"] button.retry')) !== null, 'no Retry on the canceled job');
      expect((await page.$('#jobs tr[data-job-id="' + id1 + '"] button.retry')) === null, 'Retry on a succeeded job');
      await page.click('#jobs tr[data-job-id="' + id3 + '"] td.stage-text');
      await page.waitForFunction((id) => document.getElementById('d-title').textContent === id, id3, { timeout: 10000 });
      await page.click('#d-retry');
      for (let i = 0; i < 50 && sent.length < 3; i++) await page.waitForTimeout(100);
      expect(sent[2] === 'POST /v1/jobs/' + id3 + '/retry', 'sent ' + sent.join());
    });
    await page.unroute(/\/v1\/queues$/);
    await page.unroute(/\/v1\/queues\/[^/]+\/(pause|resume)$/);
    await page.unroute(/\/v1\/jobs\/[^/]+\/retry$/);
    return;
  }
  // the API has the routes: the buttons for real, on the queue "idle" (no worker
  // serves it) and the failed job (it fails again: its errors grow)
  const qPaused = (q) =>
    page.evaluate(async (name) => {
      const r = await (await fetch('/v1/queues', { headers: { Accept: 'application/json' } })).json();
      const list = Array.isArray(r.queues) ? r.queues : Object.keys(r.queues).map((k) => Object.assign({ name: k }, r.queues[k]));
      return (list.find((x) => x.name === name) || {}).paused;
    }, q);
  await step('GET /v1/queues answers 200: Pause on queue idle pauses it (GET /v1/queues says paused)', async () => {
    expect(status === 200, 'GET /v1/queues answers ' + status);
    await page.waitForSelector(queueRow('idle') + ' button.pause', { timeout: 20000 });
    await page.click(queueRow('idle') + ' button.pause');
    await page.waitForSelector(queueRow('idle') + ' button.resume', { timeout: 10000 });
    expect((await qPaused('idle')) === true, 'idle is not paused');
  });
  await step('... and Resume resumes it', async () => {
    await page.click(queueRow('idle') + ' button.resume');
    await page.waitForSelector(queueRow('idle') + ' button.pause', { timeout: 10000 });
    expect((await qPaused('idle')) === false, 'idle is still paused');
  });
  if (id3) {
    await step('Retry on the failed job runs it again (its errors grow to 2)', async () => {
      await page.waitForSelector('#jobs tr[data-job-id="' + id3 + '"] button.retry', { timeout: 20000 });
      await page.click('#jobs tr[data-job-id="' + id3 + '"] button.retry');
      await page.waitForFunction(
        async (id) => {
          const r = await fetch('/v1/jobs/' + id, { headers: { Accept: 'application/json' } });
          const j = await r.json();
          return j.state === 'failed' && Array.isArray(j.errors) && j.errors.length >= 2;
        },
        id3,
        { timeout: 60000, polling: 500 },
      );
    });
  }
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
    queuesStatus = await fetch(BASE + '/v1/queues').then((r) => r.status).catch((e) => String(e));
    console.log('# GET /v1/queues answers ' + queuesStatus);
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
