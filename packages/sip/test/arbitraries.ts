// fast-check arbitraries shared by the parser's property tests and the stack fuzzer (test/fuzz). They
// work on bytes only and import nothing from the package, so either side can load them.
import fc from 'fast-check';

/** Turns one message into another (usually broken) one. */
export type Mutation = (b: Buffer) => Buffer;
/** Byte-level damage: flips, truncation, a duplicated line, odd Content-Length, long delimiter runs. */
export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  // byte flips
  fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })).map(([p, v]) => (b: Buffer) => {
    const c = Buffer.from(b);
    if (c.length > 0) c[p % c.length] = v;
    return c;
  }),
  // truncation
  fc.nat().map((p) => (b: Buffer) => b.subarray(0, p % (b.length + 1))),
  // header line duplication
  fc.nat().map((p) => (b: Buffer) => {
    const s = b.toString('latin1');
    const start = s.lastIndexOf('\n', p % (s.length + 1)) + 1;
    const end = s.indexOf('\n', start) + 1;
    return end <= start
      ? b
      : Buffer.from(s.slice(0, end) + s.slice(start, end) + s.slice(end), 'latin1');
  }),
  // huge or odd Content-Length
  fc
    .constantFrom(
      '99999999999999999999',
      '4294967296',
      '9007199254740993',
      '-1',
      '1e3',
      '',
      '0x10',
      '00000',
    )
    .map(
      (v) => (b: Buffer) =>
        Buffer.from(
          b.toString('latin1').replace(/(Content-Length|l) *:[^\r\n]*/i, `$1: ${v}`),
          'latin1',
        ),
    ),
  // deep nesting / long runs of delimiters inserted anywhere
  fc
    .tuple(
      fc.nat(),
      fc.constantFrom('<', '>', '"', '\\', ',', ';', '=', '%', '[', ':', '\r\n ', '\t'),
      fc.integer({ min: 1, max: 3000 }),
    )
    .map(([p, ch, k]) => (b: Buffer) => {
      const at = p % (b.length + 1);
      return Buffer.concat([
        b.subarray(0, at),
        Buffer.from(ch.repeat(k), 'latin1'),
        b.subarray(at),
      ]);
    }),
);
