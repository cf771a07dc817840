import { shellCommand, shellQuote } from '../../ssh/quote.js';

/**
 * `virsh migrate` blocks until the migration is over, and libvirt keeps no record of a failed or
 * cancelled one (`domjobinfo --completed` then says "None"). So ferry runs virsh detached on the
 * source host (its own session: a dropped SSH connection does not end it) and has it write a run
 * log: which migration it is, the wrapper's pid, everything virsh prints, and its exit status.
 * Any ferry process can read the log later to learn how the migration ended and why.
 */
export interface RunLog {
  migrationId: string;
  /** The wrapper shell's pid on the host: while it lives, virsh has not returned. */
  pid?: number;
  /** virsh's exit status, once it returned. */
  exitCode?: number;
  /** What virsh said went wrong (its `error:` lines), in order. */
  errors: string[];
}

/** The log's path for an instance: one migration per domain at a time. */
export function runLogPath(runDir: string, instance: string): string {
  return `${runDir.replace(/\/+$/, '')}/${instance}.migration.log`;
}

/** A shell command line that starts `virsh` (argv, unquoted) detached and returns at once. */
export function detachedRun(
  virsh: readonly string[],
  log: string,
  runDir: string,
  migrationId: string,
): string {
  const q = shellQuote(log);
  const inner = `echo "ferry-pid $$" >> ${q}; ${shellCommand(virsh)} >> ${q} 2>&1; echo "ferry-exit $?" >> ${q}`;
  return [
    `mkdir -p ${shellQuote(runDir)}`,
    `printf 'ferry-migration %s\\n' ${shellQuote(migrationId)} > ${q}`,
    // setsid: a session of its own, so the end of ferry's SSH session cannot take it along.
    `{ setsid sh -c ${shellQuote(inner)} < /dev/null > /dev/null 2>&1 & }`,
  ].join(' && ');
}

/** Parses a run log; undefined when it is not one (missing, or written by something else). */
export function parseRunLog(text: string): RunLog | undefined {
  const lines = text.split('\n');
  const id = /^ferry-migration (.+)$/.exec(lines[0] ?? '');
  if (!id) return undefined;
  const log: RunLog = { migrationId: id[1]!, errors: [] };
  for (const line of lines.slice(1)) {
    const pid = /^ferry-pid (\d+)$/.exec(line);
    const exit = /^ferry-exit (\d+)$/.exec(line);
    if (pid) log.pid = Number(pid[1]);
    else if (exit) log.exitCode = Number(exit[1]);
    else {
      // virsh rewrites its --verbose progress with \r; errors are whole lines.
      const error = /^error: (.*\S)\s*$/.exec(line.split('\r').at(-1)!);
      if (error) log.errors.push(error[1]!);
    }
  }
  return log;
}
