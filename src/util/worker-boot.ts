/** Starting a worker thread on a TypeScript module, when running from the sources (tests, tsx). */

/**
 * Code for `new Worker(code, { eval: true })` that registers tsx and imports `url`: a promise of the
 * module. tsx is resolved here, from the repository, not from the process's working folder (an
 * eval'd worker resolves bare names from there).
 */
export function tsxImport(url: string | URL): string {
  const tsx = import.meta.resolve('tsx/esm/api');
  const href = typeof url === 'string' ? url : url.href;
  return `import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(href)}); })`;
}
