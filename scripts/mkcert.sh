#!/bin/sh
# mkcert.sh OUTDIR [CN] — make a self-signed ECDSA P-256 certificate for testing and
# demos, laid out like certbot's live/ directory: OUTDIR/fullchain.pem (the certificate)
# and OUTDIR/privkey.pem (the key, mode 0600). subjectAltName covers DNS:CN, and for
# CN=localhost also IP:127.0.0.1 and IP:::1, so clients can verify either name.
# Keeps an existing pair unless it is unreadable or expires within a day.
# Uses only the openssl command line tool (Debian package openssl).
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: $0 OUTDIR [CN]" >&2
	exit 64
fi
out=$1
cn=${2:-localhost}
case $cn in
*[!A-Za-z0-9.-]* | "" | -* | .*)
	echo "mkcert: bad CN '$cn' (letters, digits, '.' and '-' only)" >&2
	exit 64 ;;
esac

cert=$out/fullchain.pem
key=$out/privkey.pem
if [ -s "$cert" ] && [ -s "$key" ] &&
    openssl x509 -in "$cert" -noout -checkend 86400 >/dev/null 2>&1 &&
    openssl pkey -in "$key" -noout >/dev/null 2>&1; then
	exit 0
fi

san="DNS:$cn"
[ "$cn" = localhost ] && san="$san,IP:127.0.0.1,IP:::1"

mkdir -p "$out"
umask 077
tmpkey=$(mktemp "$out/.privkey.XXXXXX")
tmpcert=$(mktemp "$out/.fullchain.XXXXXX")
trap 'rm -f "$tmpkey" "$tmpcert"' EXIT
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -pkeyopt ec_param_enc:named_curve -out "$tmpkey" 2>/dev/null
openssl req -new -x509 -key "$tmpkey" -out "$tmpcert" -days 825 -sha256 \
    -subj "/CN=$cn" \
    -addext "subjectAltName=$san" \
    -addext "basicConstraints=critical,CA:FALSE" \
    -addext "keyUsage=critical,digitalSignature" \
    -addext "extendedKeyUsage=serverAuth" 2>/dev/null
chmod 0600 "$tmpkey"
chmod 0644 "$tmpcert"
mv -f "$tmpkey" "$key"
mv -f "$tmpcert" "$cert"
trap - EXIT
