import * as fs from 'node:fs'
import * as net from 'node:net'
import * as path from 'node:path'

import {errnoOf, ExitCode, IommuctlError} from '../errors.js'

export const DEFAULT_SESSION_DIR = '/run/iommuctl/sessions'
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/

export function sessionPaths(dir: string, name: string): {socket: string; pid: string; log: string} {
  if (!NAME.test(name)) {
    throw new IommuctlError('BAD_NAME', `${JSON.stringify(name)} is not a session name.`, {
      exit: ExitCode.usage,
      suggestion: 'Letters, digits, _ . and -, starting with a letter or digit.',
    })
  }
  return {
    socket: path.join(dir, `${name}.sock`),
    pid: path.join(dir, `${name}.pid`),
    log: path.join(dir, `${name}.log`),
  }
}

/**
 * Whether something listens on the socket (a live session), as opposed to a stale file or nothing.
 * One that does not accept within 2 s listens (its backlog is full): it is not taken over.
 */
export function isAnswering(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(socket)
    const done = (answering: boolean) => {
      clearTimeout(timer)
      c.destroy()
      resolve(answering)
    }
    const timer = setTimeout(() => done(true), 2000)
    c.once('connect', () => done(true))
    c.once('error', () => done(false))
  })
}

/**
 * Makes the session directory (0700) or checks the one there: a directory, not a symlink, owned
 * by this user and writable by no one else. Otherwise another user could plant a symlink for the
 * log or pid file, or a socket of their own, where a root daemon writes.
 */
export function ensureSessionDir(dir: string): void {
  try {
    fs.mkdirSync(dir, {recursive: true, mode: 0o700})
  } catch (error) {
    throw new IommuctlError(
      'SESSION_DIR',
      `Cannot create the session directory ${dir}: ${(error as Error).message}`,
      {
        errno: errnoOf(error),
        path: dir,
      },
    )
  }
  const st = fs.lstatSync(dir)
  const uid = process.geteuid?.() ?? st.uid
  const why = !st.isDirectory()
    ? 'is not a directory (a symlink is not followed)'
    : st.uid !== uid
      ? `is owned by uid ${st.uid}, not ${uid}`
      : st.mode & 0o022
        ? `is writable by ${st.mode & 0o002 ? 'others' : 'its group'} (mode ${(st.mode & 0o777).toString(8)})`
        : null
  if (why) {
    throw new IommuctlError('SESSION_DIR', `The session directory ${dir} ${why}.`, {
      path: dir,
      suggestion: `Give a directory of your own with --session-dir, or fix this one (chmod 700 ${dir}).`,
    })
  }
}

/**
 * Opens a file of the session directory for writing (the log, appended; the pid file, replaced):
 * never through a symlink (O_NOFOLLOW), and only a regular file of this user's with one link.
 */
export function openSessionFile(file: string, mode: 'append' | 'replace'): number {
  const {O_WRONLY, O_CREAT, O_NOFOLLOW, O_APPEND, O_NONBLOCK, O_NOCTTY} = fs.constants
  let fd: number
  try {
    fd = fs.openSync(
      file,
      O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | (mode === 'append' ? O_APPEND : 0),
      0o600,
    )
  } catch (error) {
    const errno = errnoOf(error)
    throw new IommuctlError(
      'SESSION_DIR',
      errno === 'ELOOP'
        ? `${file} is a symlink; a session's files are never opened through one.`
        : `Cannot open ${file}: ${(error as Error).message}`,
      {
        errno,
        path: file,
        suggestion: errno === 'ELOOP' ? `Remove it (rm ${file}) and start the session again.` : undefined,
      },
    )
  }
  const st = fs.fstatSync(fd)
  const uid = process.geteuid?.() ?? st.uid
  if (!st.isFile() || st.uid !== uid || st.nlink !== 1) {
    fs.closeSync(fd)
    throw new IommuctlError(
      'SESSION_DIR',
      `${file} is not a regular file of uid ${uid} with one link; a session does not write to it.`,
      {path: file, suggestion: `Remove it (rm ${file}) and start the session again.`},
    )
  }
  if (mode === 'replace') fs.ftruncateSync(fd)
  return fd
}
