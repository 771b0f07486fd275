import {Command, Errors, Flags, Interfaces} from '@oclif/core'

import {errorRecord, ErrorRecord, ExitCode, IommuctlError} from './errors.js'
import {openRoot} from './host.js'
import {Root} from './sysfs/root.js'

export type CommandFlags<T extends typeof Command> = Interfaces.InferredFlags<
  (typeof BaseCommand)['baseFlags'] & T['flags']
>
export type CommandArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

/** The error object every command prints under --json when it fails. */
export interface ErrorJson {
  error: ErrorRecord
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

  /**
   * Whether init() opens --root. Commands that only talk to a session daemon read nothing under
   * it, so they say false: a snapshot .tar.gz given to them (IOMMUCTL_ROOT set for a shell) is not
   * unpacked for nothing.
   */
  static opensRoot = true

  protected args!: CommandArgs<T>
  protected flags!: CommandFlags<T>
  /** Every positional argument, for commands that take several (static strict = false). */
  protected argvAll: string[] = []
  private openedRoot?: Root

  /** The host root named by --root (or IOMMUCTL_ROOT), opened and validated by init(). */
  protected get root(): Root {
    if (!this.openedRoot) {
      throw new Error(
        (this.ctor as typeof BaseCommand).opensRoot
          ? 'the root is read before init() opened it'
          : `${this.id} reads the root, but says static opensRoot = false`,
      )
    }
    return this.openedRoot
  }

  public override async init(): Promise<void> {
    await super.init()
    // No command reads stdin unless told to with `-`: oclif would fill a missing argument from a
    // stdin that is not a TTY, with whatever arrives within 10 ms (a race).
    const args = Object.fromEntries(
      Object.entries(this.ctor.args ?? {}).map(([name, arg]) => [name, {...arg, ignoreStdin: true}]),
    )
    const parsed = await this.parse({
      args,
      baseFlags: (super.ctor as typeof BaseCommand).baseFlags,
      enableJsonFlag: this.ctor.enableJsonFlag,
      flags: this.ctor.flags,
      strict: this.ctor.strict,
    }).catch((error: unknown) => {
      // oclif's own parse errors exit 2; an argument's parse function (Args.integer) throws a
      // plain Error, which is just as much a usage error.
      if (error instanceof Errors.CLIError) throw error
      throw new IommuctlError('USAGE', (error as Error).message, {exit: ExitCode.usage})
    })
    this.flags = parsed.flags as CommandFlags<T>
    this.args = parsed.args as CommandArgs<T>
    this.argvAll = parsed.argv as string[]
    // Opened here, not on first use: a snapshot .tar.gz is unpacked asynchronously, and every
    // command then reads the root synchronously.
    if ((this.ctor as typeof BaseCommand).opensRoot) this.openedRoot = await openRoot(this.flags.root)
  }

  /**
   * JSON is for programs: written plain. oclif's own logJson runs the text through a colouring
   * tokenizer even when nothing is coloured, which cost a fifth of `devices --json` on a large
   * host (bench/inspect.js).
   */
  override logJson(json: unknown): void {
    process.stdout.write(JSON.stringify(json, null, 2) + '\n')
  }

  /** oclif reads err.exitCode, CLIError carries oclif.exit: keep the documented exit codes under --json too. */
  protected override async catch(
    err: Error & {exitCode?: number; oclif?: {exit?: number}},
  ): Promise<unknown> {
    err.exitCode ??= err.oclif?.exit
    return super.catch(err)
  }

  /** Warnings about the root (names skipped as not valid), on stderr under --json too: stdout stays JSON. */
  public override async finally(err: Error | undefined): Promise<unknown> {
    for (const w of this.openedRoot?.warnings ?? []) Errors.warn(w)
    this.openedRoot?.close()
    return super.finally(err)
  }

  /**
   * Any error as schemas/error.json has it, a raw Node one too: its code kept only when it reads
   * like one of ours (ENOENT, ERR_...), its numeric errno given as the name.
   */
  protected override toErrorJson(err: unknown): ErrorJson {
    return {error: errorRecord(err)}
  }
}
