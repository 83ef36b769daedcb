// Record-routed calls (INVITE/180/200/ACK/BYE/200 over UDP) through ONE sipfleet edge process,
// ramping the call rate until calls fail; then the same ramp through Kamailio (when installed)
// doing the same job, in the same run, on the same cores. sipp UAC and UAS share the machine.
// Prints, per step: offered rate, calls, failed, retransmissions, INVITE->200 p50/p99, proxy CPU
// and RSS. Run: `node --import tsx test/bench/proxy-ramp.bench.ts` (or `npm run bench`).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startEdge } from '@sipfleet/test-helpers/edge';
import { freePort } from '@sipfleet/test-helpers/ports';
import { spawnTracked } from '@sipfleet/test-helpers/processes';
import type { TrackedProcess } from '@sipfleet/test-helpers/processes';
import { startSipp } from '@sipfleet/test-helpers/sipp';
import { best, Owner, percentile, ramp, STEP_SECONDS } from './ramp.js';
import type { Step } from './ramp.js';

/**
 * The same job as the edge's: record-route and relay to one static next hop. (Routing through
 * Kamailio's dispatcher here made it answer `404 No destination` under load: its own
 * destination-state handling, not forwarding capacity.)
 */
function kamailioConfig(port: number, uasPort: number): string {
  return `#!KAMAILIO
debug=0
log_stderror=yes
listen=udp:127.0.0.1:${port}
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "maxfwd.so"
loadmodule "pv.so"
loadmodule "siputils.so"
loadmodule "textops.so"
request_route {
  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
  if (has_totag()) {
    if (loose_route()) { t_relay(); exit; }
    if (is_method("ACK")) { if (t_check_trans()) { t_relay(); } exit; }
    sl_send_reply("404", "Not here");
    exit;
  }
  if (is_method("CANCEL")) { if (t_check_trans()) { t_relay(); } exit; }
  t_check_trans();
  record_route();
  $du = "sip:127.0.0.1:${uasPort}";
  t_relay();
}
`;
}

function kamailioAvailable(): boolean {
  if (spawnSync('sh', ['-c', 'command -v kamailio'], { stdio: 'ignore' }).status === 0) return true;
  if (process.getuid?.() !== 0) return false;
  console.log('installing kamailio for the comparison (apt-get install kamailio)...');
  spawnSync('apt-get', ['install', '-y', '-qq', 'kamailio'], {
    stdio: 'ignore',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return spawnSync('sh', ['-c', 'command -v kamailio'], { stdio: 'ignore' }).status === 0;
}

async function main(): Promise<void> {
  const owner = new Owner();
  try {
    // A fresh UAS per proxy: one that lived through the other proxy's overload step still holds
    // thousands of stuck calls and would fail the next ramp for reasons of its own.
    const uasPort = await freePort();
    const firstUas = await startSipp({
      scenario: 'uas-call',
      localPort: uasPort,
      autoAnswer: true,
      owner,
    });
    console.log(
      `## Proxy ramp: record-routed calls through one proxy, UDP, ${STEP_SECONDS} s per step\n`,
    );
    console.log('```');
    const edge = await startEdge(owner, {
      routing: { destination: `sip:127.0.0.1:${uasPort}` },
      log: { level: 'error' },
    });
    const edgePid = edge.process.pid ?? 0;
    const ours = await ramp('sipfleet', edge.port, () => [edgePid]);
    await edge.stop();
    await firstUas.stop(2000);

    let theirs: Step[] = [];
    if (kamailioAvailable()) {
      const dir = mkdtempSync(join(tmpdir(), 'sipfleet-kamailio-'));
      owner.after(() => rmSync(dir, { recursive: true, force: true }));
      const port = await freePort();
      const cfg = join(dir, 'kamailio.cfg');
      const secondUasPort = await freePort();
      await startSipp({ scenario: 'uas-call', localPort: secondUasPort, autoAnswer: true, owner });
      writeFileSync(cfg, kamailioConfig(port, secondUasPort));
      const kam: TrackedProcess = spawnTracked(
        'kamailio',
        // -m: 256 MB shared memory; the 64 MB default runs out under load ("500 I'm terribly sorry").
        ['-f', cfg, '-DD', '-E', '-m', '256', '-w', dir, '-P', join(dir, 'kamailio.pid')],
        { name: 'kamailio' },
      );
      owner.after(() => kam.stop());
      await sleep(2000);
      if (kam.exitStatus) throw new Error(`kamailio did not start:\n${kam.output()}`);
      const pids = () => {
        const out = spawnSync('pgrep', ['-P', String(kam.pid)], { encoding: 'utf8' }).stdout;
        return [kam.pid ?? 0, ...out.split('\n').filter(Boolean).map(Number)];
      };
      theirs = await ramp('kamailio', port, pids);
    } else {
      console.log('kamailio not available: comparison skipped (apt-get install kamailio)');
    }
    console.log('```\n');
    const o = best(ours);
    const k = best(theirs);
    console.log(
      `Highest offered rate with zero failed calls: sipfleet ${o ? `${o.rate}/s (achieved ${o.achieved.toFixed(0)}/s, p50 ${percentile(o.stats, 0.5)}, p99 ${percentile(o.stats, 0.99)}, edge CPU ${o.cpu.toFixed(0)}%, RSS ${o.rssMb.toFixed(0)} MB)` : 'none'}` +
        (theirs.length > 0
          ? `; Kamailio ${k ? `${k.rate}/s (achieved ${k.achieved.toFixed(0)}/s, p50 ${percentile(k.stats, 0.5)}, p99 ${percentile(k.stats, 0.99)}, CPU ${k.cpu.toFixed(0)}%)` : 'none'}.`
          : '.'),
    );
  } finally {
    await owner.close();
  }
}

await main();
