import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  {ignores: ['dist/', 'node_modules/', 'test/fixtures/']},
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    languageOptions: {globals: {process: 'readonly', console: 'readonly', URL: 'readonly'}},
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_'}],
    },
  },
  {
    // Tests index into arrays they have just asserted on.
    files: ['test/**/*.ts'],
    rules: {'@typescript-eslint/no-non-null-assertion': 'off'},
  },
  {
    // Only src/native may touch ffi-rs (DESIGN.md: layers).
    files: ['src/**/*.ts'],
    ignores: ['src/native/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {paths: [{name: 'ffi-rs', message: 'Only src/native/ imports ffi-rs.'}]},
      ],
    },
  },
)
