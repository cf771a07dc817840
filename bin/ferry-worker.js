#!/usr/bin/env node
// The `ferry-worker` command: the durable engine's worker, compiled JavaScript from dist/ (`npm run build`), plain node.
const { runMain } = await import('../dist/entry.js');
const { startWorker } = await import('../dist/worker.js');
runMain(startWorker, 'ferry-worker');
