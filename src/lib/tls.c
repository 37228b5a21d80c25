/*
 * tls.c — OpenSSL server configuration (see tls.h). Runs in login processes (before
 * the privilege drop) and in `buzon check`. Policy: Mozilla "intermediate" v5 minus DHE.
 */
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <errno.h>
#include <openssl/pem.h>
#include <time.h>

#include "buf.h"
#include "log.h"
#include "tls.h"

#define TLS12_CIPHERS \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

struct tls_server {
	SSL_CTX *ctx[CONFIG_MAX_SSL];
	unsigned count;
	char alpn[16];
};

static char *
tls_error(const char *what, const char *path)
{
	char ebuf[256];
	unsigned long e = ERR_get_error();

	ERR_error_string_n(e, ebuf, sizeof(ebuf));
	ERR_clear_error();
	return xasprintf("%s %s: %s", what, path, e != 0 ? ebuf : "failed");
}

static int
alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
    unsigned inlen, void *arg)
{
	struct tls_server *ts = arg;
	size_t plen = strlen(ts->alpn);

	/* RFC 7301; ALPACA: a client asking for another protocol (http/1.1) is refused */
	for (unsigned i = 0; i < inlen;) {
		unsigned n = in[i];

		if (i + 1 + n > inlen)
			break;
		if (n == plen && memcmp(in + i + 1, ts->alpn, plen) == 0) {
			*out = in + i + 1;
			*outlen = (unsigned char)n;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + n;
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static int
sni_cb(SSL *ssl, int *alert, void *arg)
{
	struct tls_server *ts = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	if (name == NULL || ts->count < 2)
		return SSL_TLSEXT_ERR_OK;
	for (unsigned i = 0; i < ts->count; i++) {
		X509 *cert = SSL_CTX_get0_certificate(ts->ctx[i]);

		if (cert != NULL && X509_check_host(cert, name, 0, 0, NULL) == 1) {
			if (i != 0)
				SSL_set_SSL_CTX(ssl, ts->ctx[i]);
			return SSL_TLSEXT_ERR_OK;
		}
	}
	/* unknown name: the default certificate (docs/security.md, Decisions: SNI) */
	return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *
ctx_create(struct tls_server *ts, const struct config_ssl *s, char **error_r)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL) {
		*error_r = tls_error("SSL_CTX_new", "");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") != 1) {
		*error_r = tls_error("cipher setup", "");
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, s->cert) != 1) {
		*error_r = tls_error("cannot load certificate", s->cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, s->key, SSL_FILETYPE_PEM) != 1) {
		*error_r = tls_error("cannot load key", s->key);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		*error_r = tls_error("key does not match certificate", s->key);
		goto fail;
	}
	SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, ts);
	SSL_CTX_set_tlsext_servername_callback(ctx, sni_cb);
	SSL_CTX_set_tlsext_servername_arg(ctx, ts);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

struct tls_server *
tls_server_create(const struct config *cfg, const char *alpn, char **error_r)
{
	struct tls_server *ts;

	if (cfg->ssl_count == 0) {
		*error_r = xstrdup("no ssl_cert/ssl_key configured");
		return NULL;
	}
	ts = xcalloc(1, sizeof(*ts));
	snprintf(ts->alpn, sizeof(ts->alpn), "%s", alpn);
	for (unsigned i = 0; i < cfg->ssl_count; i++) {
		if ((ts->ctx[i] = ctx_create(ts, &cfg->ssl[i], error_r)) == NULL) {
			tls_server_destroy(&ts);
			return NULL;
		}
		ts->count++;
	}
	return ts;
}

void
tls_server_destroy(struct tls_server **tsp)
{
	struct tls_server *ts = *tsp;

	if (ts == NULL)
		return;
	for (unsigned i = 0; i < ts->count; i++)
		SSL_CTX_free(ts->ctx[i]);
	free(ts);
	*tsp = NULL;
}

SSL *
tls_server_new_ssl(struct tls_server *ts)
{
	SSL *ssl = SSL_new(ts->ctx[0]);

	if (ssl == NULL)
		panic("SSL_new failed");
	return ssl;
}

int
tls_cert_info(const char *path, char **names_r, long long *expires_in_r, char **error_r)
{
	FILE *f = fopen(path, "re");
	X509 *cert;
	GENERAL_NAMES *sans;
	struct buf names;
	int days = 0, secs = 0;
	char cn[256];

	if (f == NULL) {
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (cert == NULL) {
		*error_r = tls_error("cannot parse certificate", path);
		return -1;
	}
	buf_init(&names, 4096);
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn,
	    sizeof(cn)) > 0)
		(void)buf_appendf(&names, "CN=%s", cn);
	sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);

		if (g->type == GEN_DNS) {
			const unsigned char *d = ASN1_STRING_get0_data(g->d.dNSName);
			int n = ASN1_STRING_length(g->d.dNSName);

			(void)buf_appendf(&names, " DNS:%.*s", n, (const char *)d);
		} else if (g->type == GEN_IPADD) {
			(void)buf_append_str(&names, " IP");
		}
	}
	GENERAL_NAMES_free(sans);
	if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(cert)) != 1) {
		X509_free(cert);
		buf_deinit(&names);
		*error_r = xasprintf("%s: bad notAfter", path);
		return -1;
	}
	X509_free(cert);
	*names_r = buf_steal(&names);
	*expires_in_r = (long long)days * 86400 + secs;
	return 0;
}

void
tls_warn_expiry(const struct config *cfg)
{
	for (unsigned i = 0; i < cfg->ssl_count; i++) {
		char *names = NULL, *err = NULL;
		long long left;

		if (tls_cert_info(cfg->ssl[i].cert, &names, &left, &err) < 0) {
			log_warn("tls cert=%s error=\"%s\"", cfg->ssl[i].cert, err);
			free(err);
			continue;
		}
		if (left < 0)
			log_error("tls cert=%s names=\"%s\" EXPIRED %lld days ago", cfg->ssl[i].cert,
			    names, -left / 86400);
		else if (left < 14 * 86400)
			log_warn("tls cert=%s names=\"%s\" expires in %lld days", cfg->ssl[i].cert,
			    names, left / 86400);
		free(names);
	}
}
