import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ConfigLayer } from '@edgeward/core';
import type { Command } from 'commander';
import type { CliIo } from '../cli-io.ts';
import { createLogger } from '../logger.ts';

interface StartFlags {
  config?: string;
  dataDir?: string;
  database?: string;
  fleet?: string;
  host?: string;
  devicePort?: string;
  operatorPort?: string;
  publicUrl?: string;
  serverName?: string[];
  syslogUdpPort?: string;
  syslogTcpPort?: string;
  syslogTlsPort?: string;
  role?: string;
  upstream?: string;
  upstreamToken?: string;
  upstreamCaFingerprint?: string;
  logLevel?: string;
}

export function registerManagerCommands(program: Command, io: CliIo): void {
  const manager = program.command('manager').description('run the control plane (hub or site)');
  manager
    .command('start')
    .description('start a hub or site manager: device API (mTLS) and operator API with the dashboard')
    .option('--role <role>', 'hub (default) or site: a site reports to the hub given with --upstream')
    .option('--upstream <url>', "a site's hub: its device API, https://HUB:8443")
    .option('--upstream-token <token>', 'first start of a site: its token from `edgeward sites create`')
    .option('--upstream-ca-fingerprint <sha256>', "first start of a site: the hub's root CA fingerprint")
    .option('--config <file>', 'YAML file with settings (flags and EDGEWARD_* variables override it)')
    .option('--data-dir <dir>', 'keys, certificates and the SQLite database (default .edgeward)')
    .option('--database <url>', 'sqlite:PATH or postgres://… (default sqlite:<data-dir>/edgeward.db)')
    .option('--fleet <name>', 'the fleet trust domain (default edgeward.local)')
    .option('--host <address>', 'address to listen on (default 0.0.0.0)')
    .option('--device-port <port>', 'device API port, mutual TLS (default 8443)')
    .option('--operator-port <port>', 'operator API and dashboard port, HTTPS (default 8444)')
    .option('--public-url <url>', 'device API URL printed in enroll commands')
    .option('--server-name <name...>', 'extra DNS name or IP for the server certificate')
    .option(
      '--syslog-udp-port <port>',
      'receive syslog over UDP from devices without an agent (off by default)',
    )
    .option('--syslog-tcp-port <port>', 'receive syslog over TCP, RFC 6587 framing (off by default)')
    .option('--syslog-tls-port <port>', 'receive syslog over TLS, RFC 5425 (off by default)')
    .option('--log-level <level>', 'trace, debug, info, warn, error (default info)')
    .addHelpText(
      'after',
      `
Every setting can also come from the environment, e.g. EDGEWARD_DATA_DIR, EDGEWARD_DATABASE,
EDGEWARD_DEVICE_PORT; EDGEWARD_DATABASE_FILE reads the value from a file (for secrets).

Examples:
  $ edgeward manager start
  $ edgeward manager start --data-dir /var/lib/edgeward --database postgres://edgeward@db/edgeward
  $ EDGEWARD_OPERATOR_PORT=9444 edgeward manager start --config /etc/edgeward/manager.yaml
  $ edgeward manager start --role site --upstream https://hub.example:8443 \\
      --upstream-token et-site-plant-1.… --upstream-ca-fingerprint 3f…  --data-dir /var/lib/edgeward-site`,
    )
    .action(async (flags: StartFlags) => {
      const { environmentLayer, parseConfigFile } = await import('@edgeward/core');
      const { buildManager, managerConfigKeys, resolveManagerConfig } = await import('@edgeward/manager');
      const layers: ConfigLayer[] = [];
      if (flags.config !== undefined)
        layers.push(await parseConfigFile(readFileSync(flags.config, 'utf8'), flags.config));
      layers.push(environmentLayer(io.env, managerConfigKeys, (path) => readFileSync(path, 'utf8')));
      layers.push({
        source: 'flags',
        values: {
          dataDir: flags.dataDir,
          database: flags.database,
          fleet: flags.fleet,
          host: flags.host,
          devicePort: flags.devicePort,
          operatorPort: flags.operatorPort,
          publicUrl: flags.publicUrl,
          serverNames: flags.serverName,
          syslogUdpPort: flags.syslogUdpPort,
          syslogTcpPort: flags.syslogTcpPort,
          syslogTlsPort: flags.syslogTlsPort,
          role: flags.role,
          upstreamUrl: flags.upstream,
          upstreamToken: flags.upstreamToken,
          upstreamCaFingerprint: flags.upstreamCaFingerprint,
          logLevel: flags.logLevel,
        },
      });
      const config = resolveManagerConfig(layers);
      const logger = await createLogger(config.logLevel, io);
      const manager = await buildManager(config, { logger });
      const { deviceUrl, operatorUrl, syslog } = await manager.listen();
      const dashboardUrl = operatorUrl.replace('0.0.0.0', '127.0.0.1');
      io.out(
        [
          manager.siteUplink === undefined
            ? `Edgeward hub for fleet ${manager.pki.fleet}`
            : `Edgeward site ${manager.pki.siteId} of fleet ${manager.pki.fleet}, hub ${config.upstreamUrl}`,
          `  device API (mTLS)   ${deviceUrl}`,
          `  operator API        ${operatorUrl}   dashboard: ${dashboardUrl}/`,
          `  database            ${config.database.replace(/\/\/[^@]*@/, '//***@')}`,
          `  fleet CA fingerprint ${manager.pki.caFingerprint}`,
          ...(syslog === undefined
            ? []
            : [
                `  syslog in           ${Object.entries(syslog)
                  .map(([transport, endpoint]) => `${transport}/${endpoint.port}`)
                  .join(' ')}`,
              ]),
        ].join('\n'),
      );
      const first = manager.firstStart;
      if (first !== undefined) {
        const tokenFile = join(config.dataDir, 'admin.token');
        await writeFile(tokenFile, `${first.adminToken.token}\n`, { mode: 0o600 });
        io.out(
          [
            '',
            "First start: the fleet CA and this manager's keys were created.",
            `  admin API token (also in ${tokenFile}, mode 0600):`,
            `    export EDGEWARD_TOKEN=${first.adminToken.token}`,
            `  enrollment token (single use, expires ${new Date(first.enrollmentToken.expiresAt).toISOString()}):`,
            `    ${first.enrollmentToken.token}`,
            '  enroll an agent with:',
            `    ${first.enrollmentToken.enrollCommand}`,
            '    npx edgeward agent run --data-dir ./agent-data',
          ].join('\n'),
        );
      }
      const signal = await io.stopRequested;
      logger.info({ signal }, 'stopping');
      await manager.close();
      logger.flush?.();
    });
}
