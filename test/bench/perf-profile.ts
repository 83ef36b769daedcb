// Breaks a `perf record -g` of one edge (run with `node --perf-basic-prof`, so JIT frames have
// names) down per call. Unlike the V8 profile (cpu-profile.ts), perf's cpu-clock samples only
// while a thread is on a CPU, and samples every thread of the process, the kernel included: so
// the categories add up to the process' CPU time, GC helper threads and the kernel's part of
// each syscall among them. A sample goes to:
// - GC: any V8 garbage-collector frame on its stack (main thread or helper thread);
// - JIT compiler: a V8 compiler frame (TurboFan on a helper thread, lazy compiles);
// - kernel, by the syscall it serves: the first user-space frame under the kernel frames says
//   whether it was a UDP send, a UDP receive, the event loop's epoll wait, or the Redis socket;
// - else the first JavaScript frame from the leaf that cpu-profile.ts's rules name (a Buffer
//   builtin called by the parser is parsing), with native frames of Node's UDP and stream
//   wrappers standing for send, receive and Redis.
import { spawnSync } from 'node:child_process';
import { frameCategory, OTHER } from './cpu-profile.js';

/** Native (C++ / libc) frames that name what a sample was doing; tried leaf first, in order. */
const NATIVE: [string, RegExp][] = [
  // node:dgram's frames, then the native engine's (packages/transport/native/udp4.c), whose queued
  // sends leave from inside its readiness callback: send is tried first, leaf first
  [
    'send',
    /UDPWrap::(DoSend|Send)|uv__udp_send|uv_udp_try_send|__libc_sendmsg|__libc_sendto|sendmmsg|^(Send|flush|on_prepare)$/,
  ],
  [
    'receive',
    /UDPWrap::OnRecv|UDPWrap::OnAlloc|uv__udp_io|uv__udp_recv|__libc_recvmsg|recvmmsg|^(on_readable|read_batch|deliver)$/,
  ],
  ['Redis', /uv__stream_io|uv__read|uv__write|LibuvStreamWrap|StreamBase|__libc_(read|write)\b/],
];
const GC =
  /v8::internal::(Heap::|Scaveng|MarkCompact|ConcurrentMarking|IncrementalMarking|Sweeper|ArrayBufferSweeper|MinorMarkSweep|MinorGC|GCTracer|MemoryAllocator|MemoryReducer)/;
const COMPILER =
  /v8::internal::(compiler::|Compiler::|maglev::|baseline::|OptimizingCompileDispatcher)/;
const KERNEL = /\[kernel\.kallsyms\]|\[unknown\]|\[vdso\]/;

/** One frame of `perf script` output: `addr symbol+off (dso)`. */
function parseFrame(line: string): { symbol: string; dso: string } {
  const m = /^\s*[0-9a-f]+\s+(.*?)\s+\(([^)]*)\)\s*$/.exec(line);
  return m === null ? { symbol: line.trim(), dso: '' } : { symbol: m[1] ?? '', dso: m[2] ?? '' };
}

/** `JS:*name url:line:col+0x..` → the V8 profile's call frame shape for frameCategory. */
function jsFrame(symbol: string): { functionName: string; url: string } | undefined {
  const m = /^JS:[*~^+-]?(\S*)\s+(\S+?)(?::\d+:\d+)?(?:\+0x[0-9a-f]+)?$/.exec(symbol);
  if (m === null) return undefined;
  return { functionName: m[1] ?? '', url: m[2] ?? '' };
}

function categoryOf(frames: { symbol: string; dso: string }[]): string {
  if (frames.some((f) => GC.test(f.symbol))) return 'GC (all threads)';
  if (frames.some((f) => COMPILER.test(f.symbol))) return 'JIT compiler';
  let i = 0;
  const inKernel = frames.length > 0 && KERNEL.test(frames[0]?.dso ?? '');
  while (i < frames.length && KERNEL.test(frames[i]?.dso ?? '')) i++;
  const user = frames.slice(i);
  if (inKernel) {
    for (const f of user.slice(0, 6)) {
      for (const [name, re] of NATIVE) if (re.test(f.symbol)) return `kernel: ${name}`;
      if (/epoll_(p)?wait|uv__io_poll/.test(f.symbol)) return 'kernel: event loop wait';
    }
    return 'kernel: other (page faults, timers, scheduling)';
  }
  for (const f of user) {
    const js = jsFrame(f.symbol);
    if (js !== undefined) {
      const found = frameCategory(js);
      if (found !== undefined) return found;
      continue;
    }
    for (const [name, re] of NATIVE) if (re.test(f.symbol)) return name;
  }
  return OTHER;
}

/**
 * The share of each category in `perf.data` (samples of every thread), sorted. `perf script`
 * reads the JIT names from /tmp/perf-<pid>.map, which must still be there.
 */
export function perfShares(file: string): { shares: [string, number][]; samples: number } {
  const out = spawnSync('perf', ['script', '-i', file, '-F', 'ip,sym,dso'], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  if (out.status !== 0) throw new Error(`perf script failed: ${out.stderr}`);
  const counts = new Map<string, number>();
  let samples = 0;
  for (const block of out.stdout.split(/\n\s*\n/)) {
    const frames = block
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map(parseFrame);
    if (frames.length === 0) continue;
    samples++;
    const cat = categoryOf(frames);
    counts.set(cat, (counts.get(cat) ?? 0) + 1);
  }
  const shares = [...counts.entries()]
    .map(([k, n]) => [k, n / Math.max(samples, 1)] as [string, number])
    .sort((a, b) => b[1] - a[1]);
  return { shares, samples };
}
