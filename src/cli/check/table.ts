import { redact } from '../../engine/redact.js';
import { allPassed, type CheckResult } from './result.js';

/** The preflight's results as a table for a terminal: one line a check, then the summary. Pure. */
export function checkTable(results: readonly CheckResult[]): string {
  // Every cell: a target may be a URL with a password in it.
  const rows = results.map((r) =>
    [r.verdict.toUpperCase(), r.component, r.target, r.check, r.detail].map(redact),
  );
  const header = ['VERDICT', 'COMPONENT', 'TARGET', 'CHECK', 'DETAIL'];
  // The last column is free text: only the others are padded.
  const widths = header.slice(0, -1).map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((cell, i) => (i < widths.length ? cell.padEnd(widths[i]!) : cell)).join('  ');
  const failed = results.filter((r) => r.verdict === 'fail').length;
  const summary = allPassed(results)
    ? `ferry check: everything a drain needs is there (${results.length} checks)`
    : `ferry check: ${failed} of ${results.length} checks failed`;
  return [line(header), ...rows.map(line), '', summary].join('\n');
}

/** The same as one JSON document: `ok` and every check. Pure. */
export function checkJson(results: readonly CheckResult[]) {
  return {
    ok: allPassed(results),
    checks: results.map((r) => ({
      ...r,
      target: redact(r.target),
      check: redact(r.check),
      detail: redact(r.detail),
    })),
  };
}
