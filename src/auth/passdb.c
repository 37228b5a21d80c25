/*
 * passdb.c — password verification (see passdb.h). Runs in the auth process, which is
 * the only process that reads password hashes or talks to PAM. Plaintext passwords
 * arrive from the login process, are used once and wiped by the caller.
 */
#include <security/pam_appl.h>

#include "auth/passdb.h"
#include "auth/password.h"
#include "lib/log.h"
#include "lib/util.h"

struct pam_conv_ctx {
	const char *password;
};

static int
pam_conv_fn(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	struct pam_conv_ctx *ctx = data;
	struct pam_response *r;

	if (n <= 0 || n > 16)
		return PAM_CONV_ERR;
	r = xcalloc((size_t)n, sizeof(*r));
	for (int i = 0; i < n; i++) {
		switch (msg[i]->msg_style) {
		case PAM_PROMPT_ECHO_OFF:
		case PAM_PROMPT_ECHO_ON:
			/* PAM frees the responses with free() */
			r[i].resp = strdup(ctx->password);
			if (r[i].resp == NULL)
				goto fail;
			break;
		case PAM_ERROR_MSG:
		case PAM_TEXT_INFO:
			break;
		default:
			goto fail;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
fail:
	for (int i = 0; i < n; i++) {
		if (r[i].resp != NULL) {
			secret_wipe(r[i].resp, strlen(r[i].resp));
			free(r[i].resp);
		}
	}
	free(r);
	return PAM_CONV_ERR;
}

/* Returns 1 ok, 0 fail, -1 tempfail. */
static int
pam_verify(const char *name, const char *password, const char **error_r)
{
	struct pam_conv_ctx ctx = { password };
	struct pam_conv conv = { pam_conv_fn, &ctx };
	pam_handle_t *h = NULL;
	int r;

	r = pam_start("buzon", name, &conv, &h);
	if (r != PAM_SUCCESS) {
		*error_r = "pam_start failed";
		return -1;
	}
	r = pam_authenticate(h, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
	if (r == PAM_SUCCESS)
		r = pam_acct_mgmt(h, PAM_SILENT);
	pam_end(h, r);
	switch (r) {
	case PAM_SUCCESS:
		return 1;
	case PAM_AUTH_ERR:
	case PAM_USER_UNKNOWN:
	case PAM_ACCT_EXPIRED:
	case PAM_NEW_AUTHTOK_REQD:
	case PAM_PERM_DENIED:
	case PAM_MAXTRIES:
		return 0;
	default:
		*error_r = "PAM error";
		return -1;
	}
}

int
passdb_verify(const struct config *cfg, const char *name, const char *password,
    size_t password_len, struct user_info *u, const char **error_r)
{
	struct passwd_entry e;
	int r;

	if (!userdb_name_valid(name, strlen(name)) ||
	    memchr(password, '\0', password_len) != NULL) {
		password_verify_dummy(password, password_len);
		return 0;
	}
	if (cfg->passwd_file != NULL) {
		r = passwd_file_find(cfg->passwd_file, name, &e, error_r);
		if (r < 0)
			return -1;
		if (r > 0) {
			r = password_verify(e.password, password, password_len, error_r);
			passwd_entry_free(&e);
			if (r < 0) {
				/* unknown scheme or malformed hash: fail closed, say why in the log */
				log_error("auth passwd-file user entry unusable: %s", *error_r);
				return 0;
			}
			if (r == 0)
				return 0;
			r = userdb_lookup(cfg, name, u, error_r);
			return r == 0 ? 0 : r;
		}
	}
	if (cfg->system_users) {
		r = userdb_lookup(cfg, name, u, error_r);
		if (r <= 0) {
			if (r == 0)
				password_verify_dummy(password, password_len);
			return r;
		}
		r = pam_verify(name, password, error_r);
		if (r != 1)
			userdb_info_free(u);
		return r;
	}
	password_verify_dummy(password, password_len);
	return 0;
}
