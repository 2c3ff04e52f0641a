#!/bin/sh
# make_test_ca.sh DIR: a throwaway certificate authority and a server certificate it signed, for
# the loopback SMTP and HTTPS peers of the tests.
#
# Writes DIR/ca.key, DIR/ca.pem (the CA to trust: ca_file), DIR/server.key and DIR/server.pem
# (for 127.0.0.1 and localhost, by subjectAltName, as clients check it). Valid for 30 days, so
# a test never trips over a clock a little off. Needs only the openssl command.
set -eu

dir=${1:?usage: make_test_ca.sh DIR}
mkdir -p "$dir"
cd "$dir"

# P-256 keys: generated in milliseconds, and every TLS library still accepts them.
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout ca.key -out ca.pem -days 30 -subj "/CN=driftwatch test CA $$" \
	-addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign"

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout server.key -out server.csr -subj "/CN=localhost"

cat > server.ext <<'EXT'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
EXT

openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key \
	-set_serial "0x$(openssl rand -hex 8)" -days 30 -extfile server.ext \
	-out server.pem

rm -f server.csr server.ext
chmod 600 ca.key server.key
# the check that matters: the server certificate verifies against this CA
openssl verify -CAfile ca.pem server.pem >/dev/null
