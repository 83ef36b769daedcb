// dispatcher.set_duid_state, ds_select_routes, use_default and ds_is_from_list by host name on a
// real redis-server: what the edge's route and routing modules call on the view and the fleet.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { once } from 'node:events';
import { RedisConnection } from '@sipfleet/redis';
import {
  startRedis,
  uniquePrefix,
  waitFor,
  type RedisServer,
} from '@sipfleet/test-helpers/redis-server';
import {
  DS_ALG,
  DispatcherFleet,
  DispatcherFleetError,
  DispatcherView,
  type Selection,
  SipfleetDispatcherError,
  formatFlags,
} from '../src/index.js';

const LIST = `1 sip:10.0.0.1 0 0 duid=gw1
1 sip:10.0.0.2 0 0 duid=gw2
2 sip:10.0.0.3 0 0 duid=gw3
2 sip:10.0.0.4 0 0
3 sip:localhost:5070 0 0
3 sip:nothing.invalid 0 0
`;

const uris = (s: Selection) => s.candidates.map((c) => c.destination.uri);

describe('dispatcher functions on Redis', () => {
  let redis: RedisServer;
  before(async () => (redis = await startRedis()));
  after(() => redis.stop());

  async function setup(t: { after(fn: () => unknown): void }) {
    const conn = new RedisConnection({ redis: redis.url, keyPrefix: uniquePrefix() });
    t.after(() => conn.close());
    await conn.waitUntilReady();
    const fleet = new DispatcherFleet(conn);
    await fleet.load(LIST);
    const errors: Error[] = [];
    const view = DispatcherView.start(conn, {
      reconcileIntervalMs: 0,
      onError: (e) => errors.push(e),
    });
    t.after(() => view.close());
    const resolved = once(view, 'resolved');
    await view.mirror.waitUntilReady(10_000);
    return { fleet, view, errors, resolved };
  }

  test('set_duid_state sets the destination with that duid; unknown duids and states throw', async (t) => {
    const { fleet } = await setup(t);
    const done = await fleet.setDuidState(1, 'gw2', 'ip');
    assert.deepEqual(
      done.map((d) => [d.uri, formatFlags(d.transition.newFlags)]),
      [['sip:10.0.0.2', 'IP']],
    );
    const flags = async () => (await fleet.list())[0]?.destinations.map((d) => d.flagsText);
    assert.deepEqual(await flags(), ['IP', 'AX'], 'set order: 10.0.0.2 first');
    await assert.rejects(
      fleet.setDuidState(1, 'gw3', 'i'),
      (e: unknown) =>
        e instanceof DispatcherFleetError &&
        e.code === 'SIPFLEET_ERR_DISPATCHER_UNKNOWN_DESTINATION',
      'gw3 is in set 2',
    );
    await assert.rejects(
      fleet.setDuidState(1, 'gw1', 'x'),
      (e: unknown) => e instanceof SipfleetDispatcherError,
    );
    assert.deepEqual(await flags(), ['IP', 'AX'], 'set order: 10.0.0.2 first');
  });

  test('selectRoutes concatenates the rules in order, with limit and use_default', async (t) => {
    const { fleet, view } = await setup(t);
    const input = { callId: 'a84b4c76e66710@pc33.atlanta.com' };
    const rules = [
      { set: 1, alg: DS_ALG.SERIAL },
      { set: 2, alg: DS_ALG.SERIAL },
    ];
    // Set order reverses file order among equal priorities.
    const all = await view.selectRoutes(rules, input);
    assert.deepEqual(uris(all), ['sip:10.0.0.2', 'sip:10.0.0.1', 'sip:10.0.0.4', 'sip:10.0.0.3']);
    assert.deepEqual(uris(await view.selectRoutes(rules, input, { limit: 3 })), [
      'sip:10.0.0.2',
      'sip:10.0.0.1',
      'sip:10.0.0.4',
    ]);
    // use_default per set: each set's last destination goes last within its own part.
    assert.deepEqual(uris(await view.selectRoutes(rules, input, { useDefault: true })), [
      'sip:10.0.0.2',
      'sip:10.0.0.1',
      'sip:10.0.0.4',
      'sip:10.0.0.3',
    ]);
    assert.deepEqual(
      uris(await view.selectDestinations(1, DS_ALG.ROUND_ROBIN, {}, { useDefault: true })),
      ['sip:10.0.0.2', 'sip:10.0.0.1'],
    );
    // Set 1 down: set 2 alone. Everything down: the first rule's failure.
    await fleet.setState(1, 'sip:10.0.0.1', 'i', { mode: 'rpc' });
    await fleet.setState(1, 'sip:10.0.0.2', 'i', { mode: 'rpc' });
    await fleet.setState(2, 'sip:10.0.0.3', 'd', { mode: 'rpc' });
    await fleet.setState(2, 'sip:10.0.0.4', 'd', { mode: 'rpc' });
    await waitFor(
      'the view sees both sets down',
      async () => !view.isActive(1) && !view.isActive(2),
    );
    const none = await view.selectRoutes(rules, input);
    assert.deepEqual(none.failure?.reason, 'no-active-destination');
    assert.equal(none.setId, 1);
    const callLoad = await view.selectRoutes([{ set: 1, alg: DS_ALG.CALL_LOAD }], input);
    assert.equal(callLoad.failure?.reason, 'bad-input');
  });

  test('ds_is_from_list matches a destination listed by host name once it resolved', async (t) => {
    const { view, errors, resolved } = await setup(t);
    await resolved;
    for (const address of ['127.0.0.1', '::1']) {
      const found = view.isFromList(address, 5070);
      // localhost may resolve to either family only: each address it gave matches.
      if (found !== undefined) assert.equal(found.uri, 'sip:localhost:5070');
    }
    assert.equal(view.isFromList('127.0.0.1', 5070)?.uri, 'sip:localhost:5070');
    assert.equal(view.isFromList('127.0.0.1', 5071), undefined, 'the listed port must match');
    assert.equal(view.isFromList('127.0.0.1', 5070, 1), undefined, 'another set');
    assert.equal(view.isFromList('localhost', 5070)?.setid, 3, 'the name as written still matches');
    const report = errors.find(
      (e) => e instanceof DispatcherFleetError && e.code === 'SIPFLEET_ERR_DISPATCHER_RESOLVE',
    );
    assert.match(report?.message ?? '', /cannot resolve nothing\.invalid;/);
  });
});
