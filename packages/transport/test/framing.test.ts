import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StreamFramer, TransportErrorCode, contentLength } from '../src/index.js';

function message(body = '', headers = `Content-Length: ${Buffer.byteLength(body)}\r\n`): string {
  return (
    'OPTIONS sip:a@example.com SIP/2.0\r\n' +
    'Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK1\r\n' +
    'Call-ID: x\r\n' +
    headers +
    '\r\n' +
    body
  );
}

function framer(max = 65535): {
  f: StreamFramer;
  frames: string[];
  pings: () => number;
} {
  const frames: string[] = [];
  let pings = 0;
  const f = new StreamFramer(max, {
    message: (frame) => frames.push(frame.toString('latin1')),
    ping: () => pings++,
  });
  return { f, frames, pings: () => pings };
}

describe('StreamFramer (RFC 3261 section 18.3)', () => {
  it('frames a message delivered one byte at a time', () => {
    const { f, frames } = framer();
    const text = message('v=0\r\nbody');
    for (const byte of Buffer.from(text, 'latin1')) {
      assert.equal(f.push(Buffer.from([byte])), undefined);
    }
    assert.deepEqual(frames, [text]);
  });

  it('frames several messages in one chunk and a message split over two chunks', () => {
    const { f, frames } = framer();
    const a = message('first');
    const b = message('');
    const c = message('third body');
    const all = Buffer.from(a + b + c, 'latin1');
    const cut = a.length + b.length + 20;
    f.push(all.subarray(0, cut));
    assert.deepEqual(frames, [a, b]);
    f.push(all.subarray(cut));
    assert.deepEqual(frames, [a, b, c]);
  });

  it('takes exactly Content-Length body bytes, even when the body holds CRLFCRLF', () => {
    const { f, frames } = framer();
    const body = 'a\r\n\r\nb';
    f.push(Buffer.from(message(body) + message('x'), 'latin1'));
    assert.deepEqual(frames, [message(body), message('x')]);
  });

  it('reads the compact form and any case, with whitespace before the colon', () => {
    assert.equal(
      contentLength(Buffer.from(message('', 'l: 5\r\n')), 0, message('', 'l: 5\r\n').length - 4),
      5,
    );
    for (const header of ['CONTENT-LENGTH:7\r\n', 'content-length \t: 7 \r\n', 'L :7\r\n']) {
      const text = message('', header);
      assert.equal(contentLength(Buffer.from(text), 0, text.indexOf('\r\n\r\n')), 7, header);
    }
  });

  it('accepts a folded Content-Length value', () => {
    const text = message('', 'Content-Length:\r\n  3\r\n');
    assert.equal(contentLength(Buffer.from(text), 0, text.indexOf('\r\n\r\n')), 3);
  });

  it('does not mistake Location or a header ending in l for Content-Length', () => {
    const text = message('', 'Location: 12\r\nX-l: 9\r\nContent-Length: 0\r\n');
    assert.equal(contentLength(Buffer.from(text), 0, text.indexOf('\r\n\r\n')), 0);
  });

  it('reports a message without Content-Length and stops', () => {
    const { f, frames } = framer();
    const error = f.push(Buffer.from(message('', ''), 'latin1'));
    assert.equal(error, TransportErrorCode.FramingNoContentLength);
    assert.equal(f.push(Buffer.from(message(''), 'latin1')), undefined);
    assert.deepEqual(frames, []);
  });

  it('reports a non-numeric, negative or conflicting Content-Length', () => {
    for (const header of [
      'Content-Length: abc\r\n',
      'Content-Length: -1\r\n',
      'Content-Length: 1 2\r\n',
      'Content-Length: 99999999999\r\n',
      'Content-Length: 1\r\nl: 2\r\n',
    ]) {
      const { f } = framer();
      assert.equal(
        f.push(Buffer.from(message('x', header), 'latin1')),
        TransportErrorCode.FramingBadContentLength,
        header,
      );
    }
    const { f, frames } = framer();
    assert.equal(f.push(Buffer.from(message('x', 'l: 1\r\nContent-Length: 1\r\n'))), undefined);
    assert.equal(frames.length, 1);
  });

  it('drops a message whose declared size exceeds the maximum before its body arrives', () => {
    const { f } = framer(200);
    const text = message('', 'Content-Length: 500\r\n');
    assert.equal(f.push(Buffer.from(text, 'latin1')), TransportErrorCode.MessageTooLarge);
  });

  it('drops a header section that grows past the maximum without ending', () => {
    const { f } = framer(200);
    assert.equal(f.push(Buffer.from('INVITE sip:a@b SIP/2.0\r\n', 'latin1')), undefined);
    assert.equal(
      f.push(Buffer.from(`X-Junk: ${'a'.repeat(300)}\r\n`, 'latin1')),
      TransportErrorCode.MessageTooLarge,
    );
  });

  it('accepts a message of exactly the maximum size', () => {
    const text = message('12345');
    const { f, frames } = framer(text.length);
    assert.equal(f.push(Buffer.from(text, 'latin1')), undefined);
    assert.deepEqual(frames, [text]);
  });

  it('skips CRLFs between messages and counts double-CRLF pings, even split (RFC 5626 3.5.1)', () => {
    const { f, frames, pings } = framer();
    f.push(Buffer.from('\r\n\r\n\r\n', 'latin1'));
    assert.equal(pings(), 1);
    f.push(Buffer.from('\r\n', 'latin1')); // completes a second ping across chunks
    assert.equal(pings(), 2);
    f.push(Buffer.from('\r\n' + message('b'), 'latin1')); // a lone pong-sized CRLF, then a message
    assert.equal(pings(), 2);
    assert.deepEqual(frames, [message('b')]);
    f.push(Buffer.from('\r\n\r\n', 'latin1'));
    assert.equal(pings(), 3);
  });
});
