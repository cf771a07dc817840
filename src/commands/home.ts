import { toFerryError } from '../engine/errors.js';
import type { FerryService } from '../engine/ports.js';
import type { Block } from '../views/blocks.js';
import { type HomeOptions, type HomeState, homeBlocks } from '../views/home.js';

/**
 * The App Home's data, read from the engine when someone opens the tab. A host bot composing its
 * own Home calls `ferry.homeBlocks()`; with `home: true` ferry publishes its own Home on
 * `app_home_opened` (an app has one Home tab and views.publish replaces it, so that is opt-in).
 */
export async function readHome(service: FerryService): Promise<HomeState> {
  const [evacuations, campaigns, windows, fleet] = await Promise.all([
    service.list({ all: true }),
    service.campaigns(),
    service.windows(),
    service.fleet().catch((err: unknown) => ({ unavailable: toFerryError(err).userMessage })),
  ]);
  const startsAt: Record<string, number> = {};
  for (const e of evacuations.filter((e) => e.state === 'scheduled' || e.state === 'planned')) {
    // The latest schedule counts: a reschedule appends another.
    for (const event of await service.events(e.request.id))
      if (event.type === 'evacuation.scheduled') startsAt[e.request.id] = event.startsAt;
  }
  return { evacuations, campaigns, windows, fleet, startsAt };
}

/** ferry's Home blocks as they stand now. */
export async function currentHome(service: FerryService, options: HomeOptions): Promise<Block[]> {
  return homeBlocks(await readHome(service), options);
}
