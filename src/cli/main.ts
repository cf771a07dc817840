import { parseArgs } from 'node:util';
import { redact } from '../engine/redact.js';
import { type CliOptions, runCli } from './cli.js';

/** `ferry` on a terminal: see cli.ts. Exit 0 on success, 1 on a failed run, 2 on bad input. */
const { values, positionals } = (() => {
  try {
    return parseArgs({
      args: process.argv.slice(2),
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        json: { type: 'boolean', default: false },
        approve: { type: 'string' },
        window: { type: 'string' },
        seed: { type: 'string' },
        label: { type: 'string' },
        parallel: { type: 'string' },
        'continue-on-partial': { type: 'boolean', default: false },
        as: { type: 'string' },
        redis: { type: 'string' },
        export: { type: 'string' },
        all: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    process.stderr.write(`ferry: ${(err as Error).message}\n`);
    process.exit(2);
  }
})();

process.exitCode = await runCli(positionals, values as CliOptions, {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${redact(text)}\n`),
});
