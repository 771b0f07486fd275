// The man page, iommuctl(1), written at build time (scripts/man.js) from the manifest: every
// command with its summary, description, arguments, flags and examples, as --help has them.
// man(7) macros only, so man-db's groff and mandoc both read it.

import type {Command} from '@oclif/core'

import {ExitCode} from '../errors.js'

export type ManCommand = Pick<
  Command.Cached,
  'id' | 'hidden' | 'summary' | 'description' | 'args' | 'flags' | 'examples'
>

/** What each exit status means; the README's exit-code table says the same at more length. */
const EXIT_MEANING: Record<keyof typeof ExitCode, string> = {
  ok: 'Success.',
  failure:
    'The operation was attempted and failed, or was refused (an interlock, a group that would have to move, no permission); `audit`: a finding at or above --fail-on; `diff`: the two differ.',
  usage: 'Usage error: a bad flag, argument, --root, plan or config; nothing was changed.',
  unavailable: 'Not available on this host: no IOMMU, no iommufd.',
  drift: '`host status`: the host differs from its desired state (drift).',
}

/** Text made safe for roff: backslashes, a leading dot or quote, and `code` set in bold. */
function roff(text: string): string {
  return (
    text
      .replaceAll('\\', '\\e')
      .replaceAll('-', '\\-')
      .replaceAll(/`([^`\n]+)`/g, '\\fB$1\\fR')
      // Beyond ASCII as groff's own escape: man-db runs preconv, but groff alone reads Latin-1.
      .replaceAll(
        /[^\t\n -~]/gu,
        (c) => `\\[u${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}]`,
      )
      .split('\n')
      .map((line) => (/^[.']/.test(line) ? `\\&${line}` : line))
      .join('\n')
  )
}

/** Paragraphs of a description: blank lines separate them in oclif's text, as in roff's .PP. */
function paragraphs(text: string): string {
  return text
    .trim()
    .split(/\n\s*\n/)
    .map((p) => roff(p.trim()))
    .join('\n.PP\n')
}

function example(
  bin: string,
  id: string,
  e: NonNullable<Command.Cached['examples']>[number],
): {command: string; description?: string} {
  const fill = (s: string) => s.replaceAll('<%= config.bin %>', bin).replaceAll('<%= command.id %>', id)
  return typeof e === 'string' ? {command: fill(e)} : {command: fill(e.command), description: e.description}
}

function flagLine(f: Command.Flag.Cached): string {
  const names = [...(f.char ? [`\\fB\\-${f.char}\\fR`] : []), `\\fB\\-\\-${roff(f.name)}\\fR`]
  const value = f.type === 'option' ? ` \\fI${f.options?.length ? f.options.join('|') : 'VALUE'}\\fR` : ''
  return names.join(', ') + value
}

function commandSection(bin: string, c: ManCommand): string {
  const id = c.id.split(':').join(' ')
  const args = Object.values(c.args)
    .map((a) => (a.required ? a.name.toUpperCase() : `[${a.name.toUpperCase()}]`))
    .join(' ')
  const lines = [`.SS "${bin} ${id}${args ? ' ' + args : ''}"`]
  if (c.summary) lines.push(roff(c.summary))
  if (c.description) lines.push('.PP', paragraphs(c.description))
  for (const a of Object.values(c.args)) {
    lines.push('.TP', `\\fI${a.name.toUpperCase()}\\fR`, roff(a.description ?? ''))
  }
  const flags = Object.values(c.flags).filter((f) => !f.hidden && f.helpGroup !== 'GLOBAL')
  for (const f of flags) {
    const text = f.summary ?? f.description ?? ''
    const env = f.env ? ` (environment: ${f.env})` : ''
    lines.push('.TP', flagLine(f), roff(text + env))
  }
  for (const e of (c.examples ?? []).map((x) => example(bin, id, x))) {
    lines.push(
      '.PP',
      e.description ? roff(e.description) : 'Example:',
      '.PP',
      '.RS 4',
      '.nf',
      roff(e.command),
      '.fi',
      '.RE',
    )
  }
  return lines.join('\n')
}

/** The whole page. No date in .TH: the page is the same for the same version, built anywhere. */
export function manPage(
  bin: string,
  version: string,
  description: string,
  commands: readonly ManCommand[],
): string {
  const visible = commands.filter((c) => !c.hidden).sort((a, b) => a.id.localeCompare(b.id))
  const exits = (Object.keys(ExitCode) as (keyof typeof ExitCode)[]).map((k) =>
    ['.TP', `\\fB${ExitCode[k]}\\fR`, roff(EXIT_MEANING[k])].join('\n'),
  )
  return `.TH ${bin.toUpperCase()} 1 "" "${bin} ${version}" "User Commands"
.SH NAME
${bin} \\- ${roff(description.charAt(0).toLowerCase() + description.slice(1))}
.SH SYNOPSIS
.B ${bin}
.I command
.RI [ flags ]
.br
.B ${bin} help
.RI [ command ]
.SH DESCRIPTION
${bin} reads sysfs (IOMMU groups and units, PCI devices), the firmware's DMAR and IVRS tables and the kernel log, and issues iommufd (/dev/iommu) and VFIO ioctls to create, attach, map and hand over domains and PASIDs.
Every command prints a table for people, or with \\fB\\-\\-json\\fR one JSON record for programs (each has a JSON Schema in the package's schemas/ directory).
Reading commands take \\fB\\-\\-root\\fR \\fIDIR\\fR|\\fISNAPSHOT.tar.gz\\fR to read another host's snapshot instead of this one.
.SH GLOBAL FLAGS
.TP
\\fB\\-\\-json\\fR
Print the command's record, or \\fB{"error": {...}}\\fR on failure, as JSON.
.TP
\\fB\\-\\-root\\fR \\fIPATH\\fR
Read /sys, /proc and /dev under this directory or snapshot .tar.gz instead of the live host (environment: IOMMUCTL_ROOT).
.SH COMMANDS
${visible.map((c) => commandSection(bin, c)).join('\n')}
.SH EXIT STATUS
${exits.join('\n')}
.SH FILES
.TP
.I /etc/iommuctl/host.yaml
The desired state \\fBhost apply\\fR makes real and \\fBhost status\\fR compares with the host (\\fB\\-\\-config\\fR names another).
.TP
.I /run/iommuctl
The journal of changes that \\fBdevices restore\\fR gives back, and the session daemon's socket.
.SH SEE ALSO
.BR lspci (8),
.BR driverctl (8),
.BR mdevctl (8),
.BR virt\\-host\\-validate (1)
`
}
