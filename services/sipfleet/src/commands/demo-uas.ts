import { parseArgs } from 'node:util';
import { DemoMediaServer } from '../demo/media-server.js';
import { reportStartupFailure } from '../startup-error.js';

export const DEMO_UAS_USAGE = `usage: sipfleet demo-uas --port P [options]

Runs a demo media server (what \`sipfleet up --demo\` starts behind the fleet): answers INVITE
180 then 200 with SDP, BYE/OPTIONS/MESSAGE 200, CANCEL of a ringing call 487. No media.

  --port P        UDP and TCP port (required)
  --address A     @default 127.0.0.1
  --ring-ms N     ring time before the final response, ms @default 0
  --code N        final status for an initial INVITE, 200-699 @default 200
`;

/**
 * A whole number option in [min, max]; `undefined` when it is not one. `Number('')` is 0 and
 * `Number('0x10')` is 16, so the text itself must be plain digits.
 */
export function intOption(text: string, min: number, max: number): number | undefined {
  if (!/^\d{1,9}$/.test(text)) return undefined;
  const value = Number(text);
  return value >= min && value <= max ? value : undefined;
}

export async function runDemoUas(argv: readonly string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        port: { type: 'string' },
        address: { type: 'string', default: '127.0.0.1' },
        'ring-ms': { type: 'string', default: '0' },
        code: { type: 'string', default: '200' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`sipfleet demo-uas: ${(err as Error).message}\n${DEMO_UAS_USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(DEMO_UAS_USAGE);
    return 0;
  }
  const usage = (message: string): number => {
    process.stderr.write(`sipfleet demo-uas: ${message}\n${DEMO_UAS_USAGE}`);
    return 2;
  };
  if (values.port === undefined) return usage('--port is required');
  const port = intOption(values.port, 1, 65535);
  if (port === undefined) return usage(`--port must be a port 1-65535 (got '${values.port}')`);
  const ringMs = intOption(values['ring-ms'], 0, 3_600_000);
  if (ringMs === undefined) {
    return usage(`--ring-ms must be 0-3600000 ms (got '${values['ring-ms']}')`);
  }
  const code = intOption(values.code, 200, 699);
  if (code === undefined)
    return usage(`--code must be a final status 200-699 (got '${values.code}')`);

  let server: DemoMediaServer;
  try {
    server = await DemoMediaServer.start({
      port,
      address: values.address,
      ringMs,
      answerCode: code,
    });
  } catch (err) {
    return reportStartupFailure('demo-uas', err, undefined, '--port');
  }
  // `sipfleet up` waits for this line before it calls the fleet ready.
  process.stdout.write(
    `sipfleet demo-uas: listening on ${values.address}:${port} (udp, tcp), ` +
      `answers ${code} after ${ringMs} ms\n`,
  );
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  await server.close();
  const c = server.counters;
  process.stdout.write(
    `sipfleet demo-uas: ${values.address}:${port} stopped (${signal}): ${c.invites} INVITEs, ` +
      `${c.answered} answered, ${c.rejected} rejected, ${c.cancelled} cancelled, ${c.byes} BYEs, ` +
      `${c.options} OPTIONS\n`,
  );
  return 0;
}
