import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  SipfleetDispatcherError,
  compileHashTemplate,
  type TemplateRequest,
} from '../src/index.js';

const req: TemplateRequest = {
  callId: 'c1@host',
  from: { uri: 'sips:alice:secret@[2001:db8::1]:5071;transport=tls' },
  to: { uri: 'tel:+15551234' },
  getHeader: (name) => (name.toLowerCase() === 'x-tenant' ? 'acme' : undefined),
};

test('hash template: literal text around every supported variable', () => {
  const t = compileHashTemplate('id=$ci;from=$fU@$fd;to=$tU$td;tenant=$hdr(x-tenant);r=$rU@$rd');
  assert.equal(t.source, 'id=$ci;from=$fU@$fd;to=$tU$td;tenant=$hdr(x-tenant);r=$rU@$rd');
  // A To URI that is not sip:/sips: has no user or domain: it prints as nothing.
  assert.equal(
    t.print(req, 'sip:bob@example.com;user=phone'),
    'id=c1@host;from=alice@[2001:db8::1];to=;tenant=acme;r=bob@example.com',
  );
  assert.equal(compileHashTemplate('$ru').print(req, 'sip:x@y'), 'sip:x@y');
});

test('hash template: a URI the parser refuses prints as nothing instead of throwing', () => {
  const broken: TemplateRequest = {
    ...req,
    from: {
      get uri(): { toString(): string } {
        throw new Error('unparsable From');
      },
    },
  };
  assert.equal(compileHashTemplate('[$fU][$ci]').print(broken, 'sip:a@b'), '[][c1@host]');
});

test('hash template: errors name the setting and what is wrong', () => {
  const cases: [string, RegExp][] = [
    ['', /no variable/],
    ['plain text', /no variable/],
    ['$fU@$xx', /unknown variable at offset 4/],
    ['$', /unknown variable at offset 0/],
    ['$hdr(X-Tenant', /bad \$hdr\(\) at offset 0/],
    ['$hdr()', /bad \$hdr\(\)/],
    ['$hdr(a b)', /bad \$hdr\(\)/],
  ];
  for (const [source, message] of cases) {
    assert.throws(
      () => compileHashTemplate(source, 'routing.dispatcher.hashTemplate'),
      (err: unknown) =>
        err instanceof SipfleetDispatcherError &&
        err.code === 'SIPFLEET_ERR_DISPATCHER_HASH_TEMPLATE' &&
        err.message.startsWith(`routing.dispatcher.hashTemplate '${source}'`) &&
        message.test(err.message),
      source,
    );
  }
});
