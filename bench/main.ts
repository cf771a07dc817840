import { parseArgs } from 'node:util';
import { loadConfig } from '../src/engine/compose.js';
import { defaultPolicy, fleetFromConfig, policySchema } from '../src/engine/config.js';
import { toFerryError } from '../src/engine/errors.js';
import { compareModes, formatComparison } from './compare.js';
import { formatScenario, SCENARIOS, type ScenarioName, type ScenarioResult, toJson } from './figures.js';
import { drainMixedFleet } from './fleets.js';
import { planningAtScale } from './scale.js';
import { campaign16, drainMixed, type ScenarioContext } from './scenarios.js';
import { selectStrategies } from './strategies.js';

/**
 * `npm run bench`: seeded scenarios on the simulator, every strategy on the same fleet in the
 * same run, one table per scenario (or one JSON document with --json).
 * `npm run bench -- fidelity`: the real-QEMU fidelity grid of bench/fidelity.ts.
 */

const USAGE = `usage: npm run bench -- [--json] [--seed N] [--config FILE --host HOST]
                       [--scenario ${SCENARIOS.join(',')}] [--strategy ferry,nova,kubevirt,all-at-once]
                       [--stepper | --compare] [--multifd N]
       npm run bench -- fidelity [--json]
       npm run bench -- overhead [--json] [--sources N] [--window S]

  --seed N        seed of the generated fleets and the simulator's jitter (default 1)
  --config FILE   drain HOST of this ferry config's fleet instead of the generated drain-mixed
                  fleet, with the config's policy as the base every strategy overrides
  --json          print exactly one JSON document on stdout (progress goes to stderr)
  --stepper       wake the engine every sample interval instead of skipping the polls that find
                  nothing to act on (the event-driven simulator, the default)
  --compare       drain the drain-mixed host both ways and print the two side by side
  --multifd N     at most N multifd channels per migration (policy.multifdChannels; 1 = one stream)
Use \`npm run -s bench -- --json\` so npm's own banner stays off stdout.`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      seed: { type: 'string', default: '1' },
      config: { type: 'string' },
      host: { type: 'string' },
      scenario: { type: 'string' },
      strategy: { type: 'string' },
      stepper: { type: 'boolean', default: false },
      compare: { type: 'boolean', default: false },
      sources: { type: 'string' },
      window: { type: 'string' },
      multifd: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals[0] === 'fidelity') return fidelity(values.json);
  if (positionals[0] === 'overhead') return overhead(values.json, values.sources, values.window);
  if (positionals.length > 0) throw new UsageError(`unknown command "${positionals[0]}"`);
  const seed = Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0)
    throw new UsageError(`--seed wants a whole number >= 0 (got ${values.seed})`);
  if ((values.config === undefined) !== (values.host === undefined))
    throw new UsageError('--config and --host go together: the host of that fleet to drain');

  const scenarios = values.scenario ? values.scenario.split(',') : [...SCENARIOS];
  for (const s of scenarios)
    if (!SCENARIOS.includes(s as ScenarioName))
      throw new UsageError(`unknown scenario "${s}"; expected one of ${SCENARIOS.join(', ')}`);

  let drain = drainMixedFleet(seed);
  let basePolicy = defaultPolicy;
  let fleetNote = `generated from seed ${seed}`;
  if (values.config !== undefined && values.host !== undefined) {
    const config = loadConfig(values.config);
    const fleet = fleetFromConfig(config);
    if (!fleet.hosts.some((h) => h.name === values.host))
      throw new UsageError(`${values.config} has no host named ${values.host}`);
    drain = { fleet, source: values.host };
    basePolicy = config.policy;
    fleetNote = `${values.host} of ${values.config}`;
  }
  if (values.stepper && values.compare) throw new UsageError('--compare runs the stepper itself');
  if (values.multifd !== undefined) {
    const channels = policySchema.shape.multifdChannels.safeParse(Number(values.multifd));
    if (!channels.success)
      throw new UsageError(`--multifd wants ${channels.error.issues[0]?.message} (got ${values.multifd})`);
    basePolicy = { ...basePolicy, multifdChannels: channels.data };
  }
  const ctx: ScenarioContext = {
    seed,
    strategies: selectStrategies(values.strategy?.split(',')),
    basePolicy,
    mode: values.stepper ? 'stepper' : 'events',
    log: (line) => console.error(line),
  };
  if (values.compare) {
    const rows = await compareModes(ctx, drain);
    console.log(values.json ? JSON.stringify({ comparison: rows }) : formatComparison(rows));
    return rows.every((r) => r.differences.length === 0) ? 0 : 1;
  }

  const started = performance.now();
  const results: ScenarioResult[] = [];
  for (const name of scenarios as ScenarioName[]) {
    if (name === 'drain-mixed') {
      const result = await drainMixed(ctx, drain);
      result.notes.unshift(`fleet: ${fleetNote}.`);
      results.push(result);
    } else if (name === 'campaign-16') results.push(await campaign16(ctx));
    else results.push(await planningAtScale(ctx, name === 'scale-1000' ? 1000 : 10000));
  }
  if (values.json) {
    console.log(JSON.stringify(toJson(results)));
    return 0;
  }
  console.log(
    `ferry bench — seed ${seed}, ${new Date().toISOString().slice(0, 10)}, node ${process.version}, ${ctx.mode === 'events' ? 'event-driven' : 'stepper'}, ${((performance.now() - started) / 1000).toFixed(0)} s wall\n`,
  );
  for (const r of results) console.log(`${formatScenario(r)}\n`);
  console.log('Strategies:');
  for (const s of ctx.strategies) console.log(`- ${s.name}: ${s.models}`);
  return 0;
}

async function fidelity(json: boolean): Promise<number> {
  // Loaded only here: it starts QEMU, which the simulated scenarios never need.
  const { runFidelity, formatTable } = await import('./fidelity.js');
  const rows = await runFidelity({ log: (line) => console.error(line) });
  console.log(json ? JSON.stringify({ fidelity: rows }) : formatTable(rows));
  return rows.every((r) => r.guestClean) ? 0 : 1;
}

async function overhead(json: boolean, sources = '250', window = '60'): Promise<number> {
  const count = Number(sources);
  const windowS = Number(window);
  if (!Number.isInteger(count) || count < 1 || count > 2500)
    throw new UsageError(`--sources wants a whole number of source hosts, 1 to 2500 (got ${sources})`);
  if (!(windowS >= 5 && windowS <= 600))
    throw new UsageError(`--window wants 5 to 600 seconds (got ${window})`);
  // Loaded only here: it starts redis-server and two more processes.
  const { runOverhead, formatOverhead } = await import('./overhead.js');
  const figures = await runOverhead({ sources: count, windowS, log: (line) => console.error(line) });
  console.log(json ? JSON.stringify({ overhead: figures }) : formatOverhead(figures));
  return 0;
}

class UsageError extends Error {}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError || (err instanceof Error && err.name === 'TypeError' && 'code' in err)) {
      console.error(`${err.message}\n\n${USAGE}`);
      process.exitCode = 2;
      return;
    }
    console.error(toFerryError(err).userMessage);
    process.exitCode = 1;
  },
);
