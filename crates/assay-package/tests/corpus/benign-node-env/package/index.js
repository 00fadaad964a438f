const production = process.env.NODE_ENV === 'production';
const level = process.env['LOG_LEVEL'] || (production ? 'warn' : 'debug');

module.exports = function log(message) {
  if (level !== 'silent') console.log(message);
};
