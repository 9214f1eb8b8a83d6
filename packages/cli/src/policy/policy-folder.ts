import { execFile } from 'node:child_process';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import { EdgewardError, type PolicySourceFile } from '@edgeward/core';

const run = promisify(execFile);

/** A policy folder larger than this is a mistake (a repository root, a build directory), not a policy. */
export const POLICY_FOLDER_MAX_FILES = 2000;
export const POLICY_FOLDER_MAX_BYTES = 8 * 1_048_576;

/**
 * Reads a policy folder as the compiler expects it: every regular file below `dir` with its path
 * relative to it (`/`-separated), skipping dot-directories such as `.git`. Symbolic links are not
 * followed, so a folder cannot pull in files from elsewhere.
 */
export async function readPolicyFolder(dir: string): Promise<PolicySourceFile[]> {
  const info = await lstat(dir).catch(() => undefined);
  if (info === undefined || !info.isDirectory()) {
    throw new EdgewardError(
      'EW_CONFIG_INVALID',
      `${dir} is not a directory; give the policy folder (the one holding baselines/)`,
    );
  }
  const files: PolicySourceFile[] = [];
  let bytes = 0;
  const walk = async (current: string): Promise<void> => {
    const entries = await readdir(current, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const path = join(current, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) {
        const text = await readFile(path, 'utf8');
        bytes += Buffer.byteLength(text);
        files.push({ path: relative(dir, path).split(sep).join('/'), text });
        if (files.length > POLICY_FOLDER_MAX_FILES || bytes > POLICY_FOLDER_MAX_BYTES) {
          throw new EdgewardError(
            'EW_CONFIG_INVALID',
            `${dir} holds more than ${POLICY_FOLDER_MAX_FILES} files or ${POLICY_FOLDER_MAX_BYTES} bytes; is it really the policy folder?`,
          );
        }
      }
    }
  };
  await walk(dir);
  return files;
}

/** The commit `dir` is at, with `+dirty` when it has uncommitted changes; undefined outside git. */
export async function gitCommitOf(dir: string): Promise<string | undefined> {
  try {
    const head = (await run('git', ['-C', dir, 'rev-parse', 'HEAD'], { timeout: 5000 })).stdout.trim();
    const status = (await run('git', ['-C', dir, 'status', '--porcelain', '--', '.'], { timeout: 5000 }))
      .stdout;
    return status.trim() === '' ? head : `${head}+dirty`;
  } catch {
    return undefined;
  }
}
