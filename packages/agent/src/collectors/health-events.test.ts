import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  agentStartedEvent,
  agentStoppedEvent,
  ClockJumpDetector,
  checkConfigChange,
  configHash,
} from './health-events.ts';

describe('agent lifecycle events', () => {
  it('builds agent.started and agent.stopped with their default severity', () => {
    assert.deepEqual(agentStartedEvent({ time: 10, version: '0.1.0', pid: 42 }), {
      type: 'agent.started',
      severity: 'info',
      time: 10,
      data: { version: '0.1.0', pid: 42 },
    });
    assert.deepEqual(agentStoppedEvent({ time: 20, reason: 'signal:SIGTERM', uptimeMs: 10 }), {
      type: 'agent.stopped',
      severity: 'info',
      time: 20,
      data: { reason: 'signal:SIGTERM', uptimeMs: 10 },
    });
  });
});

describe('checkConfigChange', () => {
  let stateDir: string;
  before(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'edgeward-config-'));
  });
  after(async () => {
    await rm(stateDir, { recursive: true, force: true });
  });

  it('hashes a configuration the same whatever the order of its keys', () => {
    assert.equal(configHash({ a: 1, b: { c: 2, d: [1, 2] } }), configHash({ b: { d: [1, 2], c: 2 }, a: 1 }));
    assert.notEqual(configHash({ a: 1 }), configHash({ a: 2 }));
  });

  it('says nothing the first time and when unchanged, then names the changed keys without their values', async () => {
    const config = {
      dataDir: '/var/lib/edgeward',
      reportIntervalMs: 60_000,
      secretFile: '/etc/edgeward/token',
    };
    assert.equal(await checkConfigChange({ config, stateDir, time: 1 }), undefined);
    assert.equal(await checkConfigChange({ config: { ...config }, stateDir, time: 2 }), undefined);
    const changed = { dataDir: '/var/lib/edgeward', reportIntervalMs: 5000, logLevel: 'debug' };
    const event = await checkConfigChange({ config: changed, stateDir, time: 3 });
    assert.deepEqual(event, {
      type: 'agent.config_changed',
      severity: 'low',
      time: 3,
      data: {
        previousHash: configHash(config),
        hash: configHash(changed),
        changedKeys: ['logLevel', 'reportIntervalMs', 'secretFile'],
      },
    });
    const saved = await readFile(join(stateDir, 'config-hash.json'), 'utf8');
    assert.ok(!saved.includes('/etc/edgeward/token') && !saved.includes('debug'));
    assert.equal(await checkConfigChange({ config: changed, stateDir, time: 4 }), undefined);
  });
});

describe('ClockJumpDetector', () => {
  function clocks(start: number) {
    const c = { wall: start, monotonic: 1000 };
    return {
      c,
      detector: new ClockJumpDetector({ wallNow: () => c.wall, monotonicNow: () => c.monotonic }),
    };
  }

  it('stays quiet while wall and monotonic clocks move together, small NTP corrections included', () => {
    const { c, detector } = clocks(1_717_000_000_000);
    assert.equal(detector.tick(), undefined);
    c.wall += 60_000 + 2_000;
    c.monotonic += 60_000;
    assert.equal(detector.tick(), undefined);
  });

  it('reports the wall clock set back by an hour between two ticks', () => {
    const { c, detector } = clocks(1_717_000_000_000);
    detector.tick();
    c.monotonic += 60_000;
    c.wall += 60_000 - 3_600_000;
    assert.deepEqual(detector.tick(), {
      type: 'agent.clock_jump',
      severity: 'medium',
      time: 1_717_000_000_000 + 60_000 - 3_600_000,
      data: {
        jumpMs: -3_600_000,
        direction: 'backward',
        previousWallTime: 1_717_000_000_000,
        wallTime: 1_717_000_000_000 + 60_000 - 3_600_000,
        elapsedMs: 60_000,
      },
    });
  });

  it('reports a forward jump beyond the threshold and compares the next tick with the new time', () => {
    const { c, detector } = clocks(1_000_000);
    detector.tick();
    c.monotonic += 1000;
    c.wall += 1000 + 300_000;
    assert.equal(detector.tick()?.data.direction, 'forward');
    c.monotonic += 1000;
    c.wall += 1000;
    assert.equal(detector.tick(), undefined);
  });

  it('honours a custom threshold', () => {
    const c = { wall: 0, monotonic: 0 };
    const detector = new ClockJumpDetector({
      wallNow: () => c.wall,
      monotonicNow: () => c.monotonic,
      thresholdMs: 1000,
    });
    detector.tick();
    c.wall += 1500;
    assert.equal(detector.tick()?.data.jumpMs, 1500);
  });
});
