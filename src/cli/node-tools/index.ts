import type { Command } from 'commander';
import { registerBinlogApply } from './apply-diff-relay-logs.js';
import { registerRelayPurge } from './purge-relay-logs.js';
import { registerBinlogSave } from './save-binary-logs.js';

export { applyDiffRelayLogsMain } from './apply-diff-relay-logs.js';
export { filterMysqlbinlogMain } from './filter-mysqlbinlog.js';
export { purgeRelayLogsMain } from './purge-relay-logs.js';
export { saveBinaryLogsMain } from './save-binary-logs.js';

/** The MHA node tools under their `mha` names: `binlog save`, `binlog apply`, `relay purge`. */
export function registerNodeToolCommands(program: Command, binlog: Command): void {
  registerBinlogSave(binlog);
  registerBinlogApply(binlog);
  registerRelayPurge(program);
}
