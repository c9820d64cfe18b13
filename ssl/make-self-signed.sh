#!/bin/sh
# Make a self-signed certificate and key for tuleap-realtime.
#
#   ssl/make-self-signed.sh CERT_FILE KEY_FILE [NAME [SAN]]
#
# NAME is the certificate's common name (default: localhost); SAN the subject
# alternative names, comma-separated in openssl's form (default: DNS:localhost,
# IP:127.0.0.1,IP:::1). Browsers and PHP's curl check the SAN, not the common name.
# The key is written with mode 0600 and never overwritten: remove it to make a new one.
# For production, use a certificate from your CA instead (see docs/operations.md, "Certificates").
set -eu

if [ $# -lt 2 ] || [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
cert=$1
key=$2
name=${3:-localhost}
san=${4:-DNS:localhost,IP:127.0.0.1,IP:::1}

if ! command -v openssl >/dev/null 2>&1; then
  echo "make-self-signed: openssl is not installed (Debian: apt-get install openssl; RHEL: dnf install openssl)" >&2
  exit 1
fi
if [ -e "$key" ]; then
  echo "make-self-signed: $key exists; remove it to make a new pair" >&2
  exit 1
fi

umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 -days 825 \
  -subj "/CN=${name}" \
  -addext "subjectAltName=${san}" \
  -addext "basicConstraints=critical,CA:FALSE" \
  -addext "keyUsage=critical,digitalSignature" \
  -addext "extendedKeyUsage=serverAuth" \
  -keyout "$key" -out "$cert" 2>/dev/null
chmod 0600 "$key"
chmod 0644 "$cert"
echo "make-self-signed: wrote $cert and $key (CN=${name}, subjectAltName=${san})"
