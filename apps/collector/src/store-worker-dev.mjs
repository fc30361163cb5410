// Runs store-worker.ts from TypeScript sources (tests, tsx): registers tsx's
// loader inside the worker thread, then loads the real worker module.
import { register } from 'tsx/esm/api';

register();
await import('./store-worker.ts');
