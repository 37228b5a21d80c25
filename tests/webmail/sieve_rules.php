<?php
// sieve_rules.php — the Sieve that Roundcube's managesieve plugin writes, stored in buzon
// over ManageSieve by the plugin's own libraries (Debian's roundcube-plugins and
// php-net-sieve): each rule below, in the plugin's format, is read and written again by
// rcube_sieve_script (so what is stored is what the Filters page would save, with the
// plugin's require list for the server's SIEVE capability) and sent with PUTSCRIPT as a
// script that is not active; then it is deleted.  run.py (kind managesieve) runs it.
//
//   php sieve_rules.php PORT CAFILE USER PASSWORD
//
// Prints "ok: NAME" or "FAIL: NAME: the server's answer" (and the script) per rule.
require_once 'Net/Sieve.php';
require_once '/usr/share/roundcube/program/lib/Roundcube/bootstrap.php';
require_once '/usr/share/roundcube/plugins/managesieve/lib/Roundcube/rcube_sieve_script.php';

[, $port, $ca, $user, $pass] = $argv;
$rules = [
	'header tests' => 'if anyof (header :contains "subject" "a", header :is "from" "b@c", header :matches "to" "*x?", header :regex "subject" "^re: [0-9]+$", not header :contains "cc" "z") { fileinto "Sub"; }',
	'address, envelope' => 'if allof (address :domain :is "from" "example.com", address :localpart :contains "to" "bob", envelope :all :is "from" "x@y", address :user :is "to" "u", address :detail :is "to" "d") { fileinto :copy "Copies"; stop; }',
	'exists, size' => 'if allof (exists "list-id", size :over 100K, size :under 1M, not exists "x-spam") { discard; stop; }',
	'relational' => 'if allof (header :count "ge" :comparator "i;ascii-numeric" "received" "5", header :value "gt" :comparator "i;ascii-numeric" "x-priority" "3") { addflag "\\\\Flagged"; }',
	'body' => 'if body :text :contains "unsubscribe" { setflag "\\\\Seen"; }',
	'date, currentdate' => 'if allof (date :value "ge" :originalzone "date" "date" "2026-01-01", currentdate :zone "+0100" :value "lt" "weekday" "6", date :is "received" "year" "2026") { removeflag "\\\\Seen"; }',
	'index, reject' => 'if header :index 1 :last :contains "received" "evil" { reject "go away"; }',
	'ereject' => 'if header :contains "subject" "spam" { ereject "no"; }',
	'redirect :copy' => 'if true { redirect :copy "other@example.org"; }',
	'vacation' => 'if true { vacation :days 3 :addresses ["me@example.org","me2@example.org"] :from "Me <me@example.org>" :subject "Away" :handle "h1" "Body"; }',
	'vacation :seconds' => 'if true { vacation :seconds 3600 :subject "A" "B"; }',
	'vacation text:' => "if true { vacation :days 1 text:\r\nline 1\r\n..dot line\r\n.\r\n; }",
	'variables' => 'if header :matches "subject" "*" { set :lower :upperfirst "subj" "${1}"; fileinto "${subj}"; }',
	'editheader' => 'if true { addheader :last "X-Filtered" "yes"; deleteheader :index 1 :contains "x-spam" "yes"; }',
	'fileinto :flags' => 'if true { fileinto :flags "\\\\Seen $label1" "F"; }',
	'include' => 'if true { include :personal :optional "other"; }',
	'duplicate' => 'if duplicate :seconds 3600 { discard; }',
	'string' => 'if string :is "${x}" "" { keep; }',
	'disabled rule' => "if false # anyof (header :contains \"subject\" \"a\")\r\n{ fileinto \"X\"; }",
	'UTF-8' => 'if header :contains "subject" "Café ñ 会議" { fileinto "Proyectos ñ"; }',
];
$s = new Net_Sieve();
$r = $s->connect('localhost', (int)$port, ['ssl' => ['verify_peer' => true, 'cafile' => $ca,
	'peer_name' => 'localhost']], true);
if (!PEAR::isError($r))
	$r = $s->login($user, $pass, null, '', false);
if (PEAR::isError($r)) {
	echo "FAIL: connect and login: ", $r->getMessage(), "\n";
	exit(1);
}
$caps = $s->getExtensions();
$failed = 0;
foreach ($rules as $name => $rule) {
	$script = new rcube_sieve_script("# rule:[$name]\r\n$rule\r\n", $caps);
	$text = $script->as_text();
	$r = $s->installScript('rc-rules', $text);
	if (PEAR::isError($r)) {
		$failed++;
		echo "FAIL: $name: ", $r->getMessage(), "\n", $text, "\n";
	} else if (count($script->as_array()) != 1) {
		$failed++;
		echo "FAIL: $name: the plugin did not read the rule back\n", $text, "\n";
	} else {
		echo "ok: $name\n";
	}
}
$r = $s->removeScript('rc-rules');
if (PEAR::isError($r)) {
	$failed++;
	echo "FAIL: DELETESCRIPT: ", $r->getMessage(), "\n";
}
$s->disconnect();
exit($failed ? 1 : 0);
