import { Worker } from 'node:worker_threads';
import type { webApi } from '@slack/bolt';
import type { Evacuation, FerryEvent } from '../engine/model.js';
import { chartData, chartSpec } from '../views/chart.js';

/**
 * The post-mortem's chart: drawn off the bot's thread (chart-draw.ts, in a worker) from the spec
 * src/views/chart.ts builds, and uploaded into the report's thread.
 */

/** How long a drawing may take before it is given up (a loaded machine takes seconds). */
const DRAW_TIMEOUT_MS = 60_000;

/** The chart of an ended evacuation as a PNG; undefined when no migration left a trace. */
export async function renderChart(
  evacuation: Evacuation,
  events: readonly FerryEvent[],
): Promise<Buffer | undefined> {
  const data = chartData(evacuation, events);
  return data ? drawInWorker(chartSpec(data)) : undefined;
}

/** Runs chart-draw.ts in a worker thread; from a TypeScript checkout (tests, tsx) through tsx's loader. */
function drawInWorker(spec: Record<string, unknown>): Promise<Buffer> {
  const fromSource = import.meta.url.endsWith('.ts');
  const file = new URL(`./chart-draw.${fromSource ? 'ts' : 'js'}`, import.meta.url);
  // Node 20 applies no --import loader inside a worker: from source, the worker registers tsx itself.
  const worker = fromSource
    ? new Worker(
        `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(file.href)}); })`,
        { eval: true, workerData: { ferryChart: spec } },
      )
    : new Worker(file, { workerData: { ferryChart: spec } });
  return new Promise<Buffer>((resolve, reject) => {
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(new Error(`drawing took more than ${DRAW_TIMEOUT_MS / 1000} s`));
    }, DRAW_TIMEOUT_MS);
    worker.once('message', (reply: { png?: Uint8Array; error?: string }) => {
      clearTimeout(timer);
      void worker.terminate();
      if (reply.png) resolve(Buffer.from(reply.png));
      else reject(new Error(reply.error ?? 'the drawing worker sent nothing'));
    });
    worker.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** What became of the chart: posted, or why not (said in the thread). */
export type ChartOutcome = { posted: true } | { posted: false; why: string };

/**
 * Uploads the chart into the post-mortem's thread with files.uploadV2. Without `files:write`
 * (Slack answers missing_scope) the report stands alone and the thread says so.
 */
export async function postChart(
  client: webApi.WebClient,
  target: { channel: string; threadTs: string },
  evacuation: Evacuation,
  events: readonly FerryEvent[],
): Promise<ChartOutcome> {
  const png = await renderChart(evacuation, events);
  if (!png) return { posted: false, why: 'no migration ran, so there is no chart' };
  try {
    await client.filesUploadV2({
      channel_id: target.channel,
      thread_ts: target.threadTs,
      file: png,
      filename: `${evacuation.request.id}.png`,
      title: `${evacuation.request.id}: memory left to copy and link throughput`,
      alt_text: `Chart of ${evacuation.request.id}: each VM's memory left to copy over time with its switchover marked, and each host link's throughput`,
    });
    return { posted: true };
  } catch (err) {
    const code = (err as { data?: { error?: string } }).data?.error;
    if (code === 'missing_scope')
      return {
        posted: false,
        why: 'the chart was not attached: the app lacks the `files:write` scope (add it from manifest.yml and reinstall the app)',
      };
    return {
      posted: false,
      why: `the chart could not be uploaded (${code ?? (err instanceof Error ? err.message : String(err))})`,
    };
  }
}
