// A real DNS server on loopback for tests: dnsmasq (Debian package dnsmasq-base, installed by
// scripts/bootstrap.mjs) serving only the records a test gives it, on a free port, from the
// command line (no config file, no /etc/hosts, no upstream). Stopped when the owner test ends.
import { freePort } from './ports.js';
import { spawnTracked } from './processes.js';
import type { CleanupOwner, TrackedProcess } from './processes.js';

const DNSMASQ = '/usr/sbin/dnsmasq';

export interface SrvRecordSpec {
  /** Owner name, e.g. `_sip._udp.svc.test`. */
  name: string;
  target: string;
  port: number;
  /** @default 0 */
  priority?: number;
  /** @default 0 */
  weight?: number;
}

export interface NaptrRecordSpec {
  name: string;
  order: number;
  preference: number;
  /** `SIP+D2U`, `SIP+D2T`, `SIPS+D2T` */
  service: string;
  /** The SRV name the record points to. */
  replacement: string;
  /** @default 'S' */
  flags?: string;
}

export interface DnsRecords {
  srv?: SrvRecordSpec[];
  naptr?: NaptrRecordSpec[];
  /** Address records (A or AAAA by the address's family). */
  hosts?: { name: string; address: string }[];
  /**
   * The zones served (names under them that have no record are NXDOMAIN; others are REFUSED).
   * @default ['test']
   */
  zones?: string[];
  /** TTL of every answer, seconds (dnsmasq's --local-ttl). @default 30 */
  ttl?: number;
}

export interface DnsServer {
  readonly port: number;
  /** `127.0.0.1:<port>`, as the `dns.servers` setting takes it. */
  readonly server: string;
  readonly process: TrackedProcess;
  stop(): Promise<void>;
}

/** dnsmasq's arguments for `records` on `port` (exported for debugging a failed run). */
export function dnsmasqArgs(records: DnsRecords, port: number): string[] {
  const args = [
    '--keep-in-foreground',
    '--no-resolv',
    '--no-hosts',
    '--conf-file=/dev/null',
    '--pid-file=',
    '--bind-interfaces',
    '--listen-address=127.0.0.1',
    `--port=${port}`,
    '--log-facility=-',
    `--local-ttl=${records.ttl ?? 30}`,
  ];
  for (const zone of records.zones ?? ['test']) args.push(`--local=/${zone}/`);
  for (const h of records.hosts ?? []) args.push(`--host-record=${h.name},${h.address}`);
  for (const s of records.srv ?? []) {
    args.push(`--srv-host=${s.name},${s.target},${s.port},${s.priority ?? 0},${s.weight ?? 0}`);
  }
  for (const n of records.naptr ?? []) {
    args.push(
      `--naptr-record=${n.name},${n.order},${n.preference},${n.flags ?? 'S'},${n.service},,${n.replacement}`,
    );
  }
  return args;
}

/**
 * Starts dnsmasq with `records` on 127.0.0.1 (`port`, default a free one: pass the old port to
 * restart a server with new records where clients already point).
 */
export async function startDnsServer(
  owner: CleanupOwner,
  records: DnsRecords,
  port?: number,
): Promise<DnsServer> {
  const p = port ?? (await freePort());
  const proc = spawnTracked(DNSMASQ, dnsmasqArgs(records, p), { owner, name: `dnsmasq:${p}` });
  // dnsmasq binds its sockets before it logs that it started.
  await proc.waitForOutput(/started, version/);
  return {
    port: p,
    server: `127.0.0.1:${p}`,
    process: proc,
    async stop() {
      await proc.stop();
    },
  };
}
