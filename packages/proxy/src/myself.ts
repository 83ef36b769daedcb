import type { SipUri } from '@sipfleet/sip';

/** Host (lower case) and port pairs, looked up without building a `host:port` string. */
export class HostPorts {
  private readonly ports = new Map<string, Set<number>>();

  add(host: string, port: number): void {
    const h = host.toLowerCase();
    let ports = this.ports.get(h);
    if (ports === undefined) this.ports.set(h, (ports = new Set()));
    ports.add(port);
  }

  has(host: string, port: number): boolean {
    return this.ports.get(host.toLowerCase())?.has(port) ?? false;
  }
}

/**
 * Answers "is this URI one of ours?" (Kamailio's `myself`): the advertised Record-Route address,
 * the listening sockets and configured aliases. Used by Route pre-processing (RFC 3261 §16.4) and
 * by the default route to tell requests for the proxy itself from requests to forward.
 */
export class Myself {
  private readonly hostPorts = new HostPorts();
  private readonly hostsAnyPort = new Set<string>();

  /** Adds `host`, `host:port`; a host without a port matches any port we listen on. */
  add(host: string, port?: number): void {
    const h = host.toLowerCase();
    if (port === undefined) this.hostsAnyPort.add(h);
    else this.hostPorts.add(h, port);
  }

  /** Parses `host`, `host:port` or `[v6]:port` forms from config. */
  addAlias(alias: string): void {
    const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(alias.trim());
    if (!m?.[1]) throw new Error(`invalid alias '${alias}': expected host or host:port`);
    this.add(m[1], m[2] === undefined ? undefined : Number(m[2]));
  }

  matches(uri: SipUri): boolean {
    if (uri.scheme === 'tel') return false;
    const host = uri.host.toLowerCase();
    if (this.hostsAnyPort.has(host)) return true;
    const port = uri.port ?? (uri.scheme === 'sips' ? 5061 : 5060);
    return this.hostPorts.has(host, port);
  }
}
