// The ACL's part in a config reload: the file acl_file names is parsed before anything changes (a
// malformed line refuses the whole reload with file:line), and an edited file under an unchanged
// acl_file key is put in force when the reload commits and named in the answer.
import type { ReloadCheck } from '../../config/reload.ts';
import type { Acl } from './acl.ts';
import { loadAclFile } from './acl-file.ts';

export function aclReloadCheck(acl: Acl, current: () => string | undefined): ReloadCheck {
  return (next) => {
    if (next.acl_file === undefined) return;
    const rules = loadAclFile(next.acl_file); // throws ConfigError naming file:line
    // a changed acl_file key is loaded by the ACL's own config listener
    if (next.acl_file !== current()) return;
    const inForce = acl.fileRules();
    if (JSON.stringify(inForce?.rules) === JSON.stringify(rules.rules)) return;
    return { apply: () => acl.reloadFile(), changedFiles: [{ key: 'acl_file', file: next.acl_file }] };
  };
}
