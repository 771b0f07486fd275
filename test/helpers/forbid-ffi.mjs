// A module hook for tests: loading ffi-rs fails the process. Read-only commands must not load
// the native layer (DESIGN.md: help and read-only commands stay fast and need no libc binding).
import {register} from 'node:module'

register(
  'data:text/javascript,' +
    encodeURIComponent(`export async function resolve(specifier, context, next) {
      if (specifier === 'ffi-rs' || specifier.startsWith('@yuuang/ffi-rs')) throw new Error('ffi-rs loaded by a read-only command')
      return next(specifier, context)
    }`),
)
