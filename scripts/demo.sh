#!/bin/sh
# demo.sh — run a demo buzon on 127.0.0.1 (run by `make demo` after the build).
# Creates demo/ in the repository root on first use: a config (IMAP 1143 with
# STARTTLS, IMAPS 1993, no POP3), a self-signed certificate for localhost
# (scripts/mkcert.sh), user demo with password demo in demo/users, and ~20 sample
# messages from tests/fixtures in demo/mail/demo.  Re-running keeps the existing users,
# mail and certificate (the config is rewritten).  Then prints how to connect with
# mutt, Thunderbird and curl, and execs `buzon serve` in the foreground (Ctrl-C or
# SIGTERM stops it).  Run as root, login processes run as nobody and the demo user's
# mail as uid/gid 2000.  Environment: BUZON (binary, default build/buzon),
# DEMO_DIR (default demo), IMAP_PORT (1143), IMAPS_PORT (1993).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
buzon=${BUZON:-$top/build/buzon}
demo=${DEMO_DIR:-$top/demo}
case $demo in /*) ;; *) demo=$top/$demo ;; esac
imap_port=${IMAP_PORT:-1143}
imaps_port=${IMAPS_PORT:-1993}
mail_id=2000

if [ ! -x "$buzon" ]; then
	echo "demo: $buzon not built (run make)" >&2
	exit 1
fi

mkdir -p "$demo/mail" "$demo/run"
chmod 0755 "$demo" "$demo/mail" "$demo/run"
"$top/scripts/mkcert.sh" "$demo/tls" localhost

if [ "$(id -u)" -eq 0 ]; then
	login_user=nobody
	ids="mail_uid = $mail_id
mail_gid = $mail_id"
else
	login_user=$(id -un)
	ids=""
fi

cat >"$demo/buzon.conf" <<EOF
# buzon demo configuration, written by scripts/demo.sh (rewritten on each run).
listen = 127.0.0.1
imap_port = $imap_port
imaps_port = $imaps_port
pop3_port = 0
pop3s_port = 0
ssl_cert = $demo/tls/fullchain.pem
ssl_key = $demo/tls/privkey.pem
passwd_file = $demo/users
mail_location = maildir:$demo/mail/%u
base_dir = $demo/run
login_user = $login_user
auth_allow_cleartext = loopback
$ids
log_level = info
EOF
conf=$demo/buzon.conf

if [ ! -f "$demo/users" ]; then
	: >"$demo/users"
	chmod 0600 "$demo/users"
fi
if ! "$buzon" user list -c "$conf" 2>/dev/null | grep -q '^demo\b'; then
	if [ "$(id -u)" -eq 0 ]; then
		echo demo | "$buzon" user add -c "$conf" -u "$mail_id" -g "$mail_id" demo
	else
		echo demo | "$buzon" user add -c "$conf" demo
	fi
fi

# Fill the demo Maildir once, the way an MDA would: tmp/ then rename into new/ or cur/.
md=$demo/mail/demo
if [ ! -d "$md/cur" ]; then
	mkdir -p "$md.tmp/cur" "$md.tmp/new" "$md.tmp/tmp"
	i=0
	for f in "$top"/tests/fixtures/*.eml; do
		i=$((i + 1))
		name=$(basename "$f" .eml)
		size=$(wc -c <"$f" | tr -d ' ')
		# Named (and dated) by the Date header, so UIDs follow the dates.
		d=$(sed -n 's/^Date: //p' "$f" | head -n 1)
		t=$(date -d "$d" +%s 2>/dev/null || date +%s)
		file="$t.M$(printf %02d $i)P$$.demo,S=$size"
		case $name in
		*.new) dest=new/$file ;;
		*.*) dest="cur/$file:2,${name##*.}" ;;
		*) dest="cur/$file:2," ;;
		esac
		cp "$f" "$md.tmp/tmp/$file"
		# INTERNALDATE comes from the file's mtime.
		touch -d "@$t" "$md.tmp/tmp/$file"
		mv "$md.tmp/tmp/$file" "$md.tmp/$dest"
	done
	chmod -R u=rwX,go= "$md.tmp"
	[ "$(id -u)" -eq 0 ] && chown -R "$mail_id:$mail_id" "$md.tmp"
	mv "$md.tmp" "$md"
fi

# A muttrc that trusts the demo certificate without asking.
cp "$demo/tls/fullchain.pem" "$demo/mutt-certificates"
cat >"$demo/muttrc" <<EOF
set folder = "imaps://demo@localhost:$imaps_port/"
set spoolfile = "+INBOX"
set imap_pass = "demo"
set certificate_file = "$demo/mutt-certificates"
set ssl_force_tls = yes
set record = "+Sent"
set postponed = "+Drafts"
set header_cache = ""
set message_cachedir = ""
set sort = threads
set charset = "utf-8"
EOF

if [ "$(id -u)" -eq 0 ]; then
	# The mail process (uid 2000) must reach $demo/mail/demo.
	p=$demo
	while [ "$p" != / ]; do
		if ! su -s /bin/sh nobody -c "test -x '$p'" 2>/dev/null; then
			echo "demo: warning: $p is not searchable by other users; the mail process (uid $mail_id) cannot reach the Maildir" >&2
			break
		fi
		p=$(dirname "$p")
	done
fi

cat <<EOF

buzon demo: user demo, password demo, $(ls "$md/cur" "$md/new" | grep -c ',S=') messages in $md
  IMAPS (implicit TLS) on 127.0.0.1:$imaps_port, IMAP with STARTTLS on 127.0.0.1:$imap_port
  Certificate: self-signed for localhost / 127.0.0.1 in $demo/tls/fullchain.pem

mutt:
  LANG=C.UTF-8 mutt -n -F $demo/muttrc

curl:
  curl --cacert $demo/tls/fullchain.pem -u demo:demo imaps://localhost:$imaps_port/
  curl --cacert $demo/tls/fullchain.pem -u demo:demo 'imaps://localhost:$imaps_port/INBOX;UID=1'
  curl --ssl-reqd --cacert $demo/tls/fullchain.pem -u demo:demo 'imap://localhost:$imap_port/INBOX;UID=2'

Thunderbird (Account Settings > Add Mail Account > Configure manually):
  Incoming: IMAP, server localhost, port $imaps_port, Connection security SSL/TLS,
            Authentication method Normal password, Username demo, Password demo
            (or port $imap_port with STARTTLS)
  Outgoing: not provided by buzon (use any SMTP server, or none for reading only)
  Thunderbird shows "Add Security Exception" for the self-signed certificate:
  confirm it (the SHA-256 fingerprint is below).
  $(openssl x509 -in "$demo/tls/fullchain.pem" -noout -fingerprint -sha256)

openssl:
  openssl s_client -connect localhost:$imaps_port -CAfile $demo/tls/fullchain.pem -quiet

New mail: drop a file into $md/tmp/ and rename it into $md/new/.
Stop with Ctrl-C.  Logs follow.

EOF
exec "$buzon" serve -c "$conf"
