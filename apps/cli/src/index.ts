// oclif "explicit" command discovery: the bundle exports every command here,
// so no directory scan happens at start-up and the commands bundle into dist/index.js.
import AlertsAck from './commands/alerts/ack.js';
import Alerts from './commands/alerts/list.js';
import AlertsSilence from './commands/alerts/silence.js';
import History from './commands/locks/history.js';
import Ls from './commands/locks/ls.js';
import Release from './commands/locks/release.js';
import Show from './commands/locks/show.js';
import Doctor from './commands/safety/doctor.js';
import Sources from './commands/sources/check.js';

export const COMMANDS = {
  ls: Ls,
  show: Show,
  release: Release,
  history: History,
  sources: Sources,
  alerts: Alerts,
  'alerts:ack': AlertsAck,
  'alerts:silence': AlertsSilence,
  doctor: Doctor,
};
