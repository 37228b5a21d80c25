/*
 * jmap_create.c — Email/set create (RFC 8621 §4.6): not yet; every creation is
 * answered notCreated (forbidden).
 */
#include "jmap/jmap_local.h"

#include <string.h>

void
jmap_email_create(struct jmap_call *call, struct folders *f, const char *cid, json_t *obj)
{
	json_t *nc = json_object_get(call->result, "notCreated");

	(void)f;
	(void)obj;
	if (!json_is_object(nc)) {
		nc = json_object();
		(void)json_object_set_new(call->result, "notCreated", nc);
	}
	(void)json_object_set_new(nc, cid, json_pack("{s:s, s:s}", "type", "forbidden",
	    "description", "Email creation is not implemented yet"));
}
