#!/usr/bin/env node
// The `frostbyte` command. The code base is TypeScript run through tsx, so register it first.
import { register } from 'tsx/esm/api';

register();
await import('../functions/cli/main.ts');
