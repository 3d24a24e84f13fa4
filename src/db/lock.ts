import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../config.js';
import { openDatabase, type Database } from './database.js';

/**
 * Single-process guard for the embedded database. PGlite keeps the whole PostgreSQL instance
 * inside one process: two processes opening the same DATA_DIR would each run their own
 * "postmaster" over the same files and corrupt them. Every command that opens the embedded
 * database first takes `DATA_DIR/crm.lock` (created atomically with O_EXCL); a lock whose
 * process is gone is stale and taken over. PostgreSQL (DATABASE_URL) needs none of this.
 */

export const LOCK_FILE = 'crm.lock';

export interface LockInfo {
  pid: number;
  /** The command holding the database, e.g. "crm serve". */
  command: string;
  /** HTTP port when the holder serves the API. */
  port: number | null;
  hostname: string;
  started_at: string;
}

export class DatabaseLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly holder: LockInfo,
  ) {
    super(`The embedded database in ${displayPath(dataDir)} is in use by \`${holder.command}\` (${describeHolder(holder)})`);
    this.name = 'DatabaseLockedError';
  }
}

export interface DataDirLock {
  readonly path: string;
  readonly info: LockInfo;
  /** Records the port once the server listens, so a blocked command can point at the API. */
  update(changes: Partial<Pick<LockInfo, 'port'>>): void;
  release(): void;
}

function describeHolder(h: LockInfo): string {
  const parts = [`pid ${h.pid}`];
  if (h.port) parts.push(`port ${h.port}`);
  if (h.hostname && h.hostname !== os.hostname()) parts.push(`host ${h.hostname}`);
  return parts.join(', ');
}

export function displayPath(dir: string): string {
  const rel = path.relative(process.cwd(), dir);
  if (!rel) return '.';
  return rel.startsWith('..') || path.isAbsolute(rel) ? dir : `./${rel}`;
}

/** Alive, or alive under another user (EPERM): either way the data directory is not ours. */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readLock(file: string): LockInfo | 'missing' | 'unreadable' {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw err;
  }
  try {
    const parsed = JSON.parse(text) as Partial<LockInfo>;
    if (typeof parsed.pid !== 'number') return 'unreadable';
    return {
      pid: parsed.pid,
      command: parsed.command ?? 'crm',
      port: parsed.port ?? null,
      hostname: parsed.hostname ?? '',
      started_at: parsed.started_at ?? '',
    };
  } catch {
    return 'unreadable';
  }
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * A lock held by a live process on this host blocks; one whose pid is gone (crash, kill -9,
 * container restart that reuses our own pid) is stale. A lock written on another host (a shared
 * volume) cannot be checked, so it blocks until removed by hand.
 */
function isStale(info: LockInfo): boolean {
  if (info.hostname && info.hostname !== os.hostname()) return false;
  if (info.pid === process.pid) return true;
  return !isProcessAlive(info.pid);
}

/**
 * Takes DATA_DIR/crm.lock or throws DatabaseLockedError naming the holder. The lock is released
 * by release() and, as a last resort, when the process exits.
 */
export function acquireDataDirLock(dataDir: string, holder: { command: string; port?: number | null }): DataDirLock {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(path.resolve(dataDir), LOCK_FILE);
  // Our own pid in a lock file normally means a previous life of this pid (container restart);
  // a lock this very process still holds is tracked here instead.
  const mine = heldHere.get(file);
  if (mine) throw new DatabaseLockedError(dataDir, mine.info);
  const info: LockInfo = {
    pid: process.pid,
    command: holder.command,
    port: holder.port ?? null,
    hostname: os.hostname(),
    started_at: new Date().toISOString(),
  };
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx', 0o644);
      try {
        fs.writeSync(fd, JSON.stringify(info) + '\n');
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      return makeHandle(file, info);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const current = readLock(file);
    if (current === 'missing') continue;
    if (current === 'unreadable') {
      // Either being written right now (the holder has created it but not yet written) or
      // garbage left by a crash between create and write. Give a writer a moment first.
      const age = ageMs(file);
      if (age !== null && age < 2000) {
        sleep(50);
        continue;
      }
      takeOver(file, null);
      continue;
    }
    if (!isStale(current)) throw new DatabaseLockedError(dataDir, current);
    takeOver(file, current.pid);
  }
  throw new Error(`could not take ${file}: it keeps changing; is another crm process starting?`);
}

function ageMs(file: string): number | null {
  try {
    return Date.now() - fs.statSync(file).mtimeMs;
  } catch {
    return null;
  }
}

/**
 * Moves the stale lock aside atomically (rename), so that of two processes taking over the same
 * stale lock only one removes it; if what was moved turns out to be a fresh lock another process
 * wrote meanwhile, it is put back (link fails if yet another lock exists, which then wins).
 */
function takeOver(file: string, stalePid: number | null): void {
  const aside = `${file}.stale-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  try {
    fs.renameSync(file, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const moved = readLock(aside);
  const wasStale = moved === 'unreadable' || moved === 'missing' || (stalePid !== null && moved.pid === stalePid) || isStale(moved);
  if (!wasStale) {
    try {
      fs.linkSync(aside, file);
    } catch {
      // Another lock exists by now; it wins and the next attempt reports it.
    }
  }
  fs.rmSync(aside, { force: true });
}

const heldHere = new Map<string, DataDirLock>();

function makeHandle(file: string, initial: LockInfo): DataDirLock {
  let info = initial;
  let released = false;
  const ownsFile = () => {
    const current = readLock(file);
    return typeof current === 'object' && current.pid === process.pid && current.started_at === info.started_at;
  };
  const release = () => {
    if (released) return;
    released = true;
    heldHere.delete(file);
    process.removeListener('exit', release);
    try {
      if (ownsFile()) fs.rmSync(file, { force: true });
    } catch {
      // Nothing more to do at exit; a leftover lock of a dead pid is stale and taken over.
    }
  };
  process.on('exit', release);
  const handle: DataDirLock = {
    path: file,
    get info() {
      return info;
    },
    update(changes) {
      if (released || !ownsFile()) return;
      info = { ...info, ...changes };
      // Write-then-rename keeps the lock readable at every instant.
      const tmp = `${file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify(info) + '\n');
      fs.renameSync(tmp, file);
    },
    release,
  };
  heldHere.set(file, handle);
  return handle;
}

// ---------------------------------------------------------------------------------------------
// Opening the configured database under the lock (every command that needs the database)
// ---------------------------------------------------------------------------------------------

export interface OpenedDatabase {
  db: Database;
  /** Held while the embedded database is open; null on PostgreSQL. */
  lock: DataDirLock | null;
  close(): Promise<void>;
}

/**
 * Where PGlite keeps its files inside DATA_DIR. A subdirectory, because PostgreSQL's initdb wants
 * an empty directory and DATA_DIR also holds the lock file (and, later, other local state).
 */
export function embeddedDatabaseDir(dataDir: string): string {
  return path.join(dataDir, 'pgdata');
}

/**
 * Opens the configured database for one command. The embedded database is locked first: PGlite
 * in two processes over one DATA_DIR corrupts it (see the top of this file).
 */
export async function openDatabaseFor(config: Config, command: string, opts: { poolSize?: number } = {}): Promise<OpenedDatabase> {
  const lock = config.databaseUrl ? null : acquireDataDirLock(config.dataDir, { command });
  let db: Database;
  try {
    db = await openDatabase({ url: config.databaseUrl, dataDir: embeddedDatabaseDir(config.dataDir), poolSize: opts.poolSize });
  } catch (err) {
    lock?.release();
    throw err;
  }
  let closed = false;
  return {
    db,
    lock,
    async close() {
      if (closed) return;
      closed = true;
      try {
        await db.close();
      } finally {
        lock?.release();
      }
    },
  };
}
