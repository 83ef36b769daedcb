import { readFileSync } from 'node:fs';

/** The sipfleet version (this package's), for `sipfleet version` and the membership record. */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}
