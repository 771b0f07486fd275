import {JsExternal} from 'ffi-rs'

import {addressOf, calloc, free, view} from './libc.js'

/**
 * Zero-filled memory owned by native code, for structs the kernel reads and writes. A Buffer
 * view of it is how JavaScript encodes and decodes; the kernel sees the same bytes. Freed
 * exactly once by its owner; freeing twice is a no-op, never a double free.
 */
export class NativeMemory {
  readonly ptr: JsExternal
  readonly address: bigint
  readonly bytes: Buffer
  private freed = false

  constructor(readonly size: number) {
    this.ptr = calloc(Math.max(size, 1))
    this.address = addressOf(this.ptr)
    if (this.address === 0n) throw new Error(`calloc(${size}) failed`)
    this.bytes = view(this.ptr, size)
  }

  /** A copy of the memory, safe to keep after free(). */
  snapshot(): Buffer {
    return Buffer.from(this.bytes)
  }

  free(): void {
    if (this.freed) return
    this.freed = true
    free(this.ptr)
  }
}

/** Runs fn with memory holding `init`, and frees it whatever happens. */
export function withMemory<T>(init: Buffer | number, fn: (mem: NativeMemory) => T): T {
  const mem = new NativeMemory(typeof init === 'number' ? init : init.length)
  try {
    if (typeof init !== 'number') init.copy(mem.bytes)
    return fn(mem)
  } finally {
    mem.free()
  }
}
