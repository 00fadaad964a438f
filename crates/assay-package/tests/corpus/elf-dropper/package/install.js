// Inert test fixture for assay's package rules: it imitates a malware technique
// with reserved example hosts and TEST-NET addresses and does nothing when run.
const fs = require('fs');
const { execFile } = require('child_process');
const helper = __dirname + '/bin/.helper';
fs.chmodSync(helper, 0o755);
execFile(helper);
