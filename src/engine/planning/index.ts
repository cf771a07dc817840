/** The planner: placement, admission, evacuation plans and rolling campaigns. Pure functions. */
export {
  type CampaignOptions,
  type CampaignPlan,
  type CampaignStep,
  hostsWithLabel,
  planCampaign,
  planCampaignNaive,
} from './campaign.js';
export { type Placement, type PlacementOptions, type PlacementResult, placeInstances } from './placement.js';
export {
  type EvacuationOptions,
  type EvacuationPlan,
  type MigrationOptions,
  planEvacuation,
  planMigration,
} from './plan.js';
export { fleetFacts, type PlanChange, type RevalidateOptions, revalidatePlan } from './revalidate.js';
export {
  type AdmissionInput,
  type AdmissionPolicy,
  admit,
  aloneRate,
  bandwidthNeed,
  type HostsByName,
  RELAXED_SHARE,
  sharesOf,
} from './schedule.js';
