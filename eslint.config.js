// Lint rules that keep the layout honest: no promise left unhandled, type-only imports
// marked as such, no import cycles, and no process folder importing another one.
import js from '@eslint/js'
import { defineConfig } from 'eslint/config'
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript'
import { importX } from 'eslint-plugin-import-x'
import tseslint from 'typescript-eslint'

/** Separate processes that meet only over HTTP; what they share lives in api/ or core/. */
const processes = ['master', 'agent', 'apps', 'lb', 'dns']

const nodeGlobals = Object.fromEntries(
  ['process', 'console', 'fetch', 'Buffer', 'URL', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'].map((name) => [name, 'readonly']),
)

export default defineConfig(
  { ignores: ['dist/', 'node_modules/', '.dromos/', 'coverage/', 'web/dist/', 'test-artifacts/'] },
  {
    files: ['**/*.js', '**/*.mjs'],
    extends: [js.configs.recommended],
    languageOptions: { globals: nodeGlobals },
  },
  {
    files: ['**/*.ts', 'web/src/**/*.tsx'],
    extends: [js.configs.recommended, tseslint.configs.base],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts', '.tsx', '.js', '.mjs'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts', '.tsx'] },
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: ['tsconfig.json', 'web/tsconfig.json'], noWarnOnMultipleProjects: true })],
    },
    rules: {
      // TypeScript checks names and redeclarations itself, with the types.
      'no-undef': 'off',
      'no-redeclare': 'off',
      'no-unused-vars': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { prefer: 'type-imports', fixStyle: 'separate-type-imports' }],
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-self-import': 'error',
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: processes.map((p) => ({
            target: `./src/${p}`,
            from: processes.filter((q) => q !== p).map((q) => `./src/${q}`),
            message: 'Process folders meet only over HTTP: move what they share to src/api or src/core.',
          })),
        },
      ],
    },
  },
)
