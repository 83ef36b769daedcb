// Client-side tracking (Redis 6+) in broadcasting mode, so a process learns about every write under
// some key prefixes, by any client (sipfleet or a plain redis-cli), including expiry and eviction.
//
// One dedicated connection per master: it asks for tracking with REDIRECT to its own client id and
// then SUBSCRIBEs to `__redis__:invalidate`, the RESP2 way to receive invalidation messages.
// Tracking is node-local, hence one connection per Cluster master. A connection that comes back
// (reconnect, Sentinel failover, new Cluster master) may have missed invalidations, so every
// (re)established node emits `resync` and the cache owner re-reads what it holds.
//
// Cluster topology: the set of masters is re-read after every slots refresh (`refresh`), not only
// on `+node`/`-node`: a failover promotes a replica that ioredis already knew, so no `+node` is
// emitted for it, and the `-node` of the dead master comes before the promotion is recorded. A
// tracking connection that closes asks for a slots refresh, so a failover or a slot move is
// noticed without waiting for a MOVED reply.
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { endClient, type RedisConnection } from './connection.js';
import type { ChangeFeed } from './mirror.js';
import type { HostPort } from './settings.js';

export const INVALIDATE_CHANNEL = '__redis__:invalidate';

export interface InvalidationEvents {
  /** Keys changed or vanished; null means the whole database was flushed (FLUSHALL/FLUSHDB). */
  invalidate: [keys: string[] | null];
  /** A node's tracking was (re)established: anything cached from it may be stale, re-read. */
  resync: [];
  up: [];
  down: [];
}

interface Node {
  id: string;
  client: Redis;
  tracked: boolean;
}

export class InvalidationTracker extends EventEmitter<InvalidationEvents> implements ChangeFeed {
  private readonly nodes = new Map<string, Node>();
  private isReady = false;
  private closed = false;
  private readonly onTopology = () => this.reconcile();

  /** @param prefixes BCAST PREFIX values: only keys starting with one of them are reported. */
  constructor(
    private readonly conn: RedisConnection,
    private readonly prefixes: string[],
  ) {
    super();
  }

  /** True while every master's tracking connection is subscribed. */
  get ready(): boolean {
    return this.isReady;
  }

  /** Connects to every master in the background (and follows topology changes); returns at once. */
  start(): void {
    if (this.closed) return;
    const client = this.conn.client;
    if ('nodes' in client) {
      client.on('+node', this.onTopology);
      client.on('-node', this.onTopology);
      client.on('refresh', this.onTopology);
      client.on('ready', this.onTopology);
    }
    this.reconcile();
  }

  private reconcile(): void {
    if (this.closed) return;
    const masters: (HostPort | undefined)[] = this.conn.masters() ?? [undefined];
    const wanted = new Map(masters.map((m) => [m ? `${m.host}:${m.port}` : 'master', m]));
    for (const [id, node] of this.nodes) {
      if (!wanted.has(id)) {
        this.nodes.delete(id);
        node.client.disconnect();
      }
    }
    for (const [id, endpoint] of wanted) {
      if (!this.nodes.has(id)) this.addNode(id, endpoint);
    }
    this.updateReady();
  }

  private addNode(id: string, endpoint: HostPort | undefined): void {
    // autoResubscribe off: tracking must be switched on before the connection enters subscriber mode.
    const client = this.conn.nodeClient(endpoint, {
      autoResubscribe: false,
      connectionName: 'sipfleet-tracking',
    });
    const node: Node = { id, client, tracked: false };
    this.nodes.set(id, node);
    client.on('error', () => undefined); // reconnects on its own with backoff
    client.on('ready', () => void this.track(node));
    client.on('close', () => {
      node.tracked = false;
      this.updateReady();
      // A master that went away may have been replaced (failover) or its slots moved: ask.
      const cluster = this.conn.client;
      if (!this.closed && 'nodes' in cluster && cluster.status === 'ready')
        cluster.refreshSlotsCache();
    });
    client.on('messageBuffer', (channel: Buffer, message: unknown) => {
      if (channel.toString() !== INVALIDATE_CHANNEL) return;
      if (message === null) this.emit('invalidate', null);
      else if (Array.isArray(message))
        this.emit(
          'invalidate',
          message.map((k: Buffer) => k.toString()),
        );
    });
  }

  private async track(node: Node): Promise<void> {
    const { client } = node;
    try {
      const clientId = String(await client.client('ID'));
      const prefixArgs = this.prefixes.flatMap((p) => ['PREFIX', p]);
      await client.call('CLIENT', 'TRACKING', 'ON', 'REDIRECT', clientId, 'BCAST', ...prefixArgs);
      await client.subscribe(INVALIDATE_CHANNEL);
    } catch {
      // Lost the connection halfway, or the server refused: start over on a fresh connection.
      if (!this.closed && this.nodes.get(node.id) === node) client.disconnect(true);
      return;
    }
    node.tracked = true;
    this.updateReady();
    this.emit('resync');
  }

  private updateReady(): void {
    const ready =
      !this.closed && this.nodes.size > 0 && [...this.nodes.values()].every((n) => n.tracked);
    if (ready === this.isReady) return;
    this.isReady = ready;
    this.emit(ready ? 'up' : 'down');
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.conn.client;
    if ('nodes' in client) {
      client.off('+node', this.onTopology);
      client.off('-node', this.onTopology);
      client.off('refresh', this.onTopology);
      client.off('ready', this.onTopology);
    }
    const nodes = [...this.nodes.values()];
    this.nodes.clear();
    await Promise.all(nodes.map((n) => endClient(n.client)));
    this.updateReady();
  }
}
