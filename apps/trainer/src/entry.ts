// Whether this module is the process's entry script. Installed CLIs are started through a
// symlink (`node_modules/.bin/mixdepth`, a global bin, `npx`): process.argv[1] is then the
// link, while import.meta.url is the real file, so compare real paths, not spellings.
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { isMainThread } from "node:worker_threads";

export function isEntryModule(moduleUrl: string, argv1: string | undefined = process.argv[1]): boolean {
  // A worker thread sees its parent's argv: it is never the entry.
  if (!isMainThread || argv1 === undefined || argv1 === "") return false;
  try {
    return realpathSync(argv1) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}
