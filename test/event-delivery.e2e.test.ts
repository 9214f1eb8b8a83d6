/**
 * Event delivery with real processes and a broken network: `edgeward manager start` and `edgeward agent
 * run` as separate processes, a FaultProxy between them (the agent is enrolled through it, so every byte
 * it sends crosses the proxy), and a generated authentication log. Every generated line carries a unique
 * marker (the sshd user name), yields one auth.login_failed event, and must be stored by the manager
 * exactly once — whatever happens to the link, the agent or the manager in between.
 */
import assert from 'node:assert/strict';
import { appendFile, copyFile, mkdir, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FaultProxy } from '@edgeward/sim';
import { e2eAgentEnv, enrollWithCli, type LongRunning, startEdgeward } from './support/cli-process.ts';
import { freePort, ManagerProcess } from './support/manager-process.ts';
import { eventually } from './support/test-manager.ts';

/** Short intervals so that batches, polls and retries happen many times a second. */
const agentEnv = { ...e2eAgentEnv };

let work: string;
let hub: DeliveryManager;
const agents: TestAgent[] = [];

const random = (from: number, to: number) => from + Math.floor(Math.random() * (to - from));

/** The manager of these tests, with what they ask of its store. */
class DeliveryManager extends ManagerProcess {
  async createToken(): Promise<string> {
    const created = await this.cli(['tokens', 'create', '--label', 'test=event-delivery', '--json']);
    return (JSON.parse(created) as { token: string }).token;
  }

  /** The device's highest acknowledged sequence number, and how many of its events are stored. */
  deliveryCounts(deviceId: string): { acknowledged: number; stored: number } {
    const [acked] = this.query<{ n: number }>(
      'SELECT acked_seq AS n FROM event_delivery WHERE device_id = ?',
      deviceId,
    );
    const [stored] = this.query<{ n: number }>(
      'SELECT count(*) AS n FROM events WHERE device_id = ?',
      deviceId,
    );
    return { acknowledged: Number(acked?.n ?? 0), stored: Number(stored?.n ?? 0) };
  }
}

/**
 * One enrolled agent with its own filesystem root (holding var/log/auth.log), its own FaultProxy to the
 * manager, and a record of every marker it wrote into the log.
 */
class TestAgent {
  readonly name: string;
  readonly dataDir: string;
  readonly root: string;
  readonly proxy: FaultProxy;
  deviceId = '';
  /** Every marker written, in order. */
  readonly written: string[] = [];
  #process: LongRunning | undefined;
  #logFile: string;

  private constructor(name: string, dataDir: string, root: string, proxy: FaultProxy) {
    this.name = name;
    this.dataDir = dataDir;
    this.root = root;
    this.proxy = proxy;
    this.#logFile = join(root, 'var', 'log', 'auth.log');
  }

  /**
   * Enrolls a new device through a new proxy and creates its auth.log, holding `firstLine` (no event)
   * or nothing; the agent reads it from there on.
   */
  static async enroll(name: string, firstLine = ''): Promise<TestAgent> {
    const dir = join(work, name);
    const proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port: hub.devicePort } });
    const agent = new TestAgent(name, join(dir, 'agent'), join(dir, 'root'), proxy);
    agents.push(agent);
    await mkdir(join(agent.root, 'var', 'log'), { recursive: true });
    await writeFile(agent.#logFile, firstLine);
    agent.deviceId = await enrollWithCli({
      managerUrl: proxy.url,
      token: await hub.createToken(),
      caFingerprint: hub.fingerprint,
      dataDir: agent.dataDir,
      hostname: name,
    });
    return agent;
  }

  get logFile(): string {
    return this.#logFile;
  }

  /**
   * Starts `edgeward agent run`; resolves once its collector has saved a position in auth.log, since a
   * file it has never seen is read from its end: a line written before that would not be news to it.
   */
  async start(): Promise<void> {
    this.#process = startEdgeward(
      ['agent', 'run', '--data-dir', this.dataDir, '--root', this.root],
      agentEnv,
    );
    await eventually(
      () => stat(join(this.dataDir, 'collectors', 'auth-log.json')).then(() => true),
      `${this.name}: the auth log collector to start\n${this.output()}`,
    );
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const running = this.#process;
    this.#process = undefined;
    return (await running?.stop(signal)) ?? null;
  }

  output(): string {
    return this.#process?.output() ?? '';
  }

  /** Appends `count` failed-login lines, each with a new marker, to `file` (default the live auth.log). */
  async append(count: number, file = this.#logFile): Promise<void> {
    let text = '';
    for (let index = 0; index < count; index++) {
      const n = this.written.length + 1;
      const marker = `${this.name}-${String(n).padStart(6, '0')}`;
      this.written.push(marker);
      text += `${new Date().toISOString()} ${this.name} sshd[${1000 + (n % 5000)}]: Failed password for invalid user ${marker} from 203.0.113.${n % 250} port ${n % 65_536} ssh2\n`;
    }
    await appendFile(file, text);
  }

  /** Appends `perBurst` lines every `everyMs` until the returned stop function is called. */
  appendContinuously(perBurst: number, everyMs: number): () => Promise<void> {
    let stopped = false;
    const loop = (async () => {
      while (!stopped) {
        await this.append(perBurst);
        await sleep(everyMs);
      }
    })();
    return async () => {
      stopped = true;
      await loop;
    };
  }

  stored(): Map<string, number> {
    return hub.storedMarkers(this.deviceId);
  }

  storedCount(): number {
    let total = 0;
    for (const count of this.stored().values()) total += count;
    return total;
  }

  /** Events in the agent's durable queue, read from its file (read-only; the agent may be running). */
  queued(): number {
    const db = new DatabaseSync(join(this.dataDir, 'queue.db'), { readOnly: true });
    try {
      return Number((db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n);
    } finally {
      db.close();
    }
  }

  /** Waits until the manager stored more of this agent's events than `than`. */
  async progress(than: number, what: string, timeoutMs = 20_000): Promise<number> {
    return eventually(
      () => {
        const count = this.storedCount();
        return count > than ? count : undefined;
      },
      `${this.name}: ${what}\n${this.output()}`,
      timeoutMs,
    );
  }

  /**
   * Waits until every written marker is stored and the agent's queue is empty (so a late duplicate would
   * have arrived too), then asserts that each was stored exactly once and nothing else was.
   */
  async assertAllStoredExactlyOnce(timeoutMs = 60_000): Promise<void> {
    const drained = await eventually(
      () => {
        const stored = this.stored();
        return this.written.every((marker) => stored.has(marker)) && this.queued() === 0;
      },
      'every event stored and the queue empty',
      timeoutMs,
    ).catch(() => false);
    const stored = this.stored();
    const expected = new Set(this.written);
    assert.equal(expected.size, this.written.length, 'markers are unique');
    const summary = (list: readonly string[]) =>
      list.length <= 10 ? list : [...list.slice(0, 10), `… ${list.length - 10} more`];
    const missing = summary(this.written.filter((marker) => !stored.has(marker)));
    const duplicated = summary(
      [...stored].filter(([, count]) => count > 1).map(([marker, count]) => `${marker} ×${count}`),
    );
    const unexpected = summary([...stored.keys()].filter((marker) => !expected.has(marker)));
    assert.deepEqual(
      { missing, duplicated, unexpected },
      { missing: [], duplicated: [], unexpected: [] },
      `${this.name}: ${this.written.length} written, ${stored.size} stored\n${this.output()}`,
    );
    assert.equal(this.storedCount(), this.written.length);
    assert.ok(drained, `${this.name}: the agent's queue still holds ${this.queued()} events`);
  }
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'edgeward-delivery-'));
  hub = new DeliveryManager(join(work, 'manager'), await freePort(), await freePort());
  await hub.start();
});

after(async () => {
  for (const agent of agents) {
    await agent.stop('SIGKILL');
    await agent.proxy.close();
  }
  await hub?.stop('SIGKILL');
  await rm(work, { recursive: true, force: true });
});

test('events written while the link is cut, delayed and blackholed over and over are all stored exactly once', async () => {
  const agent = await TestAgent.enroll('faults');
  await agent.start();
  const stopWriting = agent.appendContinuously(15, 60);
  try {
    await agent.progress(0, 'first events before any fault');
    for (let round = 0; round < 4; round++) {
      agent.proxy.cut();
      await sleep(random(300, 900));
      agent.proxy.restore();
      await sleep(random(200, 500));
      agent.proxy.delay(random(50, 300));
      await sleep(random(500, 1000));
      agent.proxy.blackhole();
      await sleep(random(500, 2000));
      agent.proxy.restore();
      await sleep(random(200, 600));
    }
  } finally {
    agent.proxy.restore();
    await stopWriting();
  }
  await agent.assertAllStoredExactlyOnce();
  assert.ok(agent.proxy.refusedCount > 0, 'the agent tried to connect while the link was cut');
});

test('an agent killed with SIGKILL mid-upload a dozen times and restarted stores every event exactly once, lines it reads again included', async (t) => {
  const agent = await TestAgent.enroll('crashes');
  const positions = join(agent.dataDir, 'collectors', 'auth-log.json');
  // Slow replies widen the window in which a batch is on the wire when the kill comes.
  agent.proxy.delay(40);
  await agent.start();
  const stopWriting = agent.appendContinuously(20, 50);
  let killsWithBacklog = 0;
  const kills = 12;
  try {
    for (let kill = 0; kill < kills; kill++) {
      if (kill > 0) await agent.start();
      // The read position this run starts from.
      await copyFile(positions, `${positions}.before`);
      // Killed only once this run has delivered something, so that each kill lands amid the upload.
      await agent.progress(agent.storedCount(), `delivery after restart ${kill}`);
      await sleep(random(0, 400));
      await agent.stop('SIGKILL');
      if (agent.queued() > 0) killsWithBacklog += 1;
      // Every third kill also loses the positions saved during the run, as a kill between the queue's
      // commit and the position's save does (a narrow window, hit by chance above): the restarted agent
      // reads this run's lines again, queues them under new sequence numbers, and sends them again.
      if (kill % 3 === 2) await copyFile(`${positions}.before`, positions);
    }
  } finally {
    await stopWriting();
  }
  await agent.start();
  await agent.assertAllStoredExactlyOnce();
  assert.ok(
    killsWithBacklog >= kills / 2,
    `events were queued at only ${killsWithBacklog} of ${kills} kills`,
  );
  // Every sequence number up to the acknowledged one was delivered; those without a row are the repeats.
  const { acknowledged, stored } = hub.deliveryCounts(agent.deviceId);
  assert.ok(acknowledged > stored, 'lines read again were delivered again and recognised as repeats');
  t.diagnostic(
    `${killsWithBacklog} of ${kills} kills left events queued; ${acknowledged - stored} repeated events delivered and not stored again`,
  );
});

test('a manager stopped with SIGTERM and killed with SIGKILL mid-batch, then restarted, stores every event exactly once', async (t) => {
  const agent = await TestAgent.enroll('restarts');
  agent.proxy.delay(30);
  await agent.start();
  const stopWriting = agent.appendContinuously(20, 50);
  const signals = ['SIGTERM', 'SIGKILL', 'SIGTERM', 'SIGKILL'] as const;
  let stopsWithBacklog = 0;
  try {
    for (const signal of signals) {
      await agent.progress(agent.storedCount(), `delivery before the manager's ${signal}`);
      await sleep(random(0, 300));
      if (agent.queued() > 0) stopsWithBacklog += 1;
      await hub.stop(signal);
      await sleep(random(100, 800));
      await hub.start();
    }
  } finally {
    await stopWriting();
  }
  await agent.assertAllStoredExactlyOnce();
  t.diagnostic(`${stopsWithBacklog} of ${signals.length} manager stops came with events queued on the agent`);
});

test('a backlog of 5000 events built during a long partition drains once the link returns, exactly once, and empties the queue', async () => {
  const agent = await TestAgent.enroll('partition');
  await agent.start();
  await agent.append(10);
  await agent.progress(9, 'events before the partition');
  agent.proxy.blackhole();
  for (let burst = 0; burst < 10; burst++) {
    await agent.append(500);
    await sleep(200);
  }
  await eventually(() => agent.queued() >= 5000, 'the 5000 lines queued during the partition');
  const refusedBefore = agent.proxy.refusedCount;
  agent.proxy.cut();
  await sleep(1000);
  assert.equal(agent.storedCount(), 10, 'nothing crosses the partition');
  assert.ok(agent.proxy.refusedCount > refusedBefore, 'the agent kept trying through the partition');
  agent.proxy.restore();
  await agent.assertAllStoredExactlyOnce();
  assert.equal(agent.queued(), 0);
});

test('lines written around log rotations while the agent is down are all stored exactly once, though every log file begins with the same line', async () => {
  // A line without an event that starts every file, so that the files' first lines cannot tell them apart.
  const opened = '2026-01-01T00:00:00Z rotation rsyslogd: [origin software="rsyslogd"] rsyslogd was HUPed\n';
  const agent = await TestAgent.enroll('rotation', opened);
  const log = agent.logFile;
  await agent.start();
  await agent.append(50);
  await agent.progress(49, 'events before the rotation');

  // Stopped cleanly, with lines it may not have read yet; rotated; written to on both sides of the rotation.
  await agent.append(50);
  assert.equal(await agent.stop('SIGTERM'), 0);
  await rename(log, `${log}.1`);
  await agent.append(50, `${log}.1`);
  await writeFile(log, opened);
  await agent.append(50);
  await agent.start();
  await agent.assertAllStoredExactlyOnce();

  // Killed this time, and rotated again the way logrotate does: .1 → .2, the live file → .1.
  await agent.append(50);
  await agent.stop('SIGKILL');
  await rename(`${log}.1`, `${log}.2`);
  await rename(log, `${log}.1`);
  await agent.append(30, `${log}.1`);
  await writeFile(log, opened);
  await agent.append(30);
  await agent.start();
  await agent.assertAllStoredExactlyOnce();
});
