import {Command, Flags, Interfaces} from '@oclif/core'

import {IommuctlError} from './errors.js'
import {openRoot} from './host.js'
import {Root} from './sysfs/root.js'

export type CommandFlags<T extends typeof Command> = Interfaces.InferredFlags<
  (typeof BaseCommand)['baseFlags'] & T['flags']
>
export type CommandArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

/** The error object every command prints under --json when it fails. */
export interface ErrorJson {
  error: {
    code: string
    message: string
    exitCode: number
    errno?: string
    path?: string
    suggestion?: string
  }
}

/** Global flags, the JSON error contract and the host root, shared by every command. */
export abstract class BaseCommand<T extends typeof Command> extends Command {
  static baseFlags = {
    root: Flags.string({
      default: '/',
      env: 'IOMMUCTL_ROOT',
      helpGroup: 'GLOBAL',
      summary: 'Read /sys, /proc and /dev under this directory or snapshot .tar.gz instead of the live host.',
    }),
  }

  static enableJsonFlag = true

  protected args!: CommandArgs<T>
  protected flags!: CommandFlags<T>
  private openedRoot?: Root

  /** The host root named by --root (or IOMMUCTL_ROOT), validated on first use. */
  protected get root(): Root {
    this.openedRoot ??= openRoot(this.flags.root)
    return this.openedRoot
  }

  public override async init(): Promise<void> {
    await super.init()
    const {args, flags} = await this.parse({
      args: this.ctor.args,
      baseFlags: (super.ctor as typeof BaseCommand).baseFlags,
      enableJsonFlag: this.ctor.enableJsonFlag,
      flags: this.ctor.flags,
      strict: this.ctor.strict,
    })
    this.flags = flags as CommandFlags<T>
    this.args = args as CommandArgs<T>
  }

  /** oclif reads err.exitCode, CLIError carries oclif.exit: keep the documented exit codes under --json too. */
  protected override async catch(
    err: Error & {exitCode?: number; oclif?: {exit?: number}},
  ): Promise<unknown> {
    err.exitCode ??= err.oclif?.exit
    return super.catch(err)
  }

  protected override toErrorJson(err: unknown): ErrorJson {
    const e = err as Partial<IommuctlError> & {oclif?: {exit?: number}}
    const exitCode = e.oclif?.exit ?? 1
    return {
      error: {
        code: typeof e.code === 'string' ? e.code : exitCode === 2 ? 'USAGE' : 'FAILED',
        message: e.message ?? String(err),
        exitCode,
        ...(e.errno ? {errno: e.errno} : {}),
        ...(e.path ? {path: e.path} : {}),
        ...(e.suggestions?.[0] ? {suggestion: e.suggestions[0]} : {}),
      },
    }
  }
}
