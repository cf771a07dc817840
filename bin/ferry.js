#!/usr/bin/env node
// The `ferry` command: compiled JavaScript from dist/ (`npm run build`), plain node.
await import('../dist/cli/main.js');
