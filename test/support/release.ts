import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * An earlier release of ferry, run for real: its sources (and its test processes) as they were at
 * `commit`, taken from this repository's own history with `git archive` into a temp dir, with
 * this checkout's node_modules (the earlier release's dependencies are a subset of today's, at the
 * same versions). Its processes then run with tsx like ours do. A clone without that history
 * (shallow) cannot run it: the error says so.
 */
export interface Release {
  commit: string;
  /** The tree's root: `<root>/test/processes/worker.ts` is its worker process. */
  root: string;
  remove(): void;
}

const REPO = join(import.meta.dirname, '..', '..');

export function checkoutRelease(commit: string): Release {
  try {
    execFileSync('git', ['-C', REPO, 'cat-file', '-e', `${commit}^{commit}`], { stdio: 'ignore' });
  } catch {
    throw new Error(
      `commit ${commit} is not in this clone's history (a shallow clone?): the upgrade test runs that release's code; fetch the full history (git fetch --unshallow)`,
    );
  }
  const root = mkdtempSync(join(tmpdir(), `ferry-${commit.slice(0, 7)}-`));
  // Its package.json keeps "type": "module" for its .ts files; its tsconfig its paths and targets.
  execFileSync(
    'sh',
    [
      '-c',
      `git -C "$1" archive "$2" src test/processes package.json tsconfig.json | tar -x -C "$3"`,
      'sh',
      REPO,
      commit,
      root,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  symlinkSync(join(REPO, 'node_modules'), join(root, 'node_modules'), 'dir');
  return { commit, root, remove: () => rmSync(root, { recursive: true, force: true }) };
}
