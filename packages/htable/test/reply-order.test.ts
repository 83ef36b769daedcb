import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReplyOrder } from '../src/reply-order.js';

test('a reply to an earlier command never replaces one to a later command for the same key', () => {
  const order = new ReplyOrder();
  const write = order.begin(); // a script: its reply reaches the cache through more frames
  const refetch = order.begin(); // sent after the write, so Redis read the newer state
  assert.equal(order.take('ht:k', refetch), true, 'the refetch lands first');
  assert.equal(order.take('ht:k', write), false, "the write's older result is left out");
  assert.equal(order.take('ht:other', write), true, 'other keys are not held back');
  order.end(refetch);
  order.end(write);
});

test('once nothing is in flight, every new command is newer than anything taken', () => {
  const order = new ReplyOrder();
  const a = order.begin();
  const b = order.begin();
  assert.equal(order.take('k', b), true);
  order.end(b);
  assert.equal(order.take('k', a), false, 'a is still in flight: b stays the newest');
  order.end(a);
  const c = order.begin();
  assert.equal(order.take('k', c), true);
  order.end(c);
});
