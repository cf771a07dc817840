import { createRequire } from 'node:module';
import { renderAsync } from '@resvg/resvg-js';
import type { webApi } from '@slack/bolt';
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { Evacuation, FerryEvent } from '../engine/model.js';
import { chartData, chartSpec } from '../views/chart.js';

/**
 * Draws the post-mortem's chart and uploads it to the report's thread. Vega-Lite compiles the
 * spec from src/views/chart.ts, Vega renders it to SVG (headless: no canvas, no browser) and
 * resvg turns that into a PNG with the DejaVu fonts ferry ships (passed in explicitly, so the
 * picture is the same on every machine and nothing is read from the system's fonts).
 */

const require = createRequire(import.meta.url);
const FONTS = ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf'].map((file) =>
  require.resolve(`dejavu-fonts-ttf/ttf/${file}`),
);

/** The chart of an ended evacuation as a PNG; undefined when no migration left a trace. */
export async function renderChart(
  evacuation: Evacuation,
  events: readonly FerryEvent[],
): Promise<Buffer | undefined> {
  const data = chartData(evacuation, events);
  if (!data) return undefined;
  const { spec } = compile(chartSpec(data) as unknown as TopLevelSpec);
  const view = new View(parse(spec), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    // Rasterised off the event loop (resvg's own thread): Bolt's 3-second acks must not wait on it.
    const png = await renderAsync(svg, {
      background: 'white',
      // Twice the spec's size: sharp on a high-density screen, and Slack scales it down.
      fitTo: { mode: 'zoom', value: 2 },
      font: { fontFiles: FONTS, loadSystemFonts: false, defaultFontFamily: 'DejaVu Sans' },
    });
    return png.asPng();
  } finally {
    view.finalize();
  }
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
