// Babel compiles the ES modules that Jest loads from node_modules.
module.exports = require('@jupyterlab/testing/lib/babel-config');
