import type { Via } from '@sipfleet/sip';
import { parseSocketSpec, type SocketSpec, type TransportProtocol } from '@sipfleet/transport';
import { HostPorts, Myself } from './myself.js';
import type { Listener, ProxyOptions } from './options.js';

/**
 * The proxy's own names (Kamailio's listening sockets, `advertised_address` and `alias`): what goes
 * in our Via (RFC 3261 §16.6 step 8) and Record-Route (§16.6 step 4), and what tells our Via and
 * our Route entries apart from others' (§16.3 step 4, §16.4, §16.7 step 3).
 */
export class OwnAddresses {
  readonly myself = new Myself();
  private readonly sentBy = new HostPorts();
  private readonly viaPrefixes: Partial<Record<TransportProtocol, string>> = {};
  /** `host:port;lr[;transport=x]` of our Record-Route URI per protocol, after `sip:` and a user part. */
  private readonly recordRoutes: Partial<Record<TransportProtocol, string>> = {};
  /** `proto:address:port` of each listener -> its Via prefix (force_send_socket). */
  private readonly listenerVias = new Map<string, string>();

  constructor(options: Pick<ProxyOptions, 'advertised' | 'aliases' | 'sentBy' | 'listeners'>) {
    for (const alias of options.aliases ?? []) this.myself.addAlias(alias);
    for (const protocol of ['udp', 'tcp', 'tls', 'ws', 'wss'] as const) {
      const sentBy = options.sentBy[protocol];
      if (sentBy === undefined) continue;
      const host = hostForUri(sentBy.host);
      this.myself.add(host, sentBy.port);
      this.sentBy.add(host, sentBy.port);
      this.viaPrefixes[protocol] =
        `SIP/2.0/${protocol.toUpperCase()} ${host}:${sentBy.port};branch=`;
      const rrHost = hostForUri(options.advertised?.host ?? sentBy.host);
      const rrPort = options.advertised?.port ?? sentBy.port;
      this.myself.add(rrHost, rrPort);
      // The transport is named except for UDP (RFC 3263's default), so the route set leads back
      // over the transport this side used (RFC 5658 section 4).
      this.recordRoutes[protocol] =
        `${rrHost}:${rrPort};lr${protocol === 'udp' ? '' : `;transport=${protocol}`}`;
    }
    for (const l of options.listeners ?? []) {
      const host = hostForUri(l.sentBy.host);
      this.myself.add(host, l.sentBy.port);
      this.sentBy.add(host, l.sentBy.port);
      this.listenerVias.set(
        socketKey(l),
        `SIP/2.0/${l.protocol.toUpperCase()} ${host}:${l.sentBy.port};branch=`,
      );
    }
  }

  /**
   * force_send_socket: the listener `spec` (`udp:10.0.0.1:5070`) names, or undefined when it is
   * not one of ours (or not a socket spec).
   */
  listener(spec: string): SocketSpec | undefined {
    const parsed = parseSocketSpec(spec);
    return parsed !== undefined && this.listenerVias.has(socketKey(parsed)) ? parsed : undefined;
  }

  /** A Via this proxy put there (its sent-by is one of our listening sockets). */
  isOwnVia(via: Via): boolean {
    return this.sentBy.has(via.host, via.port ?? 5060);
  }

  /**
   * `SIP/2.0/UDP host:port;branch=` for the protocol the request leaves on, or for the listener
   * it leaves from (force_send_socket).
   */
  viaPrefix(protocol: TransportProtocol, from?: SocketSpec): string {
    const prefix =
      (from === undefined ? undefined : this.listenerVias.get(socketKey(from))) ??
      this.viaPrefixes[protocol] ??
      this.viaPrefixes.udp;
    if (prefix === undefined) throw new Error(`no listening socket for ${protocol}`);
    return prefix;
  }

  /**
   * Our Record-Route value facing a side that uses `protocol`, or undefined with no socket.
   * @param params extra URI params (`;k=v`) @param user a flow token for the URI's user part
   */
  recordRoute(protocol: TransportProtocol, params = '', user?: string): string | undefined {
    const tail = this.recordRoutes[protocol] ?? this.recordRoutes.udp;
    if (tail === undefined) return undefined;
    return `<sip:${user === undefined ? '' : `${user}@`}${tail}${params}>`;
  }

  /** Has a listener for `protocol` (else its side's Record-Route falls back to UDP's). */
  listensOn(protocol: TransportProtocol): boolean {
    return this.recordRoutes[protocol] !== undefined;
  }
}

function socketKey(l: Pick<Listener, 'protocol' | 'address' | 'port'>): string {
  return `${l.protocol}:${l.address.toLowerCase()}:${l.port}`;
}

function hostForUri(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
