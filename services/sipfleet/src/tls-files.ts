import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import type { ListenSpec, TlsClientOptions, TlsListenOptions } from '@sipfleet/transport';
import type { EdgeConfig } from './config.js';
import { ConfigError } from './config.js';

/** The certificates and keys the config names, read and checked (start-up and SIGHUP). */
export interface TlsMaterial {
  /** The `listen` entries with their PEM contents, as the transport layer takes them. */
  listen: ListenSpec[];
  client: TlsClientOptions;
  /** One line per certificate that is expired or not valid yet (served anyway: the operator decides). */
  warnings: string[];
}

/** Certificates that expire within this long are reported too. */
const EXPIRY_WARNING_MS = 7 * 24 * 3600 * 1000;

/**
 * Reads every certificate, key and CA file the config names and checks them the way a handshake
 * would fail later: a file that cannot be read, a PEM that does not parse, a key that does not
 * belong to its certificate. Throws a ConfigError naming the setting (`listen.2.tls.keyFile`);
 * an expired certificate is a warning, not an error.
 */
export function readTlsMaterial(config: EdgeConfig, now = Date.now()): TlsMaterial {
  const warnings: string[] = [];
  const listen = config.listen.map((spec, i): ListenSpec => {
    if (spec.tls === undefined)
      return { protocol: spec.protocol, address: spec.address, port: spec.port };
    const setting = `listen.${i}.tls`;
    const files = spec.tls;
    const options: TlsListenOptions = {
      cert: readPem(`${setting}.certFile`, files.certFile),
      key: readPem(`${setting}.keyFile`, files.keyFile),
      verifyClient: files.verifyClient,
      ...(files.caFile === undefined ? {} : { ca: readPem(`${setting}.caFile`, files.caFile) }),
    };
    checkPair(setting, files.certFile, options, warnings, now);
    return { protocol: spec.protocol, address: spec.address, port: spec.port, tls: options };
  });
  const client = readTlsClient('tls', config.tls, warnings, now);
  return { listen, client, warnings };
}

/** The client side (`tls` of the edge, `sip.tls` of the prober): files read and checked. */
export function readTlsClient(
  setting: string,
  c: { caFile?: string; certFile?: string; keyFile?: string; verifyServer: boolean },
  warnings: string[],
  now = Date.now(),
): TlsClientOptions {
  const client: TlsClientOptions = { verifyServer: c.verifyServer };
  if (c.caFile !== undefined) client.ca = readPem(`${setting}.caFile`, c.caFile);
  if (c.certFile !== undefined && c.keyFile !== undefined) {
    client.cert = readPem(`${setting}.certFile`, c.certFile);
    client.key = readPem(`${setting}.keyFile`, c.keyFile);
    checkPair(setting, c.certFile, { cert: client.cert, key: client.key }, warnings, now);
  }
  if (client.ca !== undefined) secureContext(`${setting}.caFile`, { ca: client.ca });
  return client;
}

function readPem(setting: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new ConfigError(`${setting}: cannot read ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

function secureContext(setting: string, options: tls.SecureContextOptions): void {
  try {
    tls.createSecureContext(options);
  } catch (err) {
    throw new ConfigError(`${setting}: ${(err as Error).message}`, { cause: err });
  }
}

/** The key belongs to the certificate (OpenSSL's check in createSecureContext), CAs parse; expiry. */
function checkPair(
  setting: string,
  certFile: string,
  options: { cert: string | Buffer; key: string | Buffer; ca?: string | Buffer },
  warnings: string[],
  now: number,
): void {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(options.cert);
  } catch (err) {
    throw new ConfigError(
      `${setting}.certFile: ${certFile} is not a PEM certificate: ${(err as Error).message}`,
      { cause: err },
    );
  }
  try {
    tls.createSecureContext({ cert: options.cert, key: options.key });
  } catch (err) {
    const mismatch = /key values mismatch/i.test((err as Error).message);
    throw new ConfigError(
      mismatch
        ? `${setting}.keyFile: the key does not belong to the certificate in ${certFile}`
        : `${setting}.keyFile: ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (options.ca !== undefined) secureContext(`${setting}.caFile`, { ca: options.ca });
  const notAfter = Date.parse(cert.validTo);
  const notBefore = Date.parse(cert.validFrom);
  if (notAfter <= now) {
    warnings.push(`${setting}.certFile: ${certFile} expired on ${cert.validTo}`);
  } else if (notBefore > now) {
    warnings.push(`${setting}.certFile: ${certFile} is not valid before ${cert.validFrom}`);
  } else if (notAfter - now < EXPIRY_WARNING_MS) {
    warnings.push(`${setting}.certFile: ${certFile} expires on ${cert.validTo}`);
  }
}
