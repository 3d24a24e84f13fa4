import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['node_modules/**', 'data/**', 'web/dist/**', 'coverage/**', 'packages/*/dist/**', 'packages/client/src/schema.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
      'no-restricted-syntax': [
        'error',
        { selector: "MemberExpression[object.name='process'][property.name='env']", message: 'Read configuration through src/config.ts only.' },
      ],
    },
  },
  { files: ['src/config.ts', 'bench/**', 'src/test/**', 'vitest.config.ts'], rules: { 'no-restricted-syntax': 'off' } },
  { files: ['bin/**'], languageOptions: { globals: { process: 'readonly', console: 'readonly' } } },
  // The admin UI runs in the browser; its config and browser tests run in Node.
  { files: ['web/src/**/*.{ts,tsx}'], languageOptions: { globals: globals.browser } },
  { files: ['web/vite.config.ts', 'web/e2e/**'], languageOptions: { globals: globals.node } },
);
