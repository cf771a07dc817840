import type { Campaign } from '../../model.js';
import type { CampaignStore } from '../../ports.js';
import { copy } from './copy.js';

/** Campaign records in process, compare-and-set by version like the Redis one. */
export class MemoryCampaigns implements CampaignStore {
  private readonly campaigns = new Map<string, Campaign>();

  async save(campaign: Campaign): Promise<boolean> {
    const stored = this.campaigns.get(campaign.id);
    if ((stored?.version ?? 0) !== campaign.version - 1) return false;
    this.campaigns.set(campaign.id, copy(campaign));
    return true;
  }

  async load(id: string): Promise<Campaign | undefined> {
    const found = this.campaigns.get(id);
    return found && copy(found);
  }

  async list(): Promise<Campaign[]> {
    return [...this.campaigns.values()].reverse().map((c) => copy(c));
  }
}
