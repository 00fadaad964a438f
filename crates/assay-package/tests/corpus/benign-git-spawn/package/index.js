const { spawnSync } = require('child_process');

module.exports = function head(cwd) {
  const r = spawnSync('git', ['rev-parse', 'HEAD'], { cwd, env: process.env, encoding: 'utf8' });
  return r.stdout.trim();
};
