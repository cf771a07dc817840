// Removes the shared topology; started detached by global-setup.ts when vitest is interrupted.
import { removeSharedTopology } from './shared.js';

await removeSharedTopology();
