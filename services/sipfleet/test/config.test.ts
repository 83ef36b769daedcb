import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { applyEnv, ConfigError, loadEdgeConfig, parseEdgeConfig } from '../src/config.js';

const dir = mkdtempSync(join(tmpdir(), 'sipfleet-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('an empty config gets every default', () => {
  const config = parseEdgeConfig({});
  assert.deepEqual(config.listen, [
    { protocol: 'udp', address: '127.0.0.1', port: 5060 },
    { protocol: 'tcp', address: '127.0.0.1', port: 5060 },
  ]);
  assert.equal(config.admin.port, 9060);
  assert.equal(config.timers.T1, 500);
  assert.equal(config.timers.frInvTimerMs, 120_000);
  assert.equal(config.timers.waitMs, 5000);
  assert.equal(config.maxForwards, 70);
});

test('bad settings are named by their path', () => {
  assert.throws(
    () => parseEdgeConfig({ listen: [{ protocol: 'sctp', address: 'x', port: 5060 }] }),
    (err: unknown) => err instanceof ConfigError && /listen\.0\.protocol/.test(err.message),
  );
  assert.throws(
    () => parseEdgeConfig({ timers: { T1: -1 } }),
    (err: unknown) => err instanceof ConfigError && /timers\.T1/.test(err.message),
  );
  assert.throws(
    () => parseEdgeConfig({ admin: { port: 70000 } }),
    (err: unknown) => err instanceof ConfigError && /admin\.port/.test(err.message),
  );
  assert.throws(
    () => parseEdgeConfig({ lisen: [] }),
    (err: unknown) => err instanceof ConfigError && /lisen/.test(err.message),
  );
});

test('YAML files load; the environment overrides listen and admin addresses', () => {
  const file = join(dir, 'edge.yaml');
  writeFileSync(file, 'nodeId: e1\nrouting:\n  module: ./routes.js\nadmin:\n  port: 9999\n');
  const config = loadEdgeConfig(file, {
    SIPFLEET_LISTEN: 'udp:127.0.0.1:5070,tcp:[::1]:5071',
    SIPFLEET_ADMIN: '127.0.0.1:9100',
  });
  assert.equal(config.nodeId, 'e1');
  assert.deepEqual(config.listen, [
    { protocol: 'udp', address: '127.0.0.1', port: 5070 },
    { protocol: 'tcp', address: '::1', port: 5071 },
  ]);
  assert.equal(config.admin.port, 9100);
  assert.equal(config.routing.module, join(dir, 'routes.js'));
});

test('bad environment values and unreadable files fail with the setting named', () => {
  assert.throws(
    () => applyEnv({}, { SIPFLEET_LISTEN: 'udp:5060' }),
    (err: unknown) => err instanceof ConfigError && /SIPFLEET_LISTEN/.test(err.message),
  );
  assert.throws(
    () => loadEdgeConfig(join(dir, 'missing.yaml'), {}),
    (err: unknown) => err instanceof ConfigError && /cannot read config file/.test(err.message),
  );
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, '- just\n- a list\n');
  assert.throws(
    () => loadEdgeConfig(bad, {}),
    (err: unknown) => err instanceof ConfigError && /top level must be a mapping/.test(err.message),
  );
});

test('secfilter and routing.allowRelay: off by default, trusted entries checked at start', () => {
  const config = parseEdgeConfig({});
  assert.equal(config.routing.allowRelay, false, 'no open relay unless asked for');
  assert.deepEqual(config.secfilter, {
    enabled: false,
    trusted: [],
    samplingTimeUnitMs: 2000,
    reqsDensityPerUnit: 16,
    removeLatencyMs: 4000,
    banSeconds: 300,
    maxSources: 100_000,
  });
  assert.equal(
    parseEdgeConfig({ routing: { destination: 'sip:10.0.0.1' } }).routing.allowRelay,
    false,
  );
  const ok = parseEdgeConfig({ secfilter: { enabled: true, trusted: ['10.0.0.0/8', '::1'] } });
  assert.deepEqual(ok.secfilter.trusted, ['10.0.0.0/8', '::1']);
  assert.throws(
    () => parseEdgeConfig({ secfilter: { trusted: ['10.0.0.1', 'trunk.example.com'] } }),
    (err: unknown) =>
      err instanceof ConfigError &&
      /secfilter\.trusted\.1: not an IP address or CIDR/.test(err.message),
  );
});

test('routing.dispatcher: hash template checked at start, user-only hashing and latency refresh defaults', () => {
  const base = { set: 1, algorithm: 7 };
  const d = parseEdgeConfig({ routing: { dispatcher: base } }).routing.dispatcher;
  assert.equal(d?.hashUserOnly, false);
  assert.equal(d?.latencyRefreshMs, 1000);
  assert.equal(d?.hashTemplate, undefined);
  const ok = parseEdgeConfig({
    routing: { dispatcher: { ...base, hashTemplate: '$fU@$ci', hashUserOnly: true } },
  }).routing.dispatcher;
  assert.equal(ok?.hashTemplate, '$fU@$ci');
  assert.equal(ok?.hashUserOnly, true);
  for (const [hashTemplate, why] of [
    ['$fU@$xx', /unknown variable at offset 4/],
    ['tenant', /has no variable/],
    ['$hdr(X-Tenant', /bad \$hdr\(\)/],
  ] as const) {
    assert.throws(
      () => parseEdgeConfig({ routing: { dispatcher: { ...base, hashTemplate } } }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.message.includes(`routing.dispatcher.hashTemplate: template '${hashTemplate}'`) &&
        why.test(err.message),
      hashTemplate,
    );
  }
  assert.throws(
    () =>
      parseEdgeConfig({
        routing: { dispatcher: { ...base, hashTemplate: '$ci', hashHeader: 'X-Tenant' } },
      }),
    (err: unknown) =>
      err instanceof ConfigError &&
      /routing\.dispatcher: set hashHeader or hashTemplate, not both/.test(err.message),
  );
  assert.throws(
    () => parseEdgeConfig({ routing: { dispatcher: { ...base, latencyRefreshMs: 0 } } }),
    (err: unknown) =>
      err instanceof ConfigError && /routing\.dispatcher\.latencyRefreshMs/.test(err.message),
  );
});

test('dns and ds_dns_mode settings: defaults, and bad servers or TTL bounds named by path', () => {
  const config = parseEdgeConfig({});
  assert.deepEqual(config.dns, {
    servers: [],
    minTtlSeconds: 5,
    maxTtlSeconds: 300,
    defaultTtlSeconds: 60,
    maxEntries: 1000,
    refreshIntervalSeconds: 10,
    failover: true,
  });
  assert.equal(config.dispatcher.dnsMode, 'init');
  assert.equal(config.dispatcher.dnsIntervalSeconds, 600);
  const servers = ['127.0.0.1', '127.0.0.1:5353', '::1', '[::1]:5353'];
  assert.deepEqual(parseEdgeConfig({ dns: { servers } }).dns.servers, servers);
  const named = (raw: Record<string, unknown>, path: RegExp) =>
    assert.throws(
      () => parseEdgeConfig(raw),
      (err: unknown) => err instanceof ConfigError && path.test(err.message),
    );
  named({ dns: { servers: ['dns.example.com'] } }, /dns\.servers\.0/);
  named({ dns: { servers: ['127.0.0.1:99999'] } }, /dns\.servers\.0/);
  named({ dns: { minTtlSeconds: 0 } }, /dns\.minTtlSeconds/);
  named({ dns: { minTtlSeconds: 60, maxTtlSeconds: 30 } }, /dns.*maxTtlSeconds/);
  named({ dispatcher: { dnsMode: 'always' } }, /dispatcher\.dnsMode/);
});

test('routing.dispatcher: useDefault, mode and routes defaults, checked at start', () => {
  const base = { set: 1, algorithm: 4 };
  const d = parseEdgeConfig({ routing: { dispatcher: base } }).routing.dispatcher;
  assert.equal(d?.useDefault, false);
  assert.equal(d?.mode, 'destination');
  assert.equal(d?.routes, undefined);
  const ok = parseEdgeConfig({
    routing: { dispatcher: { ...base, useDefault: true, mode: 'domain', routes: '2=0;3=4' } },
  }).routing.dispatcher;
  assert.deepEqual([ok?.useDefault, ok?.mode, ok?.routes], [true, 'domain', '2=0;3=4']);
  const refused: [Record<string, unknown>, RegExp][] = [
    [
      { routes: '2=x' },
      /routing\.dispatcher\.routes: dispatcher routes '2=x': '2=x' is not set=algorithm/,
    ],
    [{ routes: '2=10' }, /routing\.dispatcher\.routes: algorithm 10 cannot be in routes/],
    [
      { algorithm: 10, useDefault: true },
      /routing\.dispatcher: useDefault and routes do not apply to algorithm 10/,
    ],
    [{ mode: 'uri' }, /routing\.dispatcher\.mode/],
  ];
  for (const [extra, message] of refused) {
    assert.throws(
      () => parseEdgeConfig({ routing: { dispatcher: { ...base, ...extra } } }),
      (err: unknown) => err instanceof ConfigError && message.test(err.message),
      JSON.stringify(extra),
    );
  }
});

test('dispatcher.defaultSocket must be a UDP socket of listen', () => {
  const listen = [{ protocol: 'udp', address: '127.0.0.1', port: 5070 }];
  const ok = parseEdgeConfig({ listen, dispatcher: { defaultSocket: 'udp:127.0.0.1:5070' } });
  assert.equal(ok.dispatcher.defaultSocket, 'udp:127.0.0.1:5070');
  for (const [defaultSocket, message] of [
    ['udp:127.0.0.1:5071', /dispatcher\.defaultSocket: udp:127\.0\.0\.1:5071 is not one of listen/],
    ['tcp:127.0.0.1:5070', /dispatcher\.defaultSocket: must be a UDP socket/],
    ['127.0.0.1:5070', /dispatcher\.defaultSocket: must be a UDP socket/],
  ] as const) {
    assert.throws(
      () => parseEdgeConfig({ listen, dispatcher: { defaultSocket } }),
      (err: unknown) => err instanceof ConfigError && message.test(err.message),
      defaultSocket,
    );
  }
});

test('dispatcher.registerAllowFrom: networks checked, each set must be a register set', () => {
  assert.deepEqual(parseEdgeConfig({}).dispatcher.registerAllowFrom, []);
  const ok = parseEdgeConfig({
    dispatcher: { registerSets: [2], registerAllowFrom: [{ set: 2, networks: ['10.1.0.0/16'] }] },
  });
  assert.deepEqual(ok.dispatcher.registerAllowFrom, [{ set: 2, networks: ['10.1.0.0/16'] }]);
  assert.throws(
    () =>
      parseEdgeConfig({
        dispatcher: { registerSets: [2], registerAllowFrom: [{ set: 2, networks: ['10.1/99'] }] },
      }),
    /dispatcher\.registerAllowFrom\.0\.networks\.0: not an IP address or CIDR/,
  );
  assert.throws(
    () =>
      parseEdgeConfig({
        dispatcher: { registerAllowFrom: [{ set: 3, networks: ['10.0.0.0/8'] }] },
      }),
    /dispatcher\.registerAllowFrom: every registerAllowFrom set must be listed in registerSets/,
  );
});

test('handoff: off by default; on, it needs Redis and one secret, read from a file relative to the config', () => {
  assert.equal(parseEdgeConfig({}).handoff.enabled, false);
  assert.equal(parseEdgeConfig({}).handoff.maxOwners, 200_000);
  assert.throws(() => parseEdgeConfig({ handoff: { maxOwners: 0 } }), /handoff.maxOwners/);
  assert.throws(
    () => parseEdgeConfig({ handoff: { enabled: true } }),
    /handoff: handoff.enabled needs handoff.secret or handoff.secretFile/,
  );
  assert.throws(
    () => parseEdgeConfig({ handoff: { secret: 'short' } }),
    /handoff.secret: a hand-off secret needs at least 16 characters/,
  );
  const secretFile = join(dir, 'handoff.secret');
  writeFileSync(secretFile, 'a-fleet-secret-of-32-characters!\n');
  const file = join(dir, 'handoff.yaml');
  writeFileSync(file, 'handoff: { enabled: true, secretFile: handoff.secret }\n');
  assert.throws(() => loadEdgeConfig(file, {}), /handoff.enabled: needs redis.url/);
  const config = loadEdgeConfig(file, { SIPFLEET_REDIS_URL: 'redis://127.0.0.1:6379' });
  assert.equal(config.handoff.secret, 'a-fleet-secret-of-32-characters!');
  writeFileSync(
    file,
    'redis: { url: "redis://127.0.0.1:6379" }\nhandoff: { enabled: true, secretFile: nowhere }\n',
  );
  assert.throws(
    () => loadEdgeConfig(file, {}),
    (err: Error) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /^handoff.secretFile: cannot read .*nowhere/);
      return true;
    },
  );
});

test('ws and wss listeners (RFC 7118): wss needs a certificate, browsers none; keep-alive default', () => {
  const config = parseEdgeConfig({
    listen: [
      { protocol: 'ws', address: '127.0.0.1', port: 8080 },
      { protocol: 'wss', address: '127.0.0.1', port: 8443, tls: { certFile: 'c', keyFile: 'k' } },
    ],
  });
  assert.deepEqual(
    config.listen.map((l) => l.protocol),
    ['ws', 'wss'],
  );
  assert.equal(config.transport.wsKeepaliveIntervalMs, 30_000);
  assert.throws(
    () => parseEdgeConfig({ listen: [{ protocol: 'wss', address: '127.0.0.1', port: 8443 }] }),
    (err: unknown) =>
      err instanceof ConfigError &&
      /listen\.0\.tls: a wss listener needs tls\.certFile and tls\.keyFile/.test(err.message),
  );
  assert.throws(
    () =>
      parseEdgeConfig({
        listen: [
          { protocol: 'ws', address: '127.0.0.1', port: 80, tls: { certFile: 'c', keyFile: 'k' } },
        ],
      }),
    (err: unknown) =>
      err instanceof ConfigError && /listen\.0\.tls: not for a ws listener/.test(err.message),
  );
  assert.throws(
    () =>
      parseEdgeConfig({
        listen: [
          {
            protocol: 'wss',
            address: '127.0.0.1',
            port: 8443,
            tls: { certFile: 'c', keyFile: 'k', verifyClient: 'require' },
          },
        ],
      }),
    (err: unknown) =>
      err instanceof ConfigError && /listen\.0\.tls\.verifyClient: wss listeners/.test(err.message),
  );
  assert.throws(
    () => parseEdgeConfig({ transport: { wsKeepaliveIntervalMs: 10 } }),
    (err: unknown) =>
      err instanceof ConfigError && /transport\.wsKeepaliveIntervalMs/.test(err.message),
  );
  assert.deepEqual(applyEnv({}, { SIPFLEET_LISTEN: 'ws:127.0.0.1:8080' }).listen, [
    { protocol: 'ws', address: '127.0.0.1', port: 8080 },
  ]);
});

test('listen[].name: what a dispatcher sockname attribute names; each name once', () => {
  const config = parseEdgeConfig({
    listen: [{ protocol: 'udp', address: '127.0.0.1', port: 5060, name: 'trunk' }],
  });
  assert.equal(config.listen[0]?.name, 'trunk');
  assert.throws(
    () =>
      parseEdgeConfig({
        listen: [
          { protocol: 'udp', address: '127.0.0.1', port: 5060, name: 'a' },
          { protocol: 'tcp', address: '127.0.0.1', port: 5060, name: 'a' },
        ],
      }),
    /listen: the name a is given twice/,
  );
  assert.throws(
    () => parseEdgeConfig({ listen: [{ protocol: 'udp', address: '::1', port: 1, name: 'a b' }] }),
    /listen\.0\.name: letters, digits, _ \. - only/,
  );
});
