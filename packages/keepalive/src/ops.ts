// Operations the CLI and routing hooks call: the fleet-wide probing switch (kamcmd
// dispatcher.ping_active), "probe this destination now", and reading the latency estimates
// that the latency algorithm (13) uses.

import { decodeLatency, type LatencyStats } from '@sipfleet/dispatcher';
import type { RedisConnection } from '@sipfleet/redis';
import { KEEPALIVE_CHANNEL, type PingActiveEvent } from './events.js';
import { uriField } from './scripts.js';

/**
 * dispatcher.ping_active 0|1: turns every prober's pinging off or on, fleet-wide and at once
 * (each batch checks the switch first). Also reachable with `redis-cli SET <prefix>:{ds}:ping-active 0`.
 */
export async function setPingActive(conn: RedisConnection, active: boolean): Promise<void> {
  await conn.call('SET', conn.keys.dsPingActive(), active ? '1' : '0');
  const event: PingActiveEvent = { type: 'ping-active', active, time: Date.now() };
  await conn.call('PUBLISH', conn.keys.channel(KEEPALIVE_CHANNEL), JSON.stringify(event));
}

/** The switch: on unless the key holds `0`. */
export async function getPingActive(conn: RedisConnection): Promise<boolean> {
  return (await conn.call('GET', conn.keys.dsPingActive())) !== '0';
}

/**
 * Latency statistics of one set as the prober stores them (what `dispatcher.list` shows under
 * LATENCY), per URI field. Edges read them through DispatcherView (latencyRefreshMs).
 */
export async function readLatency(
  conn: RedisConnection,
  setid: number,
): Promise<Map<string, LatencyStats>> {
  const reply = await conn.call('HGETALL', conn.keys.dsLatency(String(setid)));
  const out = new Map<string, LatencyStats>();
  if (!Array.isArray(reply)) return out;
  for (let i = 0; i + 1 < reply.length; i += 2) {
    const stats = decodeLatency(String(reply[i + 1]));
    if (stats !== undefined) out.set(uriField(String(reply[i])), stats);
  }
  return out;
}
