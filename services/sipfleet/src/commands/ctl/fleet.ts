// `sipfleet ctl fleet list`: the edges alive right now, from the membership records they
// heartbeat into Redis (`fleet.heartbeatMs`, gone `fleet.ttlMs` after the last one). What
// `kamcmd core.info` tells about one Kamailio, for every edge at once.
import { parseArgs } from 'node:util';
import { type MemberRecord, listMembers } from '@sipfleet/dispatcher';
import {
  COMMON_OPTIONS,
  COMMON_USAGE,
  type CtlGroup,
  type CtlSettings,
  EXIT,
  UsageError,
  columns,
  formatDuration,
  output,
  parseCommandLine,
  resolveSettings,
  withRedis,
} from './common.js';

export const FLEET_USAGE = `usage: sipfleet ctl fleet list [options]

  list    the live edges: node id, version, SIP and admin addresses, uptime, calls in flight,
          state (serving, maintenance, draining) and the age of the last heartbeat

An edge appears within one heartbeat of its start and disappears when it stops, or at most
fleet.ttlMs (default 3 s) after it died.

${COMMON_USAGE}`;

function state(m: MemberRecord): string {
  switch (m.maintenance) {
    case null:
      return 'serving';
    case 'draining':
      return 'draining';
    default:
      return `maintenance (${m.maintenance})`;
  }
}

function listLines(members: readonly MemberRecord[], now: number): string[] {
  if (members.length === 0) return ['no live edges (none has heartbeated within its TTL)'];
  return [
    ...columns([
      ['NODE', 'VERSION', 'SIP', 'ADMIN', 'UP', 'CALLS', 'STATE', 'SEEN'],
      ...members.map((m) => [
        m.nodeId,
        m.version,
        m.sip.join(','),
        m.admin,
        formatDuration(Math.max(0, now - m.startedAt)),
        String(m.callsInFlight),
        state(m),
        `${formatDuration(Math.max(0, now - m.heartbeatAt))} ago`,
      ]),
    ]),
    `${members.length} edge(s)`,
  ];
}

async function list(settings: CtlSettings): Promise<number> {
  const members = await withRedis(settings, listMembers);
  const now = Date.now();
  output(settings, { edges: members }, () => listLines(members, now));
  return EXIT.ok;
}

export const fleetGroup: CtlGroup = {
  usage: FLEET_USAGE,
  async run(argv, env) {
    const { values, positionals } = parseCommandLine(argv, (args) =>
      parseArgs({ args, options: COMMON_OPTIONS, allowPositionals: true, strict: true }),
    );
    if (values.help) {
      process.stdout.write(FLEET_USAGE);
      return EXIT.ok;
    }
    const [command, ...rest] = positionals;
    if (rest.length > 0) throw new UsageError(`unexpected argument '${rest[0] ?? ''}'`);
    switch (command) {
      case 'list':
        return list(resolveSettings(values, env));
      case undefined:
        throw new UsageError('missing fleet command (list)');
      default:
        throw new UsageError(`unknown fleet command '${command}'`);
    }
  },
};
