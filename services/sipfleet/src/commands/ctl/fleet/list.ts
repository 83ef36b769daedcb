// `sipfleet ctl fleet list`: the edges alive right now, from the membership records they
// heartbeat into Redis (`fleet.heartbeatMs`, gone `fleet.ttlMs` after the last one). What
// `kamcmd core.info` tells about one Kamailio, for every edge at once.
import { type MemberRecord, listMembers } from '@sipfleet/dispatcher';
import {
  type CtlCommand,
  type CtlSettings,
  EXIT,
  columns,
  ctlAction,
  formatDuration,
  output,
  withRedis,
} from '../common.js';

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

export function addList(fleet: CtlCommand): void {
  fleet
    .command('list')
    .description(
      'the live edges: node id, version, SIP and admin addresses, uptime, calls in flight, ' +
        'state (serving, maintenance, draining) and the age of the last heartbeat',
    )
    .addHelpText(
      'after',
      '\nAn edge appears within one heartbeat of its start and disappears when it stops, or at most\n' +
        'fleet.ttlMs (default 3 s) after it died.',
    )
    .action(ctlAction(list));
}
