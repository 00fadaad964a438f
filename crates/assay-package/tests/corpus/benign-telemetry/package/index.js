const https = require('https');
const { version } = require('./package.json');

function report(event) {
  if (process.env.DO_NOT_TRACK) return;
  const body = JSON.stringify({ event, version });
  const req = https.request('https://telemetry.example.com/v1/events', { method: 'POST' });
  req.end(body);
}

module.exports = { report };
