// MONITOR over a plain socket. ioredis' monitor() throws "Command queue state error" when a
// monitored command arrives in the same read as MONITOR's +OK: it enters monitoring mode a
// microtask after that reply, so the command is taken for a reply nobody asked for.
import { once } from 'node:events';
import net from 'node:net';

/**
 * Calls `onCommand` with the arguments and source (`lua`, or the client's address) of every
 * command Redis runs from now on; resolves to a function that stops watching.
 */
export async function monitorCommands(
  port: number,
  onCommand: (args: string[], source: string) => void,
): Promise<() => void> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.setEncoding('latin1');
  let buffered = '';
  let monitoring = false;
  const ready = new Promise<void>((resolve, reject) => {
    socket.on('error', reject); // after resolve (Redis stopped by a test) it changes nothing
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      for (let nl = buffered.indexOf('\r\n'); nl >= 0; nl = buffered.indexOf('\r\n')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 2);
        if (!monitoring) {
          if (line === '+OK') {
            monitoring = true;
            resolve();
          } else reject(new Error(`MONITOR answered ${line}`));
          continue;
        }
        // +1796280423.513487 [0 127.0.0.1:60382] "get" "key"
        const m = /^\+\S+ \[\d+ (\S+)\] (.*)$/.exec(line);
        if (m === null) continue;
        const args = [...(m[2] ?? '').matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((a) =>
          (a[1] ?? '').replace(/\\(.)/g, '$1'),
        );
        onCommand(args, m[1] ?? '');
      }
    });
  });
  socket.write('MONITOR\r\n');
  await ready;
  return () => socket.destroy();
}
