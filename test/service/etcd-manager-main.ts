/**
 * `mha …` from the sources, for the manager-HA tests: each manager runs as its own process
 * (`node --import tsx test/service/etcd-manager-main.ts manager --conf=…`) so a test can
 * SIGKILL it or start it inside a network namespace.
 */
import { main } from '../../src/cli/main.js';

process.exitCode = await main(['node', 'mha', ...process.argv.slice(2)]);
