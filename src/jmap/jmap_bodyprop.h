/*
 * jmap_bodyprop.h — pure decoders for the names a client gives Email/get and Email/parse
 * (RFC 8621 §4.1.3 "header:{name}[:as{form}][:all]" properties) and for the blob ids of
 * body parts ("B" + 16 hex digits of the EMAILID, then "_" and a part number, per level).
 * No I/O, no globals; bounded by the constants below. Exposed for unit tests and fuzzing.
 */
#ifndef BUZON_JMAP_BODYPROP_H
#define BUZON_JMAP_BODYPROP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JMAP_HEADER_NAME_MAX	128	/* octets of the field name in header:{name} */
#define JMAP_PART_DEPTH_MAX	32	/* part numbers in a part's blob id */
#define JMAP_ID_MAX		255	/* RFC 8620 §1.2: an Id is 1..255 octets */

enum jmap_header_form {
	JMAP_FORM_RAW,
	JMAP_FORM_TEXT,
	JMAP_FORM_ADDRESSES,
	JMAP_FORM_GROUPED,
	JMAP_FORM_MESSAGEIDS,
	JMAP_FORM_DATE,
	JMAP_FORM_URLS,
};

struct jmap_header_prop {
	char name[JMAP_HEADER_NAME_MAX + 1];	/* as written (matched case-insensitively) */
	enum jmap_header_form form;
	bool all;
};

/*
 * Parse s[0..len), a property name: "header:" then a field name (printable US-ASCII but
 * ':', 1..JMAP_HEADER_NAME_MAX octets), optionally ":as" + Raw, Text, Addresses,
 * GroupedAddresses, MessageIds, Date or URLs, optionally ":all" (last). Returns 0 and
 * fills *hp, or -1 when it is not such a name or the form is not allowed for the field
 * (§4.1.3: e.g. Subject only as Raw or Text; an unknown field in any form).
 */
int jmap_header_prop_parse(const char *s, size_t len, struct jmap_header_prop *hp);

/*
 * A part's blob id: "B" + 16 lower-case hex digits, then for each level "_" and a decimal
 * part number 1..999999 (no leading zero), 1..JMAP_PART_DEPTH_MAX levels. Returns 0 with
 * the EMAILID in *emailid_r and the numbers in nums[0..*depth_r), or -1.
 */
int jmap_part_blob_parse(const char *s, size_t len, uint64_t *emailid_r,
    uint32_t nums[JMAP_PART_DEPTH_MAX], unsigned int *depth_r);

#endif
