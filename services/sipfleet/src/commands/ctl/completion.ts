// `sipfleet completion bash|zsh`: a shell completion script generated from the commander tree of
// `sipfleet ctl`, so every group, command, option and argument choice completes and a new one
// needs no edit here. Load it with `source <(sipfleet completion bash)`.
import type { Command, Option } from 'commander';
import { ctlProgram } from './index.js';

/** The words that may follow each command path ('' = after `sipfleet`), and the option kinds. */
interface Tree {
  words: Map<string, string[]>;
  /** Options that take a value: the next word is the value, not a command. */
  valueOptions: Set<string>;
  /** Options whose value is a file: complete file names after them. */
  fileOptions: Set<string>;
}

function flagsOf(option: Option): string[] {
  return [option.short, option.long].filter((f): f is string => f !== undefined);
}

function walk(cmd: Command, path: string, tree: Tree): void {
  const help = cmd.createHelp();
  const options: Option[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) options.push(...help.visibleOptions(c));
  for (const option of options) {
    if (!option.required && !option.optional) continue;
    for (const flag of flagsOf(option)) {
      tree.valueOptions.add(flag);
      if (/<FILE>/.test(option.flags)) tree.fileOptions.add(flag);
    }
  }
  const words = new Set<string>();
  for (const sub of cmd.commands) words.add(sub.name()).add(sub.aliases()[0] ?? sub.name());
  for (const choice of cmd.registeredArguments[0]?.argChoices ?? []) words.add(choice);
  for (const option of options) if (option.long) words.add(option.long);
  tree.words.set(path, [...words]);
  for (const sub of cmd.commands) walk(sub, `${path} ${sub.name()}`, tree);
}

/** Single-quoted for the shell. */
function quote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

/** The bash script: `_sipfleet_words PATH` lists what may follow PATH; `_sipfleet` walks the line. */
export function bashCompletion(commands: readonly string[]): string {
  const tree: Tree = { words: new Map(), valueOptions: new Set(), fileOptions: new Set() };
  walk(ctlProgram(), 'ctl', tree);
  tree.words.set('', [...commands]);
  tree.words.set('completion', ['bash', 'zsh']);
  const cases = [...tree.words]
    .map(([path, words]) => `    ${quote(path)}) echo ${quote(words.join(' '))} ;;`)
    .join('\n');
  return `# sipfleet completion, generated from the command tree by 'sipfleet completion bash'.
# Load it with: source <(sipfleet completion bash)
_sipfleet_words() {
  case "$1" in
${cases}
  esac
}

_sipfleet() {
  local values=${quote(` ${[...tree.valueOptions].join(' ')} `)}
  local files=${quote(` ${[...tree.fileOptions].join(' ')} `)}
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]} path='' word i
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=\${COMP_WORDS[i]}
    if [[ $values == *" $word "* ]]; then
      i=$((i + 1))
    elif [[ $word != -* && " $(_sipfleet_words "$path") " == *" $word "* ]]; then
      path=\${path:+$path }$word
    fi
  done
  COMPREPLY=()
  if [[ $values == *" $prev "* ]]; then
    [[ $files == *" $prev "* ]] && COMPREPLY=($(compgen -f -- "$cur"))
    return 0
  fi
  COMPREPLY=($(compgen -W "$(_sipfleet_words "$path")" -- "$cur"))
}

complete -F _sipfleet sipfleet
`;
}

/** `sipfleet completion bash|zsh`; zsh runs the bash script through its bashcompinit. */
export function runCompletion(argv: readonly string[], commands: readonly string[]): number {
  const [shell, ...rest] = argv;
  if ((shell !== 'bash' && shell !== 'zsh') || rest.length > 0) {
    process.stderr.write(
      'usage: sipfleet completion bash|zsh\n' +
        '  prints a completion script: source <(sipfleet completion bash)\n',
    );
    return 2;
  }
  const zsh = shell === 'zsh' ? 'autoload -U +X bashcompinit && bashcompinit\n' : '';
  process.stdout.write(zsh + bashCompletion(commands));
  return 0;
}
