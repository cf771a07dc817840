#!/usr/bin/env node
// The `ferry-bot` command: the standalone bot, compiled JavaScript from dist/ (`npm run build`), plain node.
const { runMain } = await import('../dist/entry.js');
const { startBot } = await import('../dist/main.js');
runMain(startBot, 'ferry-bot');
