/**
 * The native IPv4 UDP engine (native/udp4.c, built by scripts/bootstrap.mjs with node-gyp): one
 * call into JavaScript per batch of datagrams (recvmmsg) instead of one per datagram, no `rinfo`
 * object or address formatting per datagram, and sends queued to leave together in one `sendmmsg`
 * per batch or turn of the loop (docs/architecture.md, "UDP engine"). It serves IPv4
 * listeners; IPv6 stays on node:dgram. Where the addon could not be built the transport uses
 * node:dgram for everything, and says why once (`udpEngine`).
 */
import { createRequire } from 'node:module';
import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import dns from 'node:dns';
import { reportLater, TransportError, TransportErrorCode } from './errors.js';
import type { RemoteInfo } from './types.js';
import { CR, isOnlyCrlf, LF, MAX_UDP4_PAYLOAD, sendError } from './udp-common.js';
import type { DatagramSocket, UdpSocketOptions } from './udp-common.js';

interface Binding {
  open(
    address: number,
    port: number,
    recvBufferSize: number,
    sendBufferSize: number,
    onBatch: (data: ArrayBuffer, meta: Int32Array, count: number) => void,
    onSendFailed: (failed: Int32Array, count: number) => void,
  ): object;
  port(handle: object): number;
  /** The datagram's index in the send queue (0: a new queue), or -errno. */
  send(handle: object, data: Uint8Array, address: number, port: number): number;
  close(handle: object): void;
}

function load(): { binding?: Binding; why?: string } {
  try {
    return {
      binding: createRequire(import.meta.url)('../build/Release/udp4.node') as Binding,
    };
  } catch (err) {
    return { why: err instanceof Error ? err.message.split('\n')[0] : String(err) };
  }
}

const loaded = load();

/** Why the native engine is not there (undefined when it is). */
export const nativeUdpMissing: string | undefined =
  loaded.binding === undefined ? (loaded.why ?? 'not built') : undefined;

/** Dotted quad → the int32 the addon takes; the few peers of an edge are cached. */
const toInt = new Map<string, number>();
/** And back, for RemoteInfo: the same string for every datagram from one address. */
const toText = new Map<number, string>();
const CACHE_MAX = 4096;

function ipv4ToInt(address: string): number {
  let v = toInt.get(address);
  if (v === undefined) {
    const p = address.split('.').map(Number);
    v = ((p[0] ?? 0) << 24) | ((p[1] ?? 0) << 16) | ((p[2] ?? 0) << 8) | (p[3] ?? 0) | 0;
    if (toInt.size >= CACHE_MAX) toInt.clear();
    toInt.set(address, v);
  }
  return v;
}

function intToIpv4(v: number): string {
  let s = toText.get(v);
  if (s === undefined) {
    s = `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
    if (toText.size >= CACHE_MAX) toText.clear();
    toText.set(v, s);
  }
  return s;
}

function errnoText(errno: number): string {
  return `${getSystemErrorName(-errno)} (errno ${errno})`;
}

export class NativeUdp4Socket implements DatagramSocket {
  readonly family = 'IPv4' as const;
  readonly local: { address: string; port: number };
  private readonly handle: object;
  private readonly binding: Binding;
  private readonly options: UdpSocketOptions;
  /** The addon frees the socket once libuv lets go of it: no call may reach it after close. */
  private closed = false;
  /** Who to tell when a queued datagram fails, by its index in the addon's send queue. */
  private readonly queuedOnError: (((err: Error) => void) | undefined)[] = [];
  private readonly queuedAddress: string[] = [];
  private readonly queuedPort: number[] = [];

  private constructor(binding: Binding, options: UdpSocketOptions) {
    this.binding = binding;
    this.options = options;
    try {
      this.handle = binding.open(
        ipv4ToInt(options.address),
        options.port,
        options.recvBufferSize,
        options.sendBufferSize,
        (data, meta, count) => this.receive(data, meta, count),
        (failed, count) => this.sendFailed(failed, count),
      );
    } catch (err) {
      // as node:dgram's: `bind EADDRINUSE 127.0.0.1:5060` with code, errno and syscall
      const errno = Number((err as { code?: string }).code);
      const code = Number.isInteger(errno) ? getSystemErrorName(-errno) : 'EINVAL';
      const sys = Object.assign(new Error(`bind ${code} ${options.address}:${options.port}`), {
        code,
        errno: -errno,
        syscall: 'bind',
        address: options.address,
        port: options.port,
      });
      throw new TransportError(
        TransportErrorCode.Listen,
        `cannot bind udp ${options.address}:${options.port}: ${sys.message}`,
        { cause: sys },
      );
    }
    this.local = { address: options.address, port: binding.port(this.handle) };
  }

  /** The native socket for an IPv4 literal, or undefined where node:dgram must serve. */
  static bind(options: UdpSocketOptions): NativeUdp4Socket | undefined {
    if (loaded.binding === undefined || net.isIPv4(options.address) === false) return undefined;
    return new NativeUdp4Socket(loaded.binding, options);
  }

  send(data: Buffer, port: number, address: string, onError?: (err: Error) => void): void {
    if (data.length > MAX_UDP4_PAYLOAD) {
      reportLater(onError, sendError(address, port, `${data.length} bytes do not fit a datagram`));
      return;
    }
    if (toInt.has(address) || net.isIPv4(address)) {
      this.sendTo(data, ipv4ToInt(address), port, address, onError);
      return;
    }
    // the rare name (a sent-by host given straight to send()), as node:dgram's lookup would
    dns.lookup(address, { family: 4 }, (err, resolved) => {
      if (err !== null) onError?.(sendError(address, port, err.message, err));
      else this.sendTo(data, ipv4ToInt(resolved), port, address, onError);
    });
  }

  private sendTo(
    data: Buffer,
    ip: number,
    port: number,
    address: string,
    onError: ((err: Error) => void) | undefined,
  ): void {
    if (this.closed) {
      reportLater(onError, sendError(address, port, 'the socket is closed'));
      return;
    }
    const at = this.binding.send(this.handle, data, ip, port);
    if (at < 0) {
      reportLater(onError, sendError(address, port, errnoText(-at)));
      return;
    }
    this.queuedOnError[at] = onError;
    this.queuedAddress[at] = address;
    this.queuedPort[at] = port;
  }

  /** The addon sent its queue and the kernel refused some datagrams: [index, errno] pairs. */
  private sendFailed(failed: Int32Array, count: number): void {
    for (let k = 0; k < count; k++) {
      const at = failed[2 * k] as number;
      const err = sendError(
        this.queuedAddress[at] ?? '',
        this.queuedPort[at] ?? 0,
        errnoText(failed[2 * k + 1] as number),
      );
      reportLater(this.queuedOnError[at], err);
    }
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.binding.close(this.handle);
    }
    return Promise.resolve();
  }

  private receive(data: ArrayBuffer, meta: Int32Array, count: number): void {
    for (let i = 0; i < count; i++) {
      const at = 4 * i;
      const datagram = Buffer.from(data, meta[at] as number, meta[at + 1] as number);
      const remote: RemoteInfo = {
        protocol: 'udp',
        address: intToIpv4(meta[at + 2] as number),
        port: meta[at + 3] as number,
        family: 'IPv4',
        local: this.local,
      };
      if (datagram.length > this.options.maxMessageBytes) {
        this.options.onDropped(TransportErrorCode.MessageTooLarge, remote);
        continue;
      }
      if ((datagram[0] === CR || datagram[0] === LF) && isOnlyCrlf(datagram)) continue;
      this.options.onMessage(datagram, remote);
    }
  }
}
