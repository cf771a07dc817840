import type { FerryService, Schedule } from '../engine/ports.js';
import type { KeyValueStore } from './kv.js';

/**
 * A rolling campaign: several hosts drained one after another, the next starting when the
 * previous evacuation has finished. What is left to do is kept in the store under the running
 * evacuation's id, so a restarted bot continues the campaign.
 */

interface CampaignState {
  hosts: string[];
  requestedBy: string;
  reason?: string;
  maintenance: boolean;
}

export class CampaignRunner {
  constructor(
    private readonly deps: {
      service: FerryService;
      kv: KeyValueStore;
      follow: (evacuationId: string) => Promise<void>;
    },
  ) {}

  /** Starts the first host's evacuation at `when`; the rest follow in order. Returns the first id. */
  async start(hosts: string[], when: Schedule, state: Omit<CampaignState, 'hosts'>): Promise<string> {
    return this.launch({ ...state, hosts }, when);
  }

  /** Called when an evacuation finished: starts the campaign's next host, if any. */
  async next(finishedId: string): Promise<void> {
    const stored = await this.deps.kv.get(key(finishedId));
    if (!stored) return;
    const state = JSON.parse(stored) as CampaignState;
    if (state.hosts.length > 0) await this.launch(state, { kind: 'now' });
  }

  private async launch(state: CampaignState, when: Schedule): Promise<string> {
    const [host, ...rest] = state.hosts;
    const { id } = await this.deps.service.evacuate({
      source: host!,
      requestedBy: state.requestedBy,
      reason: state.reason,
      maintenance: state.maintenance,
      when,
      // VMs land on hosts already maintained, not on ones the campaign drains later.
      avoid: rest,
    });
    await this.deps.kv.set(key(id), JSON.stringify({ ...state, hosts: rest }));
    await this.deps.follow(id);
    return id;
  }
}

function key(evacuationId: string): string {
  return `campaign:${evacuationId}`;
}
