#!/usr/bin/env node
// The executable entry; main.ts stays importable (tests call `main([...])` in-process).
import { main } from './main.ts';

process.exitCode = await main(process.argv.slice(2));
