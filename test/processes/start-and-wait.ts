/**
 * A stand-in for a worker process: starts one migration through a RemoteSimDriver, says so on
 * stdout, then sits there watching until it is killed.
 *   tsx start-and-wait.ts URL MIGRATION_ID INSTANCE FROM TO
 */
import { RemoteSimDriver } from '../../src/engine/drivers/sim/remote.js';

const [url, migrationId, instance, from, to] = process.argv.slice(2);
if (!url || !migrationId || !instance || !from || !to) {
  process.stderr.write('usage: start-and-wait URL MIGRATION_ID INSTANCE FROM TO\n');
  process.exit(2);
}
const driver = new RemoteSimDriver({ url });
const handle = await driver.start(
  { migrationId, instance, from, to },
  { downtimeLimitMs: 500, autoConverge: false, postcopyCapable: true },
);
const sample = await driver.sample(handle);
process.stdout.write(`started ${sample.status}\n`);
setInterval(() => void driver.sample(handle).catch(() => undefined), 200);
