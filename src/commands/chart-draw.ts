import { createRequire } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';
import { Resvg } from '@resvg/resvg-js';
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/**
 * Draws a Vega-Lite spec to a PNG, in a worker thread of its own (src/commands/chart.ts starts
 * it): Vega's layout and SVG take seconds of CPU for a big evacuation, which on the bot's thread
 * would hold up Bolt's 3-second acks. Vega renders headless to SVG (no canvas, no browser), resvg
 * rasterises it with the DejaVu fonts ferry ships, passed in explicitly, so the picture is the
 * same on every machine and no system font is read.
 */

const require = createRequire(import.meta.url);
const FONTS = ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf'].map((file) =>
  require.resolve(`dejavu-fonts-ttf/ttf/${file}`),
);

/** The PNG of `spec`, drawn at twice its size (sharp on dense screens; Slack scales it down). */
export async function draw(spec: Record<string, unknown>): Promise<Buffer> {
  const view = new View(parse(compile(spec as unknown as TopLevelSpec).spec), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    return new Resvg(svg, {
      background: 'white',
      fitTo: { mode: 'zoom', value: 2 },
      font: { fontFiles: FONTS, loadSystemFonts: false, defaultFontFamily: 'DejaVu Sans' },
    })
      .render()
      .asPng();
  } finally {
    view.finalize();
  }
}

if (parentPort && (workerData as { ferryChart?: unknown } | undefined)?.ferryChart) {
  const port = parentPort;
  draw((workerData as { ferryChart: Record<string, unknown> }).ferryChart).then(
    (png) => port.postMessage({ png }),
    (err: unknown) => port.postMessage({ error: err instanceof Error ? err.message : String(err) }),
  );
}
