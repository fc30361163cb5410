// oclif "explicit" command discovery: the bundle exports every command here,
// so no directory scan happens at start-up and the commands bundle into dist/index.js.
import History from './commands/locks/history.js';
import Ls from './commands/locks/ls.js';
import Release from './commands/locks/release.js';
import Show from './commands/locks/show.js';
import Sources from './commands/sources/check.js';

// `alerts` (src/commands/alerts/*) is added by the alerts work and registered here.
export const COMMANDS = {
  ls: Ls,
  show: Show,
  release: Release,
  history: History,
  sources: Sources,
};
