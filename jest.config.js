const jupyterLabJestConfig = require('@jupyterlab/testing/lib/jest-config');

// ES-module packages that Jest must compile in addition to the ones the
// JupyterLab preset lists.
const extraEsModules = ['@jupyterlab/'];

const baseConfig = jupyterLabJestConfig(__dirname);
const esModules = [...extraEsModules, baseConfig.transformIgnorePatterns[0]
  .replace('/node_modules/(?!', '')
  .replace(').+', '')].join('|');

module.exports = {
  ...baseConfig,
  automock: false,
  collectCoverageFrom: ['src/**/*.{ts,tsx}', '!src/**/*.d.ts', '!src/__tests__/**'],
  coverageReporters: ['lcov', 'text'],
  reporters: ['default'],
  testRegex: 'src/__tests__/.*\\.spec\\.tsx?$',
  transformIgnorePatterns: [`/node_modules/(?!(${esModules})).+`]
};
