import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseList } from '@sipfleet/dispatcher';
import { loadEdgeConfig } from '../src/config.js';
import { loadProberConfig } from '../src/prober/config.js';

const deploy = (path: string) => new URL(`../../../deploy/${path}`, import.meta.url).pathname;

test('deploy/config/edge.yaml is a valid edge config', () => {
  const config = loadEdgeConfig(deploy('config/edge.yaml'), {});
  assert.equal(config.advertise?.host, 'sip.example.net');
  assert.equal(config.routing.dispatcher?.algorithm, 10);
});

test('deploy/config/prober.yaml is a valid prober config', () => {
  const config = loadProberConfig(deploy('config/prober.yaml'), {});
  assert.equal(config.dispatcher.probingThreshold, 3);
});

test('deploy/config/dispatcher.list parses as a Kamailio dispatcher list', () => {
  const sets = parseList(readFileSync(deploy('config/dispatcher.list'), 'utf8'));
  assert.equal(sets.length, 2);
});
