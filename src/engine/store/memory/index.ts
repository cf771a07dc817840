/** In-process implementations of the engine's ports, for the CLI, the bench, the demo and tests. */
export { MemoryAdmissionGate } from './admission.js';
export { MemoryApprovals } from './approvals.js';
export { MemoryAudit } from './audit.js';
export { MemoryCampaigns } from './campaigns.js';
export { MemoryControl } from './control.js';
export { InProcessLauncher } from './launcher.js';
export { MemoryPlans } from './plans.js';
export { MemoryStore } from './store.js';
