/**
 * The dashboard in a real browser: Debian's Chromium driven by playwright-core (never a downloaded
 * browser), against a real manager with the starter policy and a simulated fleet of real agents. An
 * operator signs in, filters the fleet, isolates a device after confirming, watches a brute-force alert
 * arrive without reloading and acknowledges it, follows a rollout's phases and pauses it, opens an
 * incident and ticks a playbook step, captures evidence; a viewer finds no action buttons. Screenshots go
 * to test-results/ (gitignored).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type CliIo, runEdgeward } from '@edgeward/cli';
import {
  type AlertListView,
  createRolloutRequestSchema,
  type FleetOverviewView,
  type NewDeviceEvent,
  type RolloutView,
} from '@edgeward/core';
import { type FleetSimulation, startFleetSimulation } from '@edgeward/sim';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { httpsJson } from './support/https-json.ts';
import { eventually, silentLogger, startTestManager, type TestManager } from './support/test-manager.ts';

const chromiumPath = process.env.EDGEWARD_TEST_CHROMIUM ?? '/usr/bin/chromium';
const results = new URL('../test-results/', import.meta.url).pathname;
const RULE = 'ew-auth-brute-force-user';
const PLANT_A = 8;
const PLANT_B = 6;
const system = { id: 'system', name: 'system', role: 'admin' } as const;

let hub: TestManager;
let work: string;
const simulations: FleetSimulation[] = [];
let browser: Browser;
let operatorContext: BrowserContext;
let page: Page;
let viewerToken: string;
let isolatedDevice: string;
let rollout: RolloutView;
/** Script errors and refusals by the content security policy, in any page the tests open. */
const pageProblems: string[] = [];

function simulate(
  count: number,
  firstIndex: number,
  labels: Record<string, string>,
  updates?: { pollMs: number },
): FleetSimulation {
  const simulation = startFleetSimulation({
    ...(updates === undefined ? {} : { updates }),
    devices: count,
    firstIndex,
    labels,
    managerUrl: hub.deviceUrl,
    caFingerprint: hub.manager.pki.caFingerprint,
    createEnrollmentToken: async (_index, tokenLabels) =>
      (await hub.manager.services.tokens.create(system, tokenLabels, 600_000)).token,
    dataRoot: join(work, 'fleet'),
    reportIntervalMs: 1000,
    checkFailRate: 0.15,
    agentSettings: { policyPollMs: 1000, retryInitialMs: 50, retryMaxMs: 500, shutdownGraceMs: 1000 },
    logger: silentLogger,
  });
  simulations.push(simulation);
  return simulation;
}

async function overview(): Promise<FleetOverviewView> {
  const reply = await httpsJson<FleetOverviewView>(new URL('/api/v1/fleet/overview', hub.operatorUrl), {
    method: 'GET',
    ca: hub.manager.pki.rootCaPem,
    token: hub.adminToken,
  });
  return reply.body;
}

async function screenshot(target: Page, name: string): Promise<void> {
  await target.screenshot({ path: join(results, `${name}.png`), fullPage: true });
}

function watch(tab: Page): Page {
  tab.on('pageerror', (error) => pageProblems.push(`${tab.url()}: ${error.message}`));
  tab.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy|Refused to/.test(message.text())) {
      pageProblems.push(`${tab.url()}: ${message.text()}`);
    }
  });
  return tab;
}

async function signIn(context: BrowserContext, token: string): Promise<Page> {
  const tab = watch(await context.newPage());
  await tab.goto(hub.operatorUrl);
  await tab.getByLabel('Operator token').fill(token);
  await tab.getByRole('button', { name: 'Sign in' }).click();
  await tab.getByRole('navigation', { name: 'Main' }).waitFor();
  return tab;
}

before(async () => {
  assert.ok(
    existsSync(chromiumPath),
    `no Chromium at ${chromiumPath}: install Debian's (apt-get install chromium; .ci/run does) or set EDGEWARD_TEST_CHROMIUM`,
  );
  await mkdir(results, { recursive: true });
  work = await mkdtemp(join(tmpdir(), 'ew-dashboard-e2e-'));
  hub = await startTestManager({ liveFleetPollMs: 500, rolloutTickMs: 200 });
  const io: CliIo = {
    out: () => {},
    err: () => {},
    env: {},
    isTty: false,
    stopRequested: new Promise(() => {}),
  };
  const starter = new URL('../policies/starter', import.meta.url).pathname;
  const api = ['--api', hub.operatorUrl, '--data-dir', hub.dir, '--token', hub.adminToken];
  assert.equal(await runEdgeward(['policy', 'apply', starter, '-m', 'starter baseline', ...api], io), 0);
  const plantA = simulate(PLANT_A, 0, { site: 'plant-a', risk: 'high' });
  // Plant B's devices run the real updater on synthetic A/B slots, for the rollout.
  const plantB = simulate(PLANT_B, PLANT_A, { site: 'plant-b', risk: 'low' }, { pollMs: 500 });
  for (const simulation of [plantA, plantB]) {
    const ready = await simulation.ready();
    assert.equal(ready.failed, 0, JSON.stringify(ready.devices.filter((device) => device.error)));
  }
  // Every device online and reporting compliance, so that the overview has segments to show.
  await eventually(
    async () => {
      const figures = await overview();
      return (
        figures.devices.online === PLANT_A + PLANT_B &&
        figures.bySegment.every((segment) => segment.segment !== 'unreported')
      );
    },
    'the simulated fleet online with compliance reports',
    60_000,
  );
  viewerToken = (await hub.manager.services.operators.create(system, 'vera', 'viewer')).token;
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    // launch() gives every run a fresh temporary profile of its own.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  operatorContext = await browser.newContext({
    ignoreHTTPSErrors: true,
    viewport: { width: 1366, height: 900 },
  });
});

after(async () => {
  await browser?.close();
  await Promise.all(simulations.map((simulation) => simulation.stop()));
  await hub?.close();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

test('an operator signs in with a token and sees the simulated fleet on the overview', async () => {
  page = await signIn(operatorContext, hub.adminToken);
  await assertText(page.getByTestId('card-total'), String(PLANT_A + PLANT_B));
  await assertText(page.getByTestId('card-online'), String(PLANT_A + PLANT_B));
  await page.getByRole('heading', { name: 'Compliance by segment' }).waitFor();
  await page.getByRole('img', { name: /Devices by site: plant-a 8, plant-b 6/ }).waitFor();
  await page.getByRole('img', { name: /Compliance by segment: critical-ot/ }).waitFor();
  // This manager has rollouts and incidents: both are in the navigation.
  const navigation = page.getByRole('navigation', { name: 'Main' });
  await navigation.getByRole('link', { name: 'Rollouts' }).waitFor();
  await navigation.getByRole('link', { name: 'Incidents' }).waitFor();
  await screenshot(page, 'dashboard-overview');
  // The session lives in an httpOnly cookie: the page's script cannot read it.
  assert.equal(await page.evaluate('document.cookie'), '');
});

test('the device table filters by site, status and search, and pages on the server', async () => {
  await page.getByRole('link', { name: 'Devices', exact: true }).click();
  await assertText(page.getByTestId('device-total'), `${PLANT_A + PLANT_B} devices`);
  await page.getByLabel('Site').selectOption('plant-b');
  await assertText(page.getByTestId('device-total'), `${PLANT_B} devices`);
  await page.getByLabel('Status').selectOption('offline');
  await assertText(page.getByTestId('device-total'), '0 devices');
  await page.getByLabel('Status').selectOption('online');
  await assertText(page.getByTestId('device-total'), `${PLANT_B} devices`);
  assert.match(page.url(), /site=plant-b/);
  await page.getByLabel('Site').selectOption('');
  await page.getByLabel('Search').fill('sim-00003');
  await assertText(page.getByTestId('device-total'), '1 device');
  await screenshot(page, 'dashboard-devices');
});

test('an operator opens a device and isolates it after confirming, and sees it isolated', async () => {
  await page.getByRole('link', { name: 'sim-00003' }).click();
  await page.getByRole('heading', { name: /sim-00003/ }).waitFor();
  isolatedDevice = decodeURIComponent(page.url().split('#/devices/')[1] ?? '');
  await page.getByRole('button', { name: 'Isolate', exact: true }).click();
  const dialog = page.getByRole('dialog', { name: 'Isolate sim-00003?' });
  await dialog.waitFor();
  // Cancelling changes nothing.
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  assert.equal((await hub.manager.services.commands.isolation(isolatedDevice)).desired, null);
  await page.getByRole('button', { name: 'Isolate', exact: true }).click();
  await dialog.getByLabel(/Reason/).fill('suspicious outbound traffic');
  await dialog.getByRole('button', { name: 'Isolate device' }).click();
  // The agent carries the command out and reports back; the page hears of it without a reload.
  await page
    .getByTestId('isolation-badge')
    .filter({ hasText: /^isolated$/ })
    .waitFor({ timeout: 30_000 });
  await assertText(page.getByTestId('isolation-state'), /device reports isolated/);
  await page.getByRole('button', { name: 'Release', exact: true }).waitFor();
  const isolation = await hub.manager.services.commands.isolation(isolatedDevice);
  assert.equal(isolation.desired, 'isolated');
  assert.equal(isolation.reported?.isolated, true);
  await screenshot(page, 'dashboard-device-isolated');
});

test('the alert of a brute-force attempt appears without reloading, and the operator acknowledges it', async () => {
  await page.getByRole('link', { name: 'Alerts', exact: true }).click();
  await page.getByRole('heading', { name: 'Alerts', exact: true }).waitFor();
  const target = simulations[0]?.agents[5];
  assert.ok(target);
  const now = Date.now();
  const failures: NewDeviceEvent[] = Array.from({ length: 6 }, (_, index) => ({
    type: 'auth.login_failed',
    severity: 'medium',
    time: now + index,
    data: { user: 'root', sourceAddress: '203.0.113.77', method: 'password' },
  }));
  await target.emit(failures);
  const row = page.locator(`tr[data-rule="${RULE}"]`);
  await row.waitFor({ timeout: 30_000 });
  await screenshot(page, 'dashboard-alerts');
  await row.getByRole('button', { name: /^Acknowledge/ }).click();
  const acknowledged = await eventually(async () => {
    const list: AlertListView = await hub.manager.services.alerts.list({ rule: RULE, limit: 10 });
    return list.alerts.find((alert) => alert.state === 'acknowledged');
  }, 'the alert acknowledged');
  assert.equal(acknowledged.ruleId, RULE);
  // Gone from the open alerts, shown as acknowledged among all of them.
  await row.waitFor({ state: 'detached' });
  await page.getByLabel('State').selectOption('all');
  await assertText(page.locator(`tr[data-rule="${RULE}"]`).getByTestId('alert-state'), 'acknowledged');
  // The overview after the response: one isolated device, one alert raised today.
  await page.getByRole('link', { name: 'Overview', exact: true }).click();
  await assertText(page.getByTestId('card-isolated'), '1');
  await page.getByRole('img', { name: /Alerts raised per day: .* 1$/ }).waitFor();
  await screenshot(page, 'dashboard-overview-after-response');
});

test("a rollout's page shows its phases filling without reloading, and the operator pauses it after confirming", async () => {
  await hub.manager.services.artifacts.upload(system, Buffer.from(`firmware 1.0\n${'x'.repeat(4096)}`), {
    name: 'firmware',
    version: '1.0',
    severity: 'high',
    compat: {},
  });
  // A long soak after each phase keeps the rollout running in its canary phase once the canaries commit.
  rollout = (await hub.manager.services.rollouts.create(
    system,
    createRolloutRequestSchema.parse({
      artifact: { name: 'firmware', version: '1.0' },
      selector: { site: 'plant-b' },
      phases: 'canary:2,100%',
      gates: { maxFailures: 0, minSuccessPercent: 100 },
      soakMs: 600_000,
    }),
  )) as RolloutView;
  await page.getByRole('link', { name: 'Rollouts', exact: true }).click();
  await page.getByRole('heading', { name: 'Rollouts', exact: true }).waitFor();
  await page.getByRole('link', { name: 'firmware 1.0' }).click();
  await page.getByRole('heading', { name: /firmware 1\.0/ }).waitFor();
  const canary = page.locator('tr[data-phase="canary:2"]');
  await canary.waitFor();
  await page.locator('tr[data-phase="100%"]').waitFor();
  await assertText(page.getByTestId('rollout-state'), 'created');
  await hub.manager.services.rollouts.act(system, rollout.id, 'start', 'dashboard test');
  // The page reads the rollout again while it runs: the canaries commit without a reload.
  await assertText(page.getByTestId('rollout-state'), 'running');
  await canary.getByTestId('phase-committed').filter({ hasText: /^2$/ }).waitFor({ timeout: 60_000 });
  await assertText(page.getByTestId('gate-failures'), /at most 0\s*0$/);
  await screenshot(page, 'dashboard-rollout');
  await page.getByRole('button', { name: 'Pause', exact: true }).click();
  const dialog = page.getByRole('dialog', { name: 'Pause the rollout of firmware 1.0?' });
  await dialog.waitFor();
  await dialog.getByLabel(/Reason/).fill('a plant-b line restarts tonight');
  await dialog.getByRole('button', { name: 'Pause rollout' }).click();
  await assertText(page.getByTestId('rollout-state'), 'paused');
  await page.getByRole('button', { name: 'Resume', exact: true }).waitFor();
  assert.equal((await hub.manager.services.rollouts.status(rollout.id)).state, 'paused');
  // The overview lists it among the rollouts in progress.
  await page.getByRole('link', { name: 'Overview', exact: true }).click();
  await page.getByRole('heading', { name: 'Rollouts in progress' }).waitFor();
  await assertText(page.getByTestId('card-rollouts'), '1');
});

test('an incident opened on a device shows its timeline, and a playbook step ticked, an assignment, a note and a state change made in the page are recorded', async () => {
  await page.goto(`${hub.operatorUrl}#/devices/${encodeURIComponent(isolatedDevice)}`);
  await page.getByRole('heading', { name: /sim-00003/ }).waitFor();
  const form = page.getByRole('form', { name: 'Open an incident' });
  await form.getByLabel('Title').fill('Unknown binary in /tmp');
  await form.getByLabel(/Type/).fill('malware');
  await form.getByRole('button', { name: 'Open incident' }).click();
  await page.getByRole('heading', { name: /Unknown binary in \/tmp/ }).waitFor();
  const incidentId = decodeURIComponent(page.url().split('#/incidents/')[1] ?? '');
  await assertText(page.getByTestId('incident-state'), 'open');
  const timeline = page.getByTestId('incident-timeline');
  await timeline.locator('li[data-kind="opened"]').waitFor();
  // The playbook for malware came with the incident; its first step is ticked from the page.
  const step = page.locator('li[data-step="capture"]').getByRole('checkbox');
  assert.equal(await step.isChecked(), false);
  await step.check();
  const ticked = await eventually(async () => {
    const incident = await hub.manager.services.incidents.show(incidentId);
    return incident.steps.find((candidate) => candidate.id === 'capture' && candidate.doneAt !== null);
  }, 'the capture step recorded as done');
  // Recorded under the name of the operator signed in to the page.
  const signedIn = ((await page.getByTestId('operator').textContent()) ?? '').replace(/ \(.*\)$/, '');
  assert.equal(ticked.doneBy, signedIn);
  await timeline.locator('li[data-kind="step"]').waitFor();
  const noteForm = page.getByRole('form', { name: 'Add a note' });
  await noteForm.getByLabel('Note on the incident').fill('hash sent to the malware team');
  await noteForm.getByRole('button', { name: 'Add note' }).click();
  await timeline
    .locator('li[data-kind="note"]')
    .filter({ hasText: 'hash sent to the malware team' })
    .waitFor();
  const assign = page.getByRole('form', { name: 'Assign' });
  await assign.getByLabel('Assignee').fill('vera');
  await assign.getByRole('button', { name: 'Assign' }).click();
  await assertText(page.getByTestId('incident-assignee'), 'vera');
  await timeline.locator('li[data-kind="assigned"]').waitFor();
  await page.getByLabel('New state').selectOption('contained');
  await page.getByRole('button', { name: 'Change state' }).click();
  await assertText(page.getByTestId('incident-state'), 'contained');
  assert.equal((await hub.manager.services.incidents.show(incidentId)).state, 'contained');
  await screenshot(page, 'dashboard-incident');
});

test('capturing evidence asks for confirmation first, and the verified bundle appears on the device', async () => {
  await page.goto(`${hub.operatorUrl}#/devices/${encodeURIComponent(isolatedDevice)}`);
  await page.getByRole('heading', { name: /sim-00003/ }).waitFor();
  const captures = async () =>
    (await hub.manager.services.commands.list(isolatedDevice)).commands.filter(
      (command) => command.kind === 'capture',
    ).length;
  await page.getByRole('button', { name: 'Capture', exact: true }).click();
  const dialog = page.getByRole('dialog', { name: 'Capture evidence from sim-00003?' });
  await dialog.waitFor();
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  assert.equal(await captures(), 0);
  await page.getByRole('button', { name: 'Capture', exact: true }).click();
  await dialog.getByLabel(/Reason/).fill('unknown binary in /tmp');
  await dialog.getByRole('button', { name: 'Capture evidence' }).click();
  await dialog.waitFor({ state: 'hidden' });
  assert.equal(await captures(), 1);
  // The device collects, signs and uploads; the page shows the bundle once the manager verified it.
  const bundle = page
    .getByTestId('evidence-list')
    .locator('li')
    .filter({ hasText: 'unknown binary in /tmp' });
  await bundle.filter({ hasText: 'verified' }).waitFor({ timeout: 60_000 });
  await screenshot(page, 'dashboard-device-capture');
  // The incident open on the device lists the bundle with its evidence.
  await page.getByRole('link', { name: 'Unknown binary in /tmp' }).click();
  await page
    .getByRole('region', { name: 'Evidence' })
    .getByText(/verified .* unknown binary in \/tmp/)
    .waitFor();
});

test('the device table and the isolate dialog work from the keyboard alone', async () => {
  const tab = watch(await operatorContext.newPage());
  try {
    await tab.goto(`${hub.operatorUrl}#/devices`);
    await assertText(tab.getByTestId('device-total'), `${PLANT_A + PLANT_B} devices`);
    const focused = () =>
      tab.evaluate(
        "document.activeElement?.getAttribute('name') ?? document.activeElement?.textContent ?? ''",
      );
    const tabTo = async (what: string) => {
      for (let presses = 0; presses < 60; presses++) {
        await tab.keyboard.press('Tab');
        if ((await focused()) === what) return;
      }
      assert.fail(`Tab never reached ${what}`);
    };
    await tabTo('search');
    await tab.keyboard.type('sim-00006');
    await assertText(tab.getByTestId('device-total'), '1 device');
    await tabTo('sim-00006');
    await tab.keyboard.press('Enter');
    await tab.getByRole('heading', { name: /sim-00006/ }).waitFor();
    await tabTo('Isolate');
    await tab.keyboard.press('Enter');
    const dialog = tab.getByRole('dialog', { name: 'Isolate sim-00006?' });
    await dialog.waitFor();
    // The dialog holds the focus, and Escape cancels it.
    assert.ok(
      await tab.evaluate("document.querySelector('dialog[open]')?.contains(document.activeElement) === true"),
    );
    await tab.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    const id = decodeURIComponent(tab.url().split('#/devices/')[1] ?? '');
    assert.equal((await hub.manager.services.commands.isolation(id)).desired, null);
  } finally {
    await tab.close();
  }
});

test('a viewer sees the same pages without any action button', async () => {
  const context = await browser.newContext({
    ignoreHTTPSErrors: true,
    viewport: { width: 1366, height: 900 },
  });
  try {
    const viewer = await signIn(context, viewerToken);
    await assertText(viewer.getByTestId('operator'), 'vera (viewer)');
    await viewer.goto(`${hub.operatorUrl}#/devices/${encodeURIComponent(isolatedDevice)}`);
    await viewer.getByRole('heading', { name: /sim-00003/ }).waitFor();
    await viewer.getByTestId('isolation-state').waitFor();
    for (const name of ['Isolate', 'Release', 'Revoke']) {
      assert.equal(await viewer.getByRole('button', { name, exact: true }).count(), 0, name);
    }
    await viewer.goto(`${hub.operatorUrl}#/alerts?state=all`);
    await viewer.locator(`tr[data-rule="${RULE}"]`).waitFor();
    assert.equal(await viewer.getByRole('button', { name: /^Acknowledge/ }).count(), 0);
    await viewer
      .getByRole('button', { name: /Brute force/ })
      .first()
      .click();
    await viewer.getByRole('heading', { name: /Brute force/ }).waitFor();
    for (const name of ['Resolve', 'Assign', 'Add comment']) {
      assert.equal(await viewer.getByRole('button', { name, exact: true }).count(), 0, name);
    }
    await screenshot(viewer, 'dashboard-viewer-alert');
    await viewer.goto(`${hub.operatorUrl}#/rollouts/${encodeURIComponent(rollout.id)}`);
    await viewer.locator('tr[data-phase="canary:2"]').waitFor();
    await viewer.locator('tr[data-phase="100%"]').waitFor();
    await assertText(viewer.getByTestId('rollout-state'), 'paused');
    for (const name of ['Pause', 'Resume', 'Abort']) {
      assert.equal(await viewer.getByRole('button', { name, exact: true }).count(), 0, name);
    }
    await viewer.goto(`${hub.operatorUrl}#/devices/${encodeURIComponent(isolatedDevice)}`);
    await viewer.getByTestId('isolation-state').waitFor();
    assert.equal(await viewer.getByRole('button', { name: 'Capture', exact: true }).count(), 0);
    assert.equal(await viewer.getByRole('button', { name: 'Open incident' }).count(), 0);
  } finally {
    await context.close();
  }
});

test('devices past the patch SLA are among those needing attention, and a device shows what it runs and its rollouts', async () => {
  // A critical release published 49 hours ago (the starter policy gives critical patches 48 hours).
  hub.clock.offsetMs = -49 * 3_600_000;
  try {
    await hub.manager.services.artifacts.upload(system, Buffer.from(`firmware 1.1\n${'y'.repeat(4096)}`), {
      name: 'firmware',
      version: '1.1',
      severity: 'critical',
      compat: {},
    });
  } finally {
    hub.clock.offsetMs = 0;
  }
  const { breaches } = await hub.manager.services.versions.slaBreaches();
  const late = new Set(breaches.map((breach) => breach.deviceId));
  assert.ok(late.size > 0, 'some device runs less than firmware 1.1');
  await page.goto(`${hub.operatorUrl}#/`);
  await assertText(page.getByTestId('card-sla'), String(late.size));
  for (const deviceId of late) {
    await page.locator(`tr[data-device="${deviceId}"]`).getByText('patch-sla').waitFor();
  }
  await page.getByRole('img', { name: /Hours since release, devices past the patch SLA: .* 49 h/ }).waitFor();
  await screenshot(page, 'dashboard-overview-sla');
  // A canary that committed firmware 1.0: the device page shows it running, its rollout row and its breach.
  const canary = (await hub.manager.services.rollouts.devices(rollout.id)).devices.find(
    (row) => row.state === 'committed',
  );
  assert.ok(canary, 'a canary committed firmware 1.0');
  await page.goto(`${hub.operatorUrl}#/devices/${encodeURIComponent(canary.deviceId)}`);
  const updates = page.getByRole('region', { name: 'Updates' });
  await updates.getByText(/^1\.0/).waitFor();
  await updates.getByRole('link', { name: 'firmware 1.0' }).waitFor();
  await assertText(
    updates.getByTestId('sla-breach'),
    /firmware 1\.1 \(critical\) was due .*; the device runs 1\.0/,
  );
});

test('on a tablet width the overview, devices, a device, the alerts, a rollout and an incident fit without scrolling sideways', async () => {
  const context = await browser.newContext({
    ignoreHTTPSErrors: true,
    viewport: { width: 768, height: 1024 },
  });
  try {
    const tablet = await signIn(context, hub.adminToken);
    const overflow = async () =>
      Number(
        await tablet.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth'),
      );
    await assertText(tablet.getByTestId('card-total'), String(PLANT_A + PLANT_B));
    assert.ok((await overflow()) <= 0, `the overview is ${await overflow()}px wider than the screen`);
    await screenshot(tablet, 'dashboard-overview-tablet');
    await tablet.goto(`${hub.operatorUrl}#/devices`);
    await assertText(tablet.getByTestId('device-total'), `${PLANT_A + PLANT_B} devices`);
    assert.ok((await overflow()) <= 0, `the devices page is ${await overflow()}px wider than the screen`);
    await tablet.goto(`${hub.operatorUrl}#/devices/${encodeURIComponent(isolatedDevice)}`);
    await tablet.getByTestId('isolation-state').waitFor();
    assert.ok((await overflow()) <= 0, `the device page is ${await overflow()}px wider than the screen`);
    await tablet.goto(`${hub.operatorUrl}#/alerts?state=all`);
    await tablet.locator(`tr[data-rule="${RULE}"]`).waitFor();
    assert.ok((await overflow()) <= 0, `the alerts page is ${await overflow()}px wider than the screen`);
    await screenshot(tablet, 'dashboard-alerts-tablet');
    await tablet.goto(`${hub.operatorUrl}#/rollouts/${encodeURIComponent(rollout.id)}`);
    await tablet.locator('tr[data-phase="100%"]').waitFor();
    assert.ok((await overflow()) <= 0, `the rollout page is ${await overflow()}px wider than the screen`);
    await screenshot(tablet, 'dashboard-rollout-tablet');
    await tablet.goto(`${hub.operatorUrl}#/incidents`);
    await tablet.getByRole('link', { name: 'Unknown binary in /tmp' }).click();
    await tablet.getByTestId('incident-timeline').waitFor();
    assert.ok((await overflow()) <= 0, `the incident page is ${await overflow()}px wider than the screen`);
    await screenshot(tablet, 'dashboard-incident-tablet');
  } finally {
    await context.close();
  }
});

async function assertText(locator: ReturnType<Page['locator']>, expected: string | RegExp): Promise<void> {
  const deadline = Date.now() + 20_000;
  let last = '';
  while (Date.now() < deadline) {
    last =
      (await locator
        .first()
        .textContent({ timeout: 20_000 })
        .catch(() => '')) ?? '';
    if (typeof expected === 'string' ? last.trim() === expected : expected.test(last)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`expected ${String(expected)}, the page shows ${JSON.stringify(last)}`);
}

test('on a manager without the rollouts and incidents APIs, they leave the navigation and say so', async () => {
  const tab = watch(await operatorContext.newPage());
  try {
    // An older manager answers these paths as any unknown route: 404, EW_ROUTE_NOT_FOUND.
    for (const path of ['/api/v1/rollouts', '/api/v1/incidents']) {
      await tab.route(`**${path}`, (route) =>
        route.fulfill({
          status: 404,
          contentType: 'application/json',
          body: JSON.stringify({ error: { code: 'EW_ROUTE_NOT_FOUND', message: `no endpoint GET ${path}` } }),
        }),
      );
    }
    await tab.goto(`${hub.operatorUrl}#/rollouts`);
    await tab.getByText('Rollouts are not available on this manager').waitFor();
    const navigation = tab.getByRole('navigation', { name: 'Main' });
    assert.equal(await navigation.getByRole('link', { name: 'Rollouts' }).count(), 0);
    assert.equal(await navigation.getByRole('link', { name: 'Incidents' }).count(), 0);
    assert.equal(await navigation.getByRole('link', { name: 'Devices' }).count(), 1);
  } finally {
    await tab.close();
  }
});

test('no page raised a script error or broke its content security policy', () => {
  assert.deepEqual(pageProblems, []);
});
