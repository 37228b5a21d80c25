/*
 * scram.c — SCRAM message parsing and key arithmetic (see scram.h). The parsers run in
 * the login process on pre-authentication bytes: they read only within the given
 * length, copy into fixed caller storage and never allocate. The key functions run in
 * the auth process (stored keys) and the CLI (creating them); intermediate keys are
 * wiped.
 */
#include "proto/scram.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "lib/base64.h"
#include "lib/buf.h"
#include "lib/util.h"

static const EVP_MD *
md_of(enum scram_hash h)
{
	return h == SCRAM_SHA1 ? EVP_sha1() : EVP_sha256();
}

size_t
scram_hash_len(enum scram_hash h)
{
	return h == SCRAM_SHA1 ? 20 : 32;
}

const char *
scram_mech_name(enum scram_hash h)
{
	return h == SCRAM_SHA1 ? "SCRAM-SHA-1" : "SCRAM-SHA-256";
}

int
scram_mech_parse(const char *name, size_t len, enum scram_hash *hash_r, bool *plus_r)
{
	static const struct {
		const char *name;
		enum scram_hash h;
		bool plus;
	} mechs[] = {
		{ "SCRAM-SHA-1", SCRAM_SHA1, false }, { "SCRAM-SHA-1-PLUS", SCRAM_SHA1, true },
		{ "SCRAM-SHA-256", SCRAM_SHA256, false },
		{ "SCRAM-SHA-256-PLUS", SCRAM_SHA256, true },
	};

	for (size_t i = 0; i < N_ELEMENTS(mechs); i++) {
		if (mem_ieq(name, len, mechs[i].name)) {
			*hash_r = mechs[i].h;
			*plus_r = mechs[i].plus;
			return 1;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ parsing */

/* The end of the attribute value starting at p: the next ',' or end. */
static size_t
value_len(const unsigned char *p, size_t left)
{
	const unsigned char *c = memchr(p, ',', left);

	return c != NULL ? (size_t)(c - p) : left;
}

/* saslname (RFC 5802 §7): "=2C" is ',', "=3D" is '=', no other '=' and no NUL. */
static int
saslname_decode(const unsigned char *p, size_t len, char *out, size_t *len_r)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char ch = p[i];

		if (ch == '\0')
			return -1;
		if (ch == '=') {
			if (len - i < 3)
				return -1;
			if (p[i + 1] == '2' && p[i + 2] == 'C')
				ch = ',';
			else if (p[i + 1] == '3' && p[i + 2] == 'D')
				ch = '=';
			else
				return -1;	/* (RFC 5802 §5.1: nothing else, upper case) */
			i += 2;
		}
		if (o == SCRAM_USER_MAX)
			return -1;
		out[o++] = (char)ch;
	}
	out[o] = '\0';
	*len_r = o;
	return o > 0 ? 0 : -1;
}

/* printable = %x21-2B / %x2D-7E */
static bool
nonce_valid(const unsigned char *p, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (p[i] < 0x21 || p[i] > 0x7e || p[i] == ',')
			return false;
	return true;
}

/* Optional extensions: attr-val *("," attr-val), attr-val = ALPHA "=" value. */
static bool
extensions_valid(const unsigned char *p, size_t len)
{
	size_t pos = 0;

	while (pos < len) {
		size_t n = value_len(p + pos, len - pos);

		if (n < 2 || !((p[pos] | 0x20) >= 'a' && (p[pos] | 0x20) <= 'z') ||
		    p[pos + 1] != '=' || memchr(p + pos, '\0', n) != NULL)
			return false;
		pos += n;
		if (pos == len)
			break;
		if (++pos == len)
			return false;	/* a trailing comma */
	}
	return true;
}

int
scram_parse_client_first(const unsigned char *msg, size_t len,
    struct scram_client_first *out, const char **error_r)
{
	size_t pos = 0, n;

	memset(out, 0, sizeof(*out));
	*error_r = "Invalid SCRAM client-first-message";
	if (len == 0 || len > SCRAM_MSG_MAX)
		return -1;
	/* gs2-cbind-flag */
	n = value_len(msg, len);
	if (n == 1 && msg[0] == 'n') {
		out->cbflag = SCRAM_CB_NONE;
	} else if (n == 1 && msg[0] == 'y') {
		out->cbflag = SCRAM_CB_NOT_OFFERED;
	} else if (n > 2 && n - 2 < sizeof(out->cbname) && msg[0] == 'p' && msg[1] == '=') {
		for (size_t i = 2; i < n; i++) {
			unsigned char ch = msg[i];

			if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			    (ch >= '0' && ch <= '9') || ch == '.' || ch == '-'))
				return -1;
		}
		out->cbflag = SCRAM_CB_USED;
		memcpy(out->cbname, msg + 2, n - 2);
		out->cbname[n - 2] = '\0';
	} else {
		return -1;
	}
	pos = n;
	if (pos == len || msg[pos] != ',')
		return -1;
	pos++;
	/* [ "a=" saslname ] "," */
	n = value_len(msg + pos, len - pos);
	if (n > 0) {
		if (n < 3 || msg[pos] != 'a' || msg[pos + 1] != '=' ||
		    saslname_decode(msg + pos + 2, n - 2, out->authzid, &out->authzid_len) < 0)
			return -1;
	}
	pos += n;
	if (pos == len || msg[pos] != ',')
		return -1;
	pos++;
	out->gs2_len = pos;
	/* client-first-message-bare: [reserved-mext ","] username "," nonce ["," ext] */
	n = value_len(msg + pos, len - pos);
	if (n >= 2 && msg[pos] == 'm' && msg[pos + 1] == '=') {
		*error_r = "Unsupported SCRAM extension";	/* RFC 5802 §5.1: must fail */
		return -1;
	}
	if (n < 3 || msg[pos] != 'n' || msg[pos + 1] != '=' ||
	    saslname_decode(msg + pos + 2, n - 2, out->user, &out->user_len) < 0)
		return -1;
	pos += n;
	if (pos == len || msg[pos] != ',')
		return -1;
	pos++;
	n = value_len(msg + pos, len - pos);
	if (n < 3 || msg[pos] != 'r' || msg[pos + 1] != '=' || n - 2 > SCRAM_NONCE_MAX ||
	    !nonce_valid(msg + pos + 2, n - 2))
		return -1;
	memcpy(out->nonce, msg + pos + 2, n - 2);
	out->nonce[n - 2] = '\0';
	out->nonce_len = n - 2;
	pos += n;
	if (pos < len) {
		pos++;	/* the comma */
		if (pos == len || !extensions_valid(msg + pos, len - pos))
			return -1;
	}
	return 0;
}

int
scram_parse_client_final(const unsigned char *msg, size_t len, size_t hash_len,
    struct scram_client_final *out, const char **error_r)
{
	const unsigned char *comma;
	size_t pos, n, plen;

	memset(out, 0, sizeof(*out));
	*error_r = "Invalid SCRAM client-final-message";
	if (len == 0 || len > SCRAM_MSG_MAX || memchr(msg, '\0', len) != NULL)
		return -1;
	/* the proof is the last attribute: find the last comma */
	comma = NULL;
	for (size_t i = len; i > 0; i--) {
		if (msg[i - 1] == ',') {
			comma = msg + i - 1;
			break;
		}
	}
	if (comma == NULL)
		return -1;
	out->without_proof_len = (size_t)(comma - msg);
	pos = out->without_proof_len + 1;
	plen = len - pos;
	if (plen < 3 || msg[pos] != 'p' || msg[pos + 1] != '=' ||
	    base64_decode((const char *)msg + pos + 2, plen - 2, BASE64_STRICT, out->proof,
	    sizeof(out->proof), &out->proof_len) < 0 || out->proof_len != hash_len)
		return -1;
	/* channel-binding "," nonce ["," extensions] */
	len = out->without_proof_len;
	n = value_len(msg, len);
	if (n < 2 || msg[0] != 'c' || msg[1] != '=' ||
	    base64_decode((const char *)msg + 2, n - 2, BASE64_STRICT, out->cbind,
	    sizeof(out->cbind), &out->cbind_len) < 0)
		return -1;
	pos = n;
	if (pos == len || msg[pos] != ',')
		return -1;
	pos++;
	n = value_len(msg + pos, len - pos);
	if (n < 3 || msg[pos] != 'r' || msg[pos + 1] != '=' || !nonce_valid(msg + pos + 2, n - 2))
		return -1;
	out->nonce_off = pos + 2;
	out->nonce_len = n - 2;
	pos += n;
	if (pos < len) {
		pos++;
		if (pos == len || !extensions_valid(msg + pos, len - pos))
			return -1;
	}
	return 0;
}

int
scram_check_final(const struct scram_client_final *f, const unsigned char *final_msg,
    const unsigned char *gs2, size_t gs2_len, const char *nonce, size_t nonce_len,
    const unsigned char *cb_data, size_t cb_len, const char **error_r)
{
	unsigned char want[SCRAM_GS2_MAX + SCRAM_CBIND_MAX];

	if (f->nonce_len != nonce_len || memcmp(final_msg + f->nonce_off, nonce, nonce_len) != 0) {
		*error_r = "SCRAM nonce mismatch";
		return -1;
	}
	if (gs2_len > SCRAM_GS2_MAX || cb_len > SCRAM_CBIND_MAX) {
		*error_r = "SCRAM channel binding mismatch";
		return -1;
	}
	memcpy(want, gs2, gs2_len);
	if (cb_len > 0)
		memcpy(want + gs2_len, cb_data, cb_len);
	if (!ct_memeq(f->cbind, f->cbind_len, want, gs2_len + cb_len)) {
		*error_r = "SCRAM channel binding mismatch";
		return -1;
	}
	return 0;
}

int
scram_build_server_first(char *out, size_t out_size, const char *nonce, size_t nonce_len,
    const unsigned char *salt, size_t salt_len, uint32_t iter)
{
	struct buf b;
	int n = -1;

	buf_init(&b, out_size);
	if (buf_append(&b, "r=", 2) == 0 && buf_append(&b, nonce, nonce_len) == 0 &&
	    buf_append(&b, ",s=", 3) == 0 && base64_encode(salt, salt_len, &b) == 0 &&
	    buf_appendf(&b, ",i=%u", iter) == 0 && b.len < out_size) {
		memcpy(out, b.data, b.len);
		out[b.len] = '\0';
		n = (int)b.len;
	}
	buf_deinit(&b);
	return n;
}

/* ------------------------------------------------------------------ keys */

static int
hmac(enum scram_hash h, const unsigned char *key, size_t klen, const unsigned char *msg,
    size_t mlen, unsigned char *out)
{
	unsigned int olen = 0;

	if (HMAC(md_of(h), key, (int)klen, msg, mlen, out, &olen) == NULL ||
	    olen != scram_hash_len(h))
		return -1;
	return 0;
}

static int
digest(enum scram_hash h, const unsigned char *msg, size_t len, unsigned char *out)
{
	unsigned int olen = 0;

	return EVP_Digest(msg, len, out, &olen, md_of(h), NULL) == 1 ? 0 : -1;
}

/* SaltedPassword, ClientKey (RFC 5802 §3). */
static int
client_key(enum scram_hash h, const char *password, size_t password_len,
    const unsigned char *salt, size_t salt_len, uint32_t iter, unsigned char *salted,
    unsigned char *ckey)
{
	size_t hl = scram_hash_len(h);

	if (iter == 0 || iter > SCRAM_ITER_MAX || password_len > INT32_MAX ||
	    PKCS5_PBKDF2_HMAC(password, (int)password_len, salt, (int)salt_len, (int)iter,
	    md_of(h), (int)hl, salted) != 1)
		return -1;
	return hmac(h, salted, hl, (const unsigned char *)"Client Key", 10, ckey);
}

int
scram_stored_derive(enum scram_hash h, const char *password, size_t password_len,
    const unsigned char *salt, size_t salt_len, uint32_t iter, struct scram_stored *out)
{
	unsigned char salted[SCRAM_KEY_MAX], ckey[SCRAM_KEY_MAX];
	size_t hl = scram_hash_len(h);
	int r = -1;

	memset(out, 0, sizeof(*out));
	if (salt_len > SCRAM_SALT_MAX)
		return -1;
	out->hash = h;
	out->iter = iter;
	memcpy(out->salt, salt, salt_len);
	out->salt_len = salt_len;
	if (client_key(h, password, password_len, salt, salt_len, iter, salted, ckey) == 0 &&
	    digest(h, ckey, hl, out->stored_key) == 0 &&
	    hmac(h, salted, hl, (const unsigned char *)"Server Key", 10, out->server_key) == 0)
		r = 0;
	secret_wipe(salted, sizeof(salted));
	secret_wipe(ckey, sizeof(ckey));
	return r;
}

static int
b64_field(const char **p, const char *end, unsigned char *out, size_t out_size,
    size_t *len_r)
{
	const char *c = memchr(*p, ',', (size_t)(end - *p));
	const char *e = c != NULL ? c : end;

	if (base64_decode(*p, (size_t)(e - *p), BASE64_STRICT, out, out_size, len_r) < 0)
		return -1;
	*p = c != NULL ? c + 1 : end;
	return 0;
}

int
scram_stored_parse(enum scram_hash h, const char *s, size_t len, struct scram_stored *out)
{
	const char *end = s + len, *c = memchr(s, ',', len);
	unsigned char key[SCRAM_KEY_MAX + 3];
	size_t n;

	memset(out, 0, sizeof(*out));
	out->hash = h;
	if (c == NULL || parse_u32(s, (size_t)(c - s), &out->iter) < 0 || out->iter == 0 ||
	    out->iter > SCRAM_ITER_MAX)
		goto bad;
	s = c + 1;
	if (memchr(s, ',', (size_t)(end - s)) == NULL ||
	    b64_field(&s, end, out->salt, sizeof(out->salt), &out->salt_len) < 0 ||
	    out->salt_len == 0 || s == end)
		goto bad;
	if (memchr(s, ',', (size_t)(end - s)) == NULL ||
	    b64_field(&s, end, key, sizeof(key), &n) < 0 || n != scram_hash_len(h) || s == end)
		goto bad;
	memcpy(out->stored_key, key, n);
	if (memchr(s, ',', (size_t)(end - s)) != NULL ||
	    b64_field(&s, end, key, sizeof(key), &n) < 0 || n != scram_hash_len(h))
		goto bad;
	memcpy(out->server_key, key, n);
	secret_wipe(key, sizeof(key));
	return 0;
bad:
	secret_wipe(key, sizeof(key));
	secret_wipe(out, sizeof(*out));
	return -1;
}

char *
scram_stored_format(const struct scram_stored *st)
{
	struct buf b;
	size_t hl = scram_hash_len(st->hash);
	char *s;

	buf_init(&b, 512);
	(void)buf_appendf(&b, "{%s}%u,", scram_mech_name(st->hash), st->iter);
	(void)base64_encode(st->salt, st->salt_len, &b);
	(void)buf_append(&b, ",", 1);
	(void)base64_encode(st->stored_key, hl, &b);
	(void)buf_append(&b, ",", 1);
	(void)base64_encode(st->server_key, hl, &b);
	s = xstrdup(buf_cstr(&b));
	buf_deinit(&b);
	return s;
}

int
scram_password_matches(const struct scram_stored *st, const char *password,
    size_t password_len)
{
	struct scram_stored d;
	int r;

	if (scram_stored_derive(st->hash, password, password_len, st->salt, st->salt_len,
	    st->iter, &d) < 0)
		return -1;
	r = ct_memeq(d.stored_key, scram_hash_len(st->hash), st->stored_key,
	    scram_hash_len(st->hash)) ? 1 : 0;
	secret_wipe(&d, sizeof(d));
	return r;
}

int
scram_verify_proof(const struct scram_stored *st, const unsigned char *auth_msg,
    size_t auth_msg_len, const unsigned char *proof, size_t proof_len,
    unsigned char *server_sig)
{
	unsigned char csig[SCRAM_KEY_MAX], ckey[SCRAM_KEY_MAX], skey[SCRAM_KEY_MAX];
	size_t hl = scram_hash_len(st->hash);
	int r = -1;

	if (proof_len != hl)
		return -1;
	if (hmac(st->hash, st->stored_key, hl, auth_msg, auth_msg_len, csig) == 0) {
		for (size_t i = 0; i < hl; i++)
			ckey[i] = proof[i] ^ csig[i];
		if (digest(st->hash, ckey, hl, skey) == 0) {
			r = ct_memeq(skey, hl, st->stored_key, hl) ? 1 : 0;
			if (r == 1 && hmac(st->hash, st->server_key, hl, auth_msg, auth_msg_len,
			    server_sig) < 0)
				r = -1;
		}
	}
	secret_wipe(csig, sizeof(csig));
	secret_wipe(ckey, sizeof(ckey));
	secret_wipe(skey, sizeof(skey));
	return r;
}

int
scram_client_proof(enum scram_hash h, const char *password, size_t password_len,
    const unsigned char *salt, size_t salt_len, uint32_t iter, const unsigned char *auth_msg,
    size_t auth_msg_len, unsigned char *proof, unsigned char *server_sig)
{
	unsigned char salted[SCRAM_KEY_MAX], ckey[SCRAM_KEY_MAX], csig[SCRAM_KEY_MAX];
	struct scram_stored st;
	size_t hl = scram_hash_len(h);
	int r = -1;

	if (scram_stored_derive(h, password, password_len, salt, salt_len, iter, &st) == 0 &&
	    client_key(h, password, password_len, salt, salt_len, iter, salted, ckey) == 0 &&
	    hmac(h, st.stored_key, hl, auth_msg, auth_msg_len, csig) == 0 &&
	    hmac(h, st.server_key, hl, auth_msg, auth_msg_len, server_sig) == 0) {
		for (size_t i = 0; i < hl; i++)
			proof[i] = ckey[i] ^ csig[i];
		r = 0;
	}
	secret_wipe(&st, sizeof(st));
	secret_wipe(salted, sizeof(salted));
	secret_wipe(ckey, sizeof(ckey));
	secret_wipe(csig, sizeof(csig));
	return r;
}
