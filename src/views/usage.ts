/** How each `/ferry` command is written and what it does: shown by help and with every usage error. */

/** The command's name when nobody configured another. */
export const DEFAULT_COMMAND = '/ferry';

export const USAGE = {
  help: 'help [COMMAND]',
  hosts: 'hosts [FILTER]',
  plan: 'plan HOST [window NAME]',
  evacuate: 'evacuate HOST [now | at TIME | in DURATION | window NAME] [reason...]',
  migrate: 'migrate VM [to HOST] [reason...]',
  campaign: 'campaign HOST,HOST,... [now | at TIME | in DURATION | window NAME] [reason...]',
  reschedule: 'reschedule ID now | at TIME | in DURATION | window NAME',
  status: 'status [ID]',
  pause: 'pause ID',
  resume: 'resume ID',
  abort: 'abort ID',
  recover: 'recover MIGRATION_ID',
  report: 'report ID',
  audit: 'audit [ID]',
  maintenance: 'maintenance done|retry ID',
  windows: 'windows',
} as const;

export type Verb = keyof typeof USAGE;
export const VERBS = Object.keys(USAGE) as Verb[];

/** What each command does, in one line, for `help`. */
export const SUMMARY: Record<Verb, string> = {
  help: 'this list, or the usage of one command',
  hosts: 'hosts with their load and state; FILTER matches names or labels',
  plan: 'preview draining a host: moves, predictions, blockers (acts on nothing)',
  evacuate: 'drain a host: shows the plan first and starts on Confirm',
  migrate: 'live-migrate one VM, to a chosen host or the best one',
  campaign: 'drain several hosts one after another',
  reschedule: 'move a scheduled evacuation to another time (cancel it with abort)',
  status: 'one evacuation in detail, or every evacuation that is not finished',
  pause: 'stop admitting new migrations (running ones finish)',
  resume: 'continue a paused evacuation',
  abort: 'abort running migrations (VMs stay on their source) and stop',
  recover:
    'resume a stalled post-copy over a new channel, where the driver can (QEMU, the simulator); the worker that runs it does it',
  report: 'the post-mortem of a finished evacuation',
  audit: 'who did what, and every refused attempt (who, what, why); of one evacuation with its ID',
  maintenance: 'answer a maintenance whose outcome is unknown: it was done, or run it again',
  windows: 'the configured maintenance windows and when each opens next',
};

/** Time syntax shown with errors about `at` and `in`. */
export const TIME_HELP =
  'TIME is HH:MM (the next one) or YYYY-MM-DDTHH:MM in the configured zone; DURATION is like 90s, 45m, 2h or 1h30m';
