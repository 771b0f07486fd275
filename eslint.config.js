import js from '@eslint/js'
import tseslint from 'typescript-eslint'

// The layer rules of DESIGN.md ("Layers"), as import restrictions. test/unit/layers.test.ts
// lints a snippet against each one and expects it to fire.
//
// A flat config replaces a rule's options where a later block matches the same file, so every
// block below repeats the restrictions that hold everywhere (restrict() adds them).
const FFI = 'Only src/native/ imports ffi-rs (DESIGN.md: layers).'
const COMMANDS = 'Nothing imports src/commands/: commands are the top layer (DESIGN.md: layers).'
const PRESENTATION =
  'Only src/render/ imports chalk and cli-table3: records hold no colour codes (DESIGN.md: layers).'

/** A relative specifier that reaches one of the named top-level folders of src/. */
const into = (...dirs) => `^\\.\\.?/(?:[^'"]*/)?(?:${dirs.join('|')})(?:/|$)`

/**
 * no-restricted-imports (static imports and exports, type-only too) and no-restricted-syntax
 * (import() of the same names) for one layer.
 */
function restrict({
  ffi = true,
  commands = true,
  presentation = true,
  paths = [],
  patterns = [],
  syntax = [],
}) {
  const allPaths = [...paths]
  const allPatterns = [...patterns]
  if (ffi) allPaths.push({name: 'ffi-rs', message: FFI})
  if (presentation)
    allPaths.push({name: 'chalk', message: PRESENTATION}, {name: 'cli-table3', message: PRESENTATION})
  if (commands) allPatterns.push({regex: into('commands'), message: COMMANDS})
  const dynamic = [
    ...allPaths.map((p) => ({selector: `ImportExpression[source.value='${p.name}']`, message: p.message})),
    ...allPatterns.map((p) => ({
      selector: `ImportExpression[source.value=/${p.regex.replaceAll('/', '\\/')}/]`,
      message: p.message,
    })),
  ]
  return {
    'no-restricted-imports': ['error', {paths: allPaths, patterns: allPatterns}],
    'no-restricted-syntax': ['error', ...dynamic, ...syntax],
  }
}

const SHARED_PROCESS =
  'Unit and fixture test files may share one process (scripts/test-runner.js --test-groups): leave process.env, the working directory and process handlers alone; give a child its own env.'
/** What a test file must not do to the process it may share with other test files. */
const sharedProcess = [
  "AssignmentExpression[left.object.object.name='process'][left.object.property.name='env']",
  "AssignmentExpression[left.object.name='process'][left.property.name='env']",
  "UnaryExpression[operator='delete'][argument.object.object.name='process'][argument.object.property.name='env']",
  "CallExpression[callee.object.name='Object'][callee.property.name='assign'][arguments.0.object.name='process'][arguments.0.property.name='env']",
  "CallExpression[callee.object.name='process'][callee.property.name=/^(chdir|umask|on|once|addListener|prependListener|prependOnceListener)$/]",
].map((selector) => ({selector, message: SHARED_PROCESS}))

export default tseslint.config(
  {ignores: ['dist/', 'node_modules/', 'test/fixtures/']},
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    languageOptions: {globals: {process: 'readonly', console: 'readonly', URL: 'readonly'}},
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_'}],
      // noUncheckedIndexedAccess makes every regex group and array index possibly undefined;
      // `m[1]!` after a successful match says what the code knows.
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    // Everywhere: src/, bin/, bench/, scripts/ and test/. Tests and benches reach the native layer
    // through src/native/, as the commands' model does; the test helpers that print tables
    // (test/helpers) do not colour.
    files: ['**/*.{js,mjs,ts}'],
    rules: restrict({}),
  },
  {
    // The tables and colours themselves.
    files: ['src/render/**'],
    rules: restrict({
      presentation: false,
      patterns: [
        {
          regex: into('sysfs', 'native', 'iommufd', 'vfio', 'configure', 'handoff'),
          message: 'src/render/ renders records: it reads no sysfs and calls no kernel (DESIGN.md: layers).',
        },
      ],
    }),
  },
  {
    // Thin commands: parse flags, call the model, render.
    files: ['src/commands/**'],
    rules: restrict({
      commands: false,
      patterns: [
        {
          regex: into('native'),
          message:
            'Commands never import src/native/ (DESIGN.md: layers): go through src/iommufd/, src/vfio/, src/handoff/ or src/model/.',
        },
      ],
    }),
  },
  {
    // Pure decoders: bytes and register values in, records out.
    files: ['src/decode/**'],
    rules: restrict({
      paths: ['fs', 'node:fs', 'child_process', 'node:child_process', 'net', 'node:net', '@oclif/core'].map(
        (name) => ({
          name,
          message: 'src/decode/ is pure: it decodes what it is given and reads nothing (DESIGN.md: layers).',
        }),
      ),
      patterns: [
        {
          regex: '^\\.\\./(?!records\\.js$)',
          message:
            'src/decode/ is pure: it imports only other decoders and ../records.js (DESIGN.md: layers).',
        },
      ],
    }),
  },
  {
    // Reading a root is read-only: no kernel calls, no changes, no presentation.
    files: ['src/sysfs/**'],
    rules: restrict({
      patterns: [
        {
          regex: into('native', 'iommufd', 'configure', 'session', 'handoff', 'render'),
          message:
            'src/sysfs/ only reads a root: it calls no kernel and renders nothing (DESIGN.md: layers).',
        },
      ],
    }),
  },
  {
    // Test files that scripts/test-runner.js may run several to a process.
    files: ['test/unit/**', 'test/fixture/**'],
    rules: restrict({syntax: sharedProcess}),
  },
  {
    // The native layer itself.
    files: ['src/native/**'],
    rules: restrict({ffi: false}),
  },
  {
    // The floor of the map benchmark is one raw ffi-rs call with no native layer around it
    // (bench/README.md): measuring that is the point of the file.
    files: ['bench/map-guest.ts'],
    rules: restrict({ffi: false}),
  },
)
