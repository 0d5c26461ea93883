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
  // The virtual environment and the built labextension hold package.json files
  // that collide with this package's name in Jest's module map.
  modulePathIgnorePatterns: ['<rootDir>/.venv/', '<rootDir>/cardcheck_lab/labextension/'],
  transformIgnorePatterns: [`/node_modules/(?!(${esModules})).+`]
};
