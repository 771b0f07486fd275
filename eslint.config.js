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
      // noUncheckedIndexedAccess makes every regex group and array index possibly undefined;
      // `m[1]!` after a successful match says what the code knows.
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
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
