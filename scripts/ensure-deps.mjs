#!/usr/bin/env node
// Makes `npm test` and `npm run demo` work on a fresh clone: installs the npm packages from the
// lock file when they are missing or stale, and the Debian packages the real components need
// (as root), or says exactly what to install.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const lock = join(root, 'package-lock.json');
const marker = join(root, 'node_modules', '.package-lock.json');

function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

if (!existsSync(marker) || statSync(marker).mtimeMs < statSync(lock).mtimeMs) {
  console.error('ferry: installing npm packages (npm ci)...');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}
if (!process.argv.includes('--node-only')) {
  // The script itself decides what is missing; as non-root it names the packages and exits 1.
  run('bash', [join(root, 'scripts', 'install-system-deps.sh')]);
}
