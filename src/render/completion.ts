// Shell completion scripts, written from the commands oclif knows (the manifest): the one list
// of commands, flags and arguments, so a script cannot drift from the tool that prints it.
// `iommuctl completion bash|zsh` prints them, as `kubectl completion` and `gh completion` do.

import type {Command} from '@oclif/core'

/** A command as completion needs it: what oclif loads from the manifest. */
export type CompletionCommand = Pick<Command.Loadable, 'id' | 'hidden' | 'args' | 'flags'>

/**
 * What a value is completed from: a fixed list, files, or what the running host has (PCI
 * addresses, IOMMU groups, IOMMU units), listed when Tab is pressed.
 */
type Source = {list: readonly string[]} | 'files' | 'pci' | 'groups' | 'units' | 'none'

/** Flags whose value is a path (the rest complete nothing unless they list their options). */
const PATH_FLAGS = new Set([
  'root',
  'plan',
  'output',
  'config',
  'socket',
  'journal-dir',
  'dir',
  'data',
  'state-dir',
])

function argSource(id: string, name: string, options?: readonly string[]): Source {
  if (options?.length) return {list: options}
  if (name === 'bdf') return 'pci'
  if (id.startsWith('groups:') && name === 'id') return 'groups'
  if (id === 'units:show' && name === 'name') return 'units'
  if (id === 'apply' || id === 'diff') return 'files'
  return 'none'
}

function flagSource(flag: Command.Flag.Cached): Source {
  if (flag.type === 'option' && flag.options?.length) return {list: flag.options}
  return PATH_FLAGS.has(flag.name) ? 'files' : 'none'
}

const words = (id: string) => id.split(':').join(' ')
/** A shell single-quoted word. Ids and flag names are the tool's own, but quote them anyway. */
const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`

function sourceWord(s: Source): string {
  return typeof s === 'string' ? s : `list:${s.list.join(' ')}`
}

/**
 * The bash script: `_iommuctl` finds the command among the words typed so far (the longest run
 * of words that names a command), then completes a flag's value, a flag, a subcommand or an
 * argument. BDFs, group numbers and unit names come from /sys of the machine the shell is on.
 */
export function bashCompletion(bin: string, commands: readonly CompletionCommand[]): string {
  const visible = commands.filter((c) => !c.hidden).sort((a, b) => a.id.localeCompare(b.id))
  const ids = visible.map((c) => words(c.id))
  const children = new Map<string, Set<string>>()
  for (const id of ids) {
    const parts = id.split(' ')
    for (let i = 0; i < parts.length; i++) {
      const parent = parts.slice(0, i).join(' ')
      if (!children.has(parent)) children.set(parent, new Set())
      children.get(parent)!.add(parts[i]!)
    }
  }
  const known = new Set([...children.keys(), ...ids].filter((k) => k !== ''))
  const sub = [...children].map(([parent, kids]) => `    ${q(parent)}) echo ${q([...kids].join(' '))} ;;`)
  const flagLists = visible.map((c) => {
    const names = Object.values(c.flags).flatMap((f) =>
      f.type === 'boolean' && f.allowNo ? [`--${f.name}`, `--no-${f.name}`] : [`--${f.name}`],
    )
    return `    ${q(words(c.id))}) echo ${q([...names, '--help'].join(' '))} ;;`
  })
  const valued = visible.flatMap((c) =>
    Object.values(c.flags)
      .filter((f) => f.type === 'option')
      .map((f) => {
        const keys = [`${words(c.id)} --${f.name}`, ...(f.char ? [`${words(c.id)} -${f.char}`] : [])]
        return `    ${keys.map(q).join('|')}) echo ${q(sourceWord(flagSource(f)))} ;;`
      }),
  )
  const args = visible.flatMap((c) =>
    Object.values(c.args).map(
      (a, i) =>
        `    ${q(`${words(c.id)} ${i}`)}) echo ${q(sourceWord(argSource(c.id, a.name, a.options)))} ;;`,
    ),
  )
  const fn = `_${bin.replaceAll(/[^A-Za-z0-9_]/g, '_')}`
  return `# bash completion for ${bin}, printed by \`${bin} completion bash\` from its own list of commands.
# Load it for one shell:  source <(${bin} completion bash)
# For every shell:        ${bin} completion bash > /etc/bash_completion.d/${bin}

${fn}_is_command() {
  case $1 in
    ${[...known].map(q).join('|')}) return 0 ;;
  esac
  return 1
}

${fn}_subcommands() {
  case $1 in
${sub.join('\n')}
  esac
}

${fn}_flags() {
  case $1 in
${flagLists.join('\n')}
  esac
}

# A flag's value: nothing printed for a flag that takes none.
${fn}_flag_value() {
  case "$1 $2" in
${valued.join('\n')}
  esac
}

${fn}_argument() {
  case "$1 $2" in
${args.join('\n')}
  esac
}

${fn}_values() {
  local source=$1 cur=$2 IFS=$'\\n'
  case $source in
    pci) COMPREPLY=($(compgen -W "$(ls /sys/bus/pci/devices 2>/dev/null)" -- "$cur")) ;;
    groups) COMPREPLY=($(compgen -W "$(ls /sys/kernel/iommu_groups 2>/dev/null)" -- "$cur")) ;;
    units) COMPREPLY=($(compgen -W "$(ls /sys/class/iommu 2>/dev/null)" -- "$cur")) ;;
    files) COMPREPLY=($(compgen -f -- "$cur")) ;;
    list:*)
      IFS=$' \\t\\n'
      COMPREPLY=($(compgen -W "\${source#list:}" -- "$cur"))
      ;;
    *) COMPREPLY=() ;;
  esac
}

${fn}() {
  local cur=\${COMP_WORDS[COMP_CWORD]} cmd='' w i nargs=0 source
  COMPREPLY=()
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=\${COMP_WORDS[i]}
    [[ $w == -- ]] && return 0
    if [[ $w == -* ]]; then
      source=$(${fn}_flag_value "$cmd" "$w")
      [[ -n $source && $w != *=* ]] && ((i++))
      continue
    fi
    if ((nargs == 0)) && ${fn}_is_command "\${cmd:+$cmd }$w"; then
      cmd=\${cmd:+$cmd }$w
    else
      ((nargs++))
    fi
  done
  if ((COMP_CWORD > 1)); then
    local prev=\${COMP_WORDS[COMP_CWORD - 1]}
    [[ $prev == = ]] && ((COMP_CWORD > 2)) && prev=\${COMP_WORDS[COMP_CWORD - 2]}
    if [[ $prev == -* ]]; then
      source=$(${fn}_flag_value "$cmd" "$prev")
      if [[ -n $source ]]; then
        ${fn}_values "$source" "$cur"
        return 0
      fi
    fi
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(${fn}_flags "$cmd")" -- "$cur"))
    return 0
  fi
  local kids=''
  ((nargs == 0)) && kids=$(${fn}_subcommands "$cmd")
  ${fn}_values "$(${fn}_argument "$cmd" "$nargs")" "$cur"
  [[ -n $kids ]] && COMPREPLY+=($(compgen -W "$kids" -- "$cur"))
  return 0
}

complete -F ${fn} ${bin}
`
}

/**
 * zsh: the same function through zsh's bashcompinit, which gives bash's `complete` and
 * COMP_WORDS to zsh (zshcompsys(1), "bashcompinit"). Source it after compinit.
 */
export function zshCompletion(bin: string, commands: readonly CompletionCommand[]): string {
  return `# zsh completion for ${bin}, printed by \`${bin} completion zsh\`: the bash completion through
# zsh's bashcompinit. In ~/.zshrc, after compinit:  source <(${bin} completion zsh)
autoload -U +X bashcompinit && bashcompinit
${bashCompletion(bin, commands).replace(/^(#.*\n)+\n/, '')}`
}
