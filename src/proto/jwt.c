/*
 * jwt.c — JWT (JWS compact) validation against a JWK Set (see jwt.h). The token is
 * attacker input: its size is checked first, each part is decoded into a buffer of a
 * size known from the token's length, JSON nesting is bounded before jansson parses,
 * and the algorithm comes from an allow-list that is matched against the key's type,
 * so a token can neither pick "none" nor make a public key an HMAC secret.
 */
#include "proto/jwt.h"

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "lib/base64.h"
#include "lib/util.h"

enum jwk_kind { JWK_RSA, JWK_EC256, JWK_EC384, JWK_ED25519 };

struct jwk {
	enum jwk_kind kind;
	char *kid;		/* NULL when the key has none */
	char *alg;		/* the key's "alg" member, NULL when absent */
	EVP_PKEY *pkey;
};

struct jwks {
	struct jwk keys[JWKS_KEYS_MAX];
	size_t n;
};

/* The allow-list: each algorithm, the key it needs and its digest. */
struct jwt_alg {
	const char *name;
	enum jwk_kind kind;
	const char *md;		/* NULL for EdDSA */
	bool pss;
	size_t ec_len;		/* raw r||s length for ECDSA (RFC 7518 §3.4) */
};

static const struct jwt_alg algs[] = {
	{ "RS256", JWK_RSA, "SHA256", false, 0 },
	{ "RS384", JWK_RSA, "SHA384", false, 0 },
	{ "RS512", JWK_RSA, "SHA512", false, 0 },
	{ "PS256", JWK_RSA, "SHA256", true, 0 },
	{ "PS384", JWK_RSA, "SHA384", true, 0 },
	{ "PS512", JWK_RSA, "SHA512", true, 0 },
	{ "ES256", JWK_EC256, "SHA256", false, 64 },
	{ "ES384", JWK_EC384, "SHA384", false, 96 },
	{ "EdDSA", JWK_ED25519, NULL, false, 0 },
};

static const struct jwt_alg *
alg_find(const char *name)
{
	for (size_t i = 0; i < N_ELEMENTS(algs); i++)
		if (strcmp(algs[i].name, name) == 0)
			return &algs[i];
	return NULL;
}

static int
b64url_value(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '-')
		return 62;
	if (ch == '_')
		return 63;
	return -1;
}

int
jwt_b64url_decode(const char *src, size_t len, unsigned char *dst, size_t dst_size,
    size_t *len_r)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t n = 0;

	*len_r = 0;
	if (len % 4 == 1)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int v = b64url_value((unsigned char)src[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= dst_size)
				return -1;
			dst[n++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0)
		return -1;	/* one spelling per byte string: trailing bits are zero */
	*len_r = n;
	return 0;
}

bool
jwt_json_depth_ok(const char *json, size_t len, unsigned max)
{
	unsigned depth = 0;
	bool in_str = false;

	for (size_t i = 0; i < len; i++) {
		char ch = json[i];

		if (in_str) {
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_str = false;
		} else if (ch == '"') {
			in_str = true;
		} else if (ch == '[' || ch == '{') {
			if (++depth > max)
				return false;
		} else if ((ch == ']' || ch == '}') && depth > 0) {
			depth--;
		}
	}
	return true;
}

/* Parse bounded JSON; NULL when too deep or not JSON (duplicates refused). */
static json_t *
json_parse_bounded(const char *s, size_t len)
{
	json_error_t jerr;

	if (!jwt_json_depth_ok(s, len, JWT_JSON_DEPTH))
		return NULL;
	return json_loadb(s, len, JSON_REJECT_DUPLICATES, &jerr);
}

/* A base64url member of a JWK, decoded into a fresh buffer of at most max bytes. */
static unsigned char *
jwk_member(json_t *k, const char *name, size_t max, size_t *len_r)
{
	json_t *v = json_object_get(k, name);
	const char *s;
	unsigned char *out;
	size_t slen;

	if (!json_is_string(v))
		return NULL;
	s = json_string_value(v);
	slen = json_string_length(v);
	if (slen == 0 || slen > BASE64_ENCODED_LEN(max) + 4)
		return NULL;
	out = xmalloc(slen);
	if (jwt_b64url_decode(s, slen, out, slen, len_r) < 0 || *len_r == 0 || *len_r > max) {
		free(out);
		return NULL;
	}
	return out;
}

static EVP_PKEY *
pkey_fromdata(const char *type, OSSL_PARAM *params)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *pkey = NULL;

	if (ctx == NULL)
		return NULL;
	if (EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

static EVP_PKEY *
jwk_rsa(json_t *k)
{
	size_t nlen = 0, elen = 0;
	unsigned char *n = jwk_member(k, "n", 1024, &nlen);	/* up to 8192 bits */
	unsigned char *e = jwk_member(k, "e", 8, &elen);
	BIGNUM *bn = NULL, *be = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY *pkey = NULL;

	if (n == NULL || e == NULL)
		goto out;
	bn = BN_bin2bn(n, (int)nlen, NULL);
	be = BN_bin2bn(e, (int)elen, NULL);
	if (bn == NULL || be == NULL || BN_num_bits(bn) < 2048 || BN_num_bits(be) < 2)
		goto out;
	bld = OSSL_PARAM_BLD_new();
	if (bld == NULL || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		goto out;
	pkey = pkey_fromdata("RSA", params);
out:
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	free(n);
	free(e);
	return pkey;
}

static EVP_PKEY *
jwk_ec(json_t *k, const char *group, size_t clen)
{
	size_t xlen = 0, ylen = 0;
	unsigned char *x = jwk_member(k, "x", clen, &xlen);
	unsigned char *y = jwk_member(k, "y", clen, &ylen);
	unsigned char pt[1 + 2 * 66];
	OSSL_PARAM params[3];
	EVP_PKEY *pkey = NULL;
	EVP_PKEY_CTX *chk;

	/* RFC 7518 §6.2.1.2: x and y are the full coordinate length */
	if (x != NULL && y != NULL && xlen == clen && ylen == clen) {
		pt[0] = 0x04;	/* uncompressed point (SEC 1) */
		memcpy(pt + 1, x, clen);
		memcpy(pt + 1 + clen, y, clen);
		params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
		    (char *)group, 0);
		params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pt,
		    1 + 2 * clen);
		params[2] = OSSL_PARAM_construct_end();
		pkey = pkey_fromdata("EC", params);
	}
	if (pkey != NULL) {
		/* the point must be on the curve */
		chk = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
		if (chk == NULL || EVP_PKEY_public_check(chk) != 1) {
			EVP_PKEY_free(pkey);
			pkey = NULL;
		}
		EVP_PKEY_CTX_free(chk);
	}
	free(x);
	free(y);
	return pkey;
}

static EVP_PKEY *
jwk_ed25519(json_t *k)
{
	size_t xlen = 0;
	unsigned char *x = jwk_member(k, "x", 32, &xlen);
	EVP_PKEY *pkey = NULL;

	if (x != NULL && xlen == 32)
		pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, x, xlen);
	free(x);
	return pkey;
}

static const char *
json_str(json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);

	return json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v) ?
	    json_string_value(v) : NULL;
}

/* One JWK: 1 added, 0 skipped (a kind we do not verify with), -1 malformed. */
static int
jwk_add(struct jwks *ks, json_t *k)
{
	const char *kty = json_str(k, "kty"), *crv = json_str(k, "crv");
	const char *use = json_str(k, "use"), *alg = json_str(k, "alg");
	const char *kid = json_str(k, "kid");
	struct jwk *j = &ks->keys[ks->n];
	EVP_PKEY *pkey;

	if (!json_is_object(k) || kty == NULL)
		return -1;
	if ((json_object_get(k, "kid") != NULL && kid == NULL) ||
	    (json_object_get(k, "alg") != NULL && alg == NULL))
		return -1;
	if (use != NULL && strcmp(use, "sig") != 0)
		return 0;
	if (alg != NULL && alg_find(alg) == NULL)
		return 0;	/* e.g. an encryption key or an HMAC algorithm */
	if (strcmp(kty, "RSA") == 0) {
		j->kind = JWK_RSA;
		pkey = jwk_rsa(k);
	} else if (strcmp(kty, "EC") == 0 && crv != NULL && strcmp(crv, "P-256") == 0) {
		j->kind = JWK_EC256;
		pkey = jwk_ec(k, "P-256", 32);
	} else if (strcmp(kty, "EC") == 0 && crv != NULL && strcmp(crv, "P-384") == 0) {
		j->kind = JWK_EC384;
		pkey = jwk_ec(k, "P-384", 48);
	} else if (strcmp(kty, "OKP") == 0 && crv != NULL && strcmp(crv, "Ed25519") == 0) {
		j->kind = JWK_ED25519;
		pkey = jwk_ed25519(k);
	} else {
		return 0;	/* "oct" (a shared secret) and other curves are never used */
	}
	if (pkey == NULL)
		return -1;
	if (alg != NULL && alg_find(alg)->kind != j->kind) {
		EVP_PKEY_free(pkey);
		return -1;
	}
	j->pkey = pkey;
	j->kid = kid != NULL ? xstrdup(kid) : NULL;
	j->alg = alg != NULL ? xstrdup(alg) : NULL;
	ks->n++;
	return 1;
}

int
jwks_parse(const char *json, size_t len, struct jwks **out, const char **error_r)
{
	json_t *root, *arr, *k;
	struct jwks *ks;
	size_t i;

	*out = NULL;
	if (len > JWKS_FILE_MAX) {
		*error_r = "key set too large";
		return -1;
	}
	if ((root = json_parse_bounded(json, len)) == NULL) {
		*error_r = "key set is not JSON (or nested too deeply)";
		return -1;
	}
	arr = json_object_get(root, "keys");
	if (!json_is_array(arr)) {
		json_decref(root);
		*error_r = "key set has no \"keys\" array";
		return -1;
	}
	if (json_array_size(arr) > JWKS_KEYS_MAX) {
		json_decref(root);
		*error_r = "key set has too many keys";
		return -1;
	}
	ks = xcalloc(1, sizeof(*ks));
	json_array_foreach(arr, i, k) {
		if (jwk_add(ks, k) < 0) {
			json_decref(root);
			jwks_free(&ks);
			*error_r = "malformed key in the key set";
			return -1;
		}
	}
	json_decref(root);
	*out = ks;
	return 0;
}

void
jwks_free(struct jwks **keys)
{
	struct jwks *ks = *keys;

	if (ks == NULL)
		return;
	for (size_t i = 0; i < ks->n; i++) {
		EVP_PKEY_free(ks->keys[i].pkey);
		free(ks->keys[i].kid);
		free(ks->keys[i].alg);
	}
	free(ks);
	*keys = NULL;
}

size_t
jwks_count(const struct jwks *keys)
{
	return keys != NULL ? keys->n : 0;
}

/* The key for a token's kid (NULL: the only key, when the set has one). */
static const struct jwk *
key_find(const struct jwks *ks, const char *kid, const struct jwt_alg *alg)
{
	const struct jwk *k = NULL;

	if (kid == NULL) {
		if (ks->n != 1)
			return NULL;
		k = &ks->keys[0];
	} else {
		for (size_t i = 0; i < ks->n && k == NULL; i++)
			if (ks->keys[i].kid != NULL && strcmp(ks->keys[i].kid, kid) == 0)
				k = &ks->keys[i];
	}
	if (k == NULL || k->kind != alg->kind ||
	    (k->alg != NULL && strcmp(k->alg, alg->name) != 0))
		return NULL;
	return k;
}

/* RFC 7518 §3.4: the JWS signature is r||s; OpenSSL wants DER. */
static unsigned char *
ecdsa_der(const unsigned char *sig, size_t len, size_t *der_len_r)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, (int)(len / 2), NULL);
	BIGNUM *s = BN_bin2bn(sig + len / 2, (int)(len / 2), NULL);
	unsigned char *der = NULL;
	int n;

	if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(es);
		return NULL;
	}
	n = i2d_ECDSA_SIG(es, &der);
	ECDSA_SIG_free(es);
	if (n <= 0)
		return NULL;
	*der_len_r = (size_t)n;
	return der;
}

static bool
sig_ok(const struct jwk *k, const struct jwt_alg *alg, const char *input, size_t ilen,
    const unsigned char *sig, size_t slen)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char *der = NULL;
	bool ok = false;

	if (md == NULL)
		return false;
	if (alg->ec_len != 0) {
		if (slen != alg->ec_len || (der = ecdsa_der(sig, slen, &slen)) == NULL)
			goto out;
		sig = der;
	}
	if (EVP_DigestVerifyInit_ex(md, &pctx, alg->md, NULL, NULL, k->pkey, NULL) != 1)
		goto out;
	if (alg->pss && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
		goto out;	/* RFC 7518 §3.5: salt as long as the hash, MGF1 with it */
	ok = EVP_DigestVerify(md, sig, slen, (const unsigned char *)input, ilen) == 1;
out:
	OPENSSL_free(der);
	EVP_MD_CTX_free(md);
	return ok;
}

/* A NumericDate claim (RFC 7519 §2): 1 present (*v set), 0 absent, -1 not a number. */
static int
claim_time(json_t *claims, const char *name, int64_t *v)
{
	json_t *j = json_object_get(claims, name);
	double d;

	if (j == NULL)
		return 0;
	if (json_is_integer(j)) {
		*v = (int64_t)json_integer_value(j);
		return 1;
	}
	if (!json_is_real(j))
		return -1;
	d = json_real_value(j);
	if (!(d > -1e15 && d < 1e15))
		return -1;
	*v = (int64_t)d;
	return 1;
}

static bool
aud_ok(json_t *claims, const char *audience)
{
	json_t *aud = json_object_get(claims, "aud"), *v;
	size_t i;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), audience) == 0 &&
		    strlen(audience) == json_string_length(aud);
	if (!json_is_array(aud))
		return false;
	json_array_foreach(aud, i, v)
		if (json_is_string(v) && strlen(audience) == json_string_length(v) &&
		    strcmp(json_string_value(v), audience) == 0)
			return true;
	return false;
}

static int
claims_check(json_t *claims, const struct jwt_policy *p, char *user, const char **error_r)
{
	int64_t exp, nbf, iat, skew = (int64_t)p->skew;
	const char *iss, *name;
	json_t *u;
	int r;

	if (!json_is_object(claims)) {
		*error_r = "claims are not an object";
		return 0;
	}
	if ((r = claim_time(claims, "exp", &exp)) <= 0) {
		*error_r = r == 0 ? "no exp claim" : "bad exp claim";
		return 0;
	}
	if (p->now > exp && p->now - exp > skew) {
		*error_r = "expired";
		return 0;
	}
	if ((r = claim_time(claims, "nbf", &nbf)) < 0 ||
	    (r > 0 && nbf > p->now && nbf - p->now > skew)) {
		*error_r = "not yet valid";
		return 0;
	}
	if ((r = claim_time(claims, "iat", &iat)) < 0 ||
	    (r > 0 && iat > p->now && iat - p->now > skew)) {
		*error_r = "issued in the future";
		return 0;
	}
	iss = json_str(claims, "iss");
	if (iss == NULL || p->issuer == NULL || strcmp(iss, p->issuer) != 0) {
		*error_r = "wrong issuer";
		return 0;
	}
	if (p->audience != NULL && !aud_ok(claims, p->audience)) {
		*error_r = "wrong audience";
		return 0;
	}
	u = json_object_get(claims, p->user_claim);
	name = json_str(claims, p->user_claim);
	if (u == NULL || name == NULL || name[0] == '\0' || strlen(name) > JWT_USER_MAX) {
		*error_r = "no usable user name claim";
		return 0;
	}
	for (const char *s = name; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f) {
			*error_r = "no usable user name claim";
			return 0;
		}
	}
	memcpy(user, name, strlen(name) + 1);
	return 1;
}

/* Decode one base64url part into a fresh buffer (NUL-terminated for JSON). */
static unsigned char *
part_decode(const char *s, size_t len, size_t *out_len)
{
	unsigned char *out = xmalloc(len + 1);

	if (jwt_b64url_decode(s, len, out, len, out_len) < 0) {
		free(out);
		return NULL;
	}
	out[*out_len] = '\0';
	return out;
}

int
jwt_verify(const struct jwks *keys, const struct jwt_policy *p, const char *token,
    size_t len, char *user, const char **error_r)
{
	const char *dot1, *dot2, *alg_name, *kid;
	unsigned char *hdr = NULL, *body = NULL, *sig = NULL;
	size_t hlen, blen, slen;
	json_t *h = NULL, *claims = NULL, *kidv;
	const struct jwt_alg *alg;
	const struct jwk *k;
	int ret = 0;

	user[0] = '\0';
	*error_r = "malformed token";
	if (keys == NULL || len == 0 || len > JWT_TOKEN_MAX || memchr(token, '\0', len) != NULL)
		return 0;
	dot1 = memchr(token, '.', len);
	dot2 = dot1 != NULL ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
	if (dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL)
		return 0;	/* three parts: a JWE (five) or junk is refused */
	hdr = part_decode(token, (size_t)(dot1 - token), &hlen);
	body = part_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &blen);
	sig = part_decode(dot2 + 1, len - (size_t)(dot2 + 1 - token), &slen);
	if (hdr == NULL || body == NULL || sig == NULL)
		goto out;
	if ((h = json_parse_bounded((const char *)hdr, hlen)) == NULL || !json_is_object(h))
		goto out;
	alg_name = json_str(h, "alg");
	if (alg_name == NULL || (alg = alg_find(alg_name)) == NULL) {
		*error_r = "algorithm not allowed";
		goto out;
	}
	if (slen == 0)
		goto out;
	if (json_object_get(h, "crit") != NULL) {
		*error_r = "unsupported critical header";	/* RFC 7515 §4.1.11 */
		goto out;
	}
	kidv = json_object_get(h, "kid");
	kid = json_str(h, "kid");
	if (kidv != NULL && kid == NULL)
		goto out;
	if ((k = key_find(keys, kid, alg)) == NULL) {
		*error_r = "no matching key";
		goto out;
	}
	if (!sig_ok(k, alg, token, (size_t)(dot2 - token), sig, slen)) {
		*error_r = "bad signature";
		goto out;
	}
	/* only a signed claims set is parsed */
	if ((claims = json_parse_bounded((const char *)body, blen)) == NULL) {
		*error_r = "claims are not JSON";
		goto out;
	}
	ret = claims_check(claims, p, user, error_r);
out:
	json_decref(h);
	json_decref(claims);
	free(hdr);
	free(body);
	free(sig);
	if (ret != 1)
		user[0] = '\0';
	return ret;
}
