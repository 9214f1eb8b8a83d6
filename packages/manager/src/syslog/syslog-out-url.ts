import { isIP } from 'node:net';

/** Where syslog out connects: plain TCP (RFC 6587) or TLS (RFC 5425). */
export interface SyslogOutTarget {
  readonly transport: 'tcp' | 'tls';
  /** A DNS name or an IP address (IPv6 without brackets). */
  readonly host: string;
  readonly port: number;
}

/** `tcp://HOST:PORT` or `tls://HOST:PORT` (IPv6 in brackets); undefined for anything else. */
export function parseSyslogOutUrl(value: string): SyslogOutTarget | undefined {
  const match = /^(tcp|tls):\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})\/?$/.exec(value.trim());
  if (match === null) return undefined;
  const [, scheme, rawHost = '', rawPort = ''] = match;
  const host = rawHost.startsWith('[') ? rawHost.slice(1, -1) : rawHost;
  const port = Number(rawPort);
  if (port < 1 || port > 65_535) return undefined;
  if (rawHost.startsWith('[') && isIP(host) !== 6) return undefined;
  if (!rawHost.startsWith('[') && (host.startsWith('.') || host.startsWith('-') || host.includes('..')))
    return undefined;
  return { transport: scheme === 'tls' ? 'tls' : 'tcp', host, port };
}
